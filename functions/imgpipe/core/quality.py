"""One quality scale for every output format.

`q` (1-100) asks for a perceptual target, not an encoder setting: the luma SSIM that libjpeg-turbo JPEG at
quality `q` with 4:2:0 chroma gives on the same image. JPEG therefore uses `q` itself; WebP and AVIF use
the native quality that reaches the same corpus-mean SSIM, interpolated piecewise-linearly between the
calibrated anchors and held at the end anchors outside them. Effort settings (WebP `method`, AVIF
`speed`), JPEG entropy coding and chroma subsampling, and the PNG compression level were chosen on
encode time x bytes at matched SSIM.

Every number below comes from `bench/calibrate_quality.py` (22 camera JPEGs of the corpus at 800 px);
the tables, the trade-offs and the reasoning are in `bench/results/quality_calibration.md`, the raw
measurements in `bench/results/quality_calibration.json`. Re-run the script and paste the constants from
the last section of the md file when an encoder library changes.

Pure: no IO, no environment.
"""

from __future__ import annotations

import itertools
import math
from typing import Final, Literal

Format = Literal["jpeg", "webp", "avif", "png", "gif"]

DEFAULT_QUALITY: int = 80
MIN_QUALITY: Final = 1
MAX_QUALITY: Final = 100

# --- calibrated (bench/calibrate_quality.py -> bench/results/quality_calibration.md) ----------------
# JPEG quality anchors and, per anchor, the native quality of each format reaching JPEG's mean SSIM.
ANCHORS: Final[tuple[int, ...]] = (30, 40, 50, 60, 70, 75, 80, 85, 90, 95, 100)
WEBP_QUALITY: Final[tuple[int, ...]] = (28, 42, 54, 66, 77, 80, 83, 87, 91, 97, 100)  # 100: WebP tops out
AVIF_QUALITY: Final[tuple[int, ...]] = (41, 45, 49, 53, 58, 62, 66, 71, 80, 89, 100)
WEBP_METHOD: Final = 2  # vs 0: -12 % bytes for +8 ms on a ~71 ms render; 4: -18 % for +34 ms (at q=80)
AVIF_SPEED: Final = 9  # speed 8: -9 % bytes for 3.8x encode time; 6 (Pillow's default): -17 % for 11x
AVIF_MAX_THREADS: Final = 2  # a Lambda function with >= 1769 MB has 2 vCPUs; so had the calibration box
JPEG_PROGRESSIVE: Final = True  # -7 % bytes for +6 ms on a ~71 ms render (a tie), and it paints early
JPEG_OPTIMIZE: Final = True  # -3.6 % bytes for +1.7 ms
JPEG_444_FROM: Final = 85  # chroma 4:4:4 from this (effective) q up (+24 % bytes), 4:2:0 below
PNG_COMPRESS_LEVEL: Final = 1  # level 2 ties (score 0.45 vs 0.44); zlib's default 6 is 2.3x worse

# --- dpr: high-density screens hide artefacts ---------------------------------------------------------
# q is lowered by DPR_DROP points, linear in dpr between the points below and held beyond them, but never
# below DPR_FLOOR (a q already under the floor is left alone). See "dpr" in the calibration report.
DPR_DROP: Final[tuple[tuple[float, float], ...]] = ((1.0, 0.0), (2.0, 10.0), (3.0, 15.0))
DPR_FLOOR: Final = 30

_CURVES: Final[dict[str, tuple[tuple[float, float], ...]]] = {
    fmt: tuple((float(q), float(native)) for q, native in zip(ANCHORS, table, strict=True))
    for fmt, table in (("webp", WEBP_QUALITY), ("avif", AVIF_QUALITY))
}


def _clamp(q: int) -> int:
    return min(MAX_QUALITY, max(MIN_QUALITY, q))


def _piecewise(points: tuple[tuple[float, float], ...], x: float) -> float:
    """Linear between consecutive (x, y) points, held at the first and last y outside them."""
    if x <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return points[-1][1]


def effective_quality(q: int | None, dpr: float = 1.0) -> int:
    """The q actually encoded: the default when absent, clamped to 1-100, lowered on dense screens."""
    value = _clamp(DEFAULT_QUALITY if q is None else q)
    if value <= DPR_FLOOR or not math.isfinite(dpr):
        return value
    drop = math.floor(_piecewise(DPR_DROP, dpr) + 1e-9)
    return max(DPR_FLOOR, value - drop)


def native_quality(fmt: Literal["jpeg", "webp", "avif"], q: int) -> int:
    """The encoder's own quality setting for an (effective) q, rounded half up to an integer."""
    q = _clamp(q)
    if fmt == "jpeg":
        return q
    return math.floor(_piecewise(_CURVES[fmt], q) + 0.5)


def encoder_options(fmt: Format, q: int | None, *, dpr: float = 1.0) -> dict[str, object]:
    """Keyword arguments for `PIL.Image.Image.save` that encode `fmt` at quality `q` for this dpr."""
    if fmt == "png":
        return {"compress_level": PNG_COMPRESS_LEVEL}
    if fmt == "gif":
        return {}
    effective = effective_quality(q, dpr)
    native = native_quality(fmt, effective)
    if fmt == "jpeg":
        return {
            "quality": native,
            "subsampling": "4:4:4" if effective >= JPEG_444_FROM else "4:2:0",
            "progressive": JPEG_PROGRESSIVE,
            "optimize": JPEG_OPTIMIZE,
        }
    if fmt == "webp":
        return {"quality": native, "method": WEBP_METHOD}
    return {"quality": native, "speed": AVIF_SPEED, "max_threads": AVIF_MAX_THREADS}
