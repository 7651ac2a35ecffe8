"""Fit plans: output sizes for every fit mode, with and without enlargement."""

from __future__ import annotations

import pytest

from imgpipe.core.geometry import anchored_offset, plan_fit


@pytest.mark.parametrize(
    ("source", "target", "fit", "up", "output"),
    [
        ((4000, 3000), (800, None), "inside", False, (800, 600)),
        ((4000, 3000), (None, 300), "inside", False, (400, 300)),
        ((4000, 3000), (800, 800), "inside", False, (800, 600)),
        ((3000, 4000), (800, 800), "inside", False, (600, 800)),
        ((400, 300), (800, None), "inside", False, (400, 300)),
        ((400, 300), (800, None), "inside", True, (800, 600)),
        ((4000, 3000), (200, 200), "cover", False, (200, 200)),
        ((100, 50), (200, 200), "cover", False, (50, 50)),
        ((100, 50), (200, 200), "cover", True, (200, 200)),
        ((4000, 3000), (200, 200), "contain", False, (200, 200)),
        ((4000, 3000), (200, 100), "fill", False, (200, 100)),
        ((100, 100), (200, 50), "fill", False, (100, 50)),
        ((4000, 3000), (None, None), "inside", False, (4000, 3000)),
    ],
)
def test_plan_output_size(
    source: tuple[int, int],
    target: tuple[int | None, int | None],
    fit: str,
    up: bool,
    output: tuple[int, int],
) -> None:
    # Given a source and a requested box / When planned / Then the output has the expected size
    plan = plan_fit(source[0], source[1], target[0], target[1], fit, up)  # type: ignore[arg-type]
    assert plan.output == output


def test_cover_crops_at_the_anchor() -> None:
    # Given a wide source covered into a square, anchored left, centre and right
    left = plan_fit(4000, 2000, 100, 100, "cover", False, (0.0, 0.5))
    centre = plan_fit(4000, 2000, 100, 100, "cover", False, (0.5, 0.5))
    right = plan_fit(4000, 2000, 100, 100, "cover", False, (1.0, 0.5))
    # Then the crop window slides across the resized 200 × 100 image
    assert left.crop == (0, 0, 100, 100)
    assert centre.crop == (50, 0, 150, 100)
    assert right.crop == (100, 0, 200, 100)


def test_contain_pads_at_the_anchor() -> None:
    plan = plan_fit(4000, 2000, 100, 100, "contain", False, (0.5, 1.0))
    assert plan.resized == (100, 50) and plan.canvas == (100, 100) and plan.offset == (0, 50)


@pytest.mark.parametrize(
    ("space", "extent", "anchor", "offset"),
    [(200, 100, 0.5, 50), (200, 100, 0.0, 0), (200, 100, 1.0, 100), (200, 100, 0.9, 100), (100, 100, 0.3, 0)],
)
def test_anchored_offset_stays_inside(space: int, extent: int, anchor: float, offset: int) -> None:
    assert anchored_offset(space, extent, anchor) == offset
