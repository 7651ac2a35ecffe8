"""Where pixels go: fit plans, gravity anchors and the orientation table. Pure arithmetic."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from PIL import Image

Fit = Literal["inside", "cover", "contain", "fill"]
Box = tuple[int, int, int, int]

GRAVITY_ANCHORS: dict[str, tuple[float, float]] = {
    "center": (0.5, 0.5),
    "n": (0.5, 0.0),
    "ne": (1.0, 0.0),
    "e": (1.0, 0.5),
    "se": (1.0, 1.0),
    "s": (0.5, 1.0),
    "sw": (0.0, 1.0),
    "w": (0.0, 0.5),
    "nw": (0.0, 0.0),
}

# EXIF orientation → the transposition that makes the stored pixels upright.
ORIENTATION_TRANSPOSE: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Clockwise rotations of the `rot` parameter.
ROTATE_CLOCKWISE: dict[int, Image.Transpose] = {
    90: Image.Transpose.ROTATE_270,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_90,
}


def swaps_axes(orientation: int) -> bool:
    return orientation in (5, 6, 7, 8)


@dataclass(frozen=True)
class FitPlan:
    """How a `width × height` image becomes the output.

    `scale` is applied to both axes (except `fill`), giving `resized`; `cover` then crops `crop` out of
    it and `contain` pastes it at `offset` on a `canvas`.
    """

    scale_x: float
    scale_y: float
    resized: tuple[int, int]
    crop: Box | None = None
    canvas: tuple[int, int] | None = None
    offset: tuple[int, int] = (0, 0)

    @property
    def output(self) -> tuple[int, int]:
        if self.canvas:
            return self.canvas
        if self.crop:
            return (self.crop[2] - self.crop[0], self.crop[3] - self.crop[1])
        return self.resized

    @property
    def scale(self) -> float:
        return max(self.scale_x, self.scale_y)


def _scaled(length: int, scale: float) -> int:
    return max(1, round(length * scale))


def anchored_offset(space: int, extent: int, anchor: float) -> int:
    """Offset of a window of `extent` inside `space`, centred on `anchor` (0..1) and kept inside."""
    if extent >= space:
        return 0
    return min(max(round(anchor * space - extent / 2), 0), space - extent)


def _unenlarged_box(
    target_width: int, target_height: int, scale: float, at_least: tuple[int, int]
) -> tuple[int, int]:
    """The requested box shrunk by `scale`, so the source fills it at 1:1 instead of being enlarged."""
    return (
        max(at_least[0], math.floor(target_width / scale)),
        max(at_least[1], math.floor(target_height / scale)),
    )


def plan_fit(
    width: int,
    height: int,
    target_width: int | None,
    target_height: int | None,
    fit: Fit,
    enlarge: bool,
    anchor: tuple[float, float] = (0.5, 0.5),
) -> FitPlan:
    """Plan the resize of a `width × height` image to the requested box."""
    if target_width is None and target_height is None:
        return FitPlan(1.0, 1.0, (width, height))
    if target_width is None or target_height is None:
        scale = target_width / width if target_width else (target_height or height) / height
        if scale > 1 and not enlarge:
            scale = 1.0
        return FitPlan(scale, scale, (_scaled(width, scale), _scaled(height, scale)))

    scale_w, scale_h = target_width / width, target_height / height
    if fit == "fill":
        if not enlarge:
            scale_w, scale_h = min(scale_w, 1.0), min(scale_h, 1.0)
        return FitPlan(scale_w, scale_h, (_scaled(width, scale_w), _scaled(height, scale_h)))
    if fit == "inside":
        scale = min(scale_w, scale_h, 1.0 if not enlarge else math.inf)
        return FitPlan(scale, scale, (_scaled(width, scale), _scaled(height, scale)))
    if fit == "cover":
        scale = max(scale_w, scale_h)
        box_w, box_h = target_width, target_height
        if scale > 1 and not enlarge:
            # Keep the requested aspect ratio at the largest size the source holds.
            scale, (box_w, box_h) = 1.0, _unenlarged_box(target_width, target_height, scale, (1, 1))
        resized = (max(_scaled(width, scale), box_w), max(_scaled(height, scale), box_h))
        left = anchored_offset(resized[0], box_w, anchor[0])
        top = anchored_offset(resized[1], box_h, anchor[1])
        return FitPlan(scale, scale, resized, crop=(left, top, left + box_w, top + box_h))
    # contain: fit inside, then pad to the requested box.
    scale = min(scale_w, scale_h)
    box_w, box_h = target_width, target_height
    if scale > 1 and not enlarge:
        scale, (box_w, box_h) = 1.0, _unenlarged_box(target_width, target_height, scale, (width, height))
    resized = (min(_scaled(width, scale), box_w), min(_scaled(height, scale), box_h))
    offset = (
        round((box_w - resized[0]) * anchor[0]),
        round((box_h - resized[1]) * anchor[1]),
    )
    return FitPlan(scale, scale, resized, canvas=(box_w, box_h), offset=offset)
