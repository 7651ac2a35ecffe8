"""Valid but tricky real files: each one is processed as its manifest `expected` column says."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from imgpipe.core import Rejected, inspect, render
from tests.corpus.conftest import MANIFEST, CorpusFile, corpus_params

pytestmark = pytest.mark.corpus

_METADATA_MARKERS = (b"<?php", b"GPSInfo", b"http://ns.adobe.com/xap/1.0/", b"Exif\x00\x00")


def _may_be_rejected(expected: str) -> set[str]:
    """Reasons the manifest accepts instead of processing (e.g. `process-or-reject:unsupported`)."""
    if "reject" not in expected:
        return set()
    return {"unsupported-format"}


def _output_size(row: CorpusFile, width: int) -> tuple[int, int] | None:
    upright = row.upright_size
    if upright is None:
        return None
    out_w = min(width, upright[0])
    return out_w, max(1, round(upright[1] * out_w / upright[0]))


@pytest.mark.parametrize("row", corpus_params("edge"))
def test_edge_file_is_processed_as_expected(row: CorpusFile) -> None:
    # Given a real, tricky file from another project's test suite
    data = row.file.read_bytes()
    # When it is inspected
    try:
        info = inspect(data, declared_type=row.file.name)
    except Rejected as rejection:
        # Then a rejection is only acceptable where the manifest allows one, with a fitting reason
        assert rejection.reason in _may_be_rejected(row.expected), (row.expected, rejection.as_dict())
        return
    if row.upright_size and "first frame" not in row.expected:
        assert (info.width, info.height) == row.upright_size

    # And every output format renders from it, upright and at the right size
    for fmt in ("jpeg", "webp", "png"):
        rendered = render(data, f"w=160&fm={fmt}&anim=0")
        image = Image.open(io.BytesIO(rendered.data))
        image.load()
        assert image.format.lower() == fmt
        expected_size = _output_size(row, 160)
        if expected_size:
            assert abs(image.width - expected_size[0]) <= 1 and abs(image.height - expected_size[1]) <= 1, (
                fmt,
                image.size,
                expected_size,
            )
        # Outputs carry no metadata from the source: no EXIF, XMP, GPS, nor payloads hidden there
        assert not any(marker in rendered.data for marker in _METADATA_MARKERS), fmt
        assert "icc_profile" not in image.info
        if fmt == "jpeg":
            assert image.mode in ("RGB", "L")
        if "cmyk-to-rgb" in row.expected:
            assert image.mode in ("RGB", "RGBA") and any("sRGB" in op for op in rendered.operations)
        if "flatten-alpha-for-jpeg" in row.expected and fmt == "png" and info.has_alpha:
            assert image.mode in ("RGBA", "LA", "P")
        if "icc-convert" in row.expected or "colorspace-convert" in row.expected:
            assert (
                any("sRGB" in op for op in rendered.operations)
                or (info.colour_profile or "").lower().find("srgb") >= 0
            )


@pytest.mark.parametrize(
    "row",
    [pytest.param(row, id=row.path) for row in MANIFEST if "or animated" in row.expected]
    or corpus_params("edge")[:1],
)
def test_animated_edge_files_stay_animated_within_budget(row: CorpusFile) -> None:
    # Given a real animation (GIF, WebP, APNG) / When rendered to WebP with animation allowed
    rendered = render(row.file.read_bytes(), "w=120&fm=webp")
    # Then every frame is rendered (libwebp may merge identical neighbours, summing their durations)
    assert rendered.animated and rendered.frames == row.frames
    assert 2 <= getattr(Image.open(io.BytesIO(rendered.data)), "n_frames", 1) <= (row.frames or 0)
