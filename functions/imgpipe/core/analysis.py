"""Pixel analysis recorded at ingest: dominant colour, BlurHash, perceptual hash and focal point.

Input is a decoded, upright, 8-bit sRGB image (RGB or RGBA) of any size. Everything works on one
small thumbnail (at most `ANALYSIS_EDGE` pixels on the long side), made once per call; `analyse()`
makes it once for all four measures.

- Dominant colour: the densest colour cluster of the opaque pixels (a coarse RGB histogram finds the
  peak, a few mean-shift steps settle on the mode), never the average colour.
- BlurHash: the woltapp/blurhash encoding — sRGB → linear light, cosine (DCT) components, DC as
  24-bit sRGB, AC quantised against their largest magnitude, base 83 — and its decoder.
- pHash: 32 × 32 luma, 2-D DCT-II, the top-left 8 × 8 coefficients compared with the median of the
  63 AC ones: 64 bits as 16 hex digits. Compare two with `hamming()`.
- Focal point: a saliency estimate (local detail, colourfulness, skin tones, a gentle centre prior);
  the weighted centroid of its strongest region, as x, y in 0..1.

Transparent pixels: the dominant colour ignores pixels under half opacity; the other measures see the
image composited over white (the delivery default under transparent pixels), and the focal point
also gives transparent areas no weight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image
from pydantic import BaseModel, ConfigDict

FloatArray = npt.NDArray[np.float64]
ByteArray = npt.NDArray[np.uint8]

ANALYSIS_EDGE = 256
"""Long side, in pixels, of the thumbnail every measure works on."""

_LUMA = np.array([0.299, 0.587, 0.114])  # Rec. 601, as Pillow's convert("L")
_OPAQUE = 0.5  # pixels at least this opaque count for the dominant colour
_SHIFT_RADIUS = 28.0  # RGB distance that counts as "the same colour" for the dominant colour
_FOCAL_EDGE = 128  # the focal point needs less detail than the thumbnail has

__all__ = [
    "ANALYSIS_EDGE",
    "Analysis",
    "analyse",
    "blurhash",
    "decode_blurhash",
    "dominant_colour",
    "focal_point",
    "hamming",
    "perceptual_hash",
]


class Analysis(BaseModel):
    """What the pixels say about an image, as recorded on the image record."""

    model_config = ConfigDict(frozen=True)

    dominant_colour: str
    blurhash: str
    phash: str
    focal_point: tuple[float, float]


# --- the one shared downscale -------------------------------------------------------------------


@dataclass(frozen=True)
class _Thumb:
    rgb: ByteArray  # (h, w, 3) colours as stored, for the dominant colour
    alpha: FloatArray | None  # (h, w) opacity 0..1, None when the image is opaque
    flat: FloatArray  # (h, w, 3) 0..255, composited over white


def _thumbnail(image: Image.Image, edge: int = ANALYSIS_EDGE) -> _Thumb:
    if image.mode in ("RGBa", "La"):  # premultiplied: back to straight alpha
        image = image.convert(image.mode[:-1] + "A")
    elif image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    width, height = image.size
    if width < 1 or height < 1:
        raise ValueError(f"empty image: {width} × {height}")
    long_side = max(width, height)
    if long_side > edge and image.mode in ("RGBA", "LA") and image.getchannel("A").getextrema()[0] == 255:
        # Opaque after all: shrinking without the alpha premultiplication is about twice as fast.
        image = image.convert(image.mode[:-1])
    if long_side > edge:
        # `reduce` is a cheap integer box filter for the bulk of the shrink (it stops between edge and
        # 2 × edge); the resize does the rest properly. Both premultiply alpha for RGBA/LA.
        factor = long_side // edge
        if factor >= 2:
            image = image.reduce(factor)
        scale = edge / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.BILINEAR)
    if image.mode == "L":
        image = image.convert("RGB")
    elif image.mode == "LA":
        image = image.convert("RGBA")
    pixels = np.asarray(image)
    rgb: ByteArray = np.ascontiguousarray(pixels[..., :3])
    if image.mode == "RGBA" and int(pixels[..., 3].min()) < 255:
        alpha = pixels[..., 3].astype(np.float64) / 255.0
        flat = rgb * alpha[..., None] + 255.0 * (1.0 - alpha[..., None])
        return _Thumb(rgb=rgb, alpha=alpha, flat=flat)
    return _Thumb(rgb=rgb, alpha=None, flat=rgb.astype(np.float64))


def analyse(image: Image.Image) -> Analysis:
    """All four measures from one shared downscale."""
    thumb = _thumbnail(image)
    return Analysis(
        dominant_colour=_dominant_colour(thumb),
        blurhash=_encode_blurhash(thumb.flat, 4, 3),
        phash=_phash(thumb.flat),
        focal_point=_focal_point(thumb),
    )


# --- dominant colour ----------------------------------------------------------------------------


def dominant_colour(image: Image.Image) -> str:
    """The most prominent colour as lowercase `#rrggbb` (white when nothing is opaque)."""
    return _dominant_colour(_thumbnail(image))


def _dominant_colour(thumb: _Thumb) -> str:
    # Every other pixel each way is plenty for a histogram, and keeps true colours (no blending).
    pixels = thumb.rgb[::2, ::2].reshape(-1, 3)
    if thumb.alpha is not None:
        pixels = pixels[thumb.alpha[::2, ::2].reshape(-1) >= _OPAQUE]
    if pixels.shape[0] == 0:
        return "#ffffff"
    # Peak of a 16-level-per-channel histogram, smoothed with a [1, 2, 1] kernel per axis so a cluster
    # that straddles a bin boundary is not split in two.
    bins = (pixels >> 4).astype(np.intp)
    index = (bins[:, 0] << 8) | (bins[:, 1] << 4) | bins[:, 2]
    counts = np.bincount(index, minlength=4096).reshape(16, 16, 16).astype(np.float64)
    for axis in range(3):
        padded = np.pad(counts, [(1, 1) if a == axis else (0, 0) for a in range(3)])
        counts = (
            np.take(padded, range(0, 16), axis=axis)
            + 2 * np.take(padded, range(1, 17), axis=axis)
            + np.take(padded, range(2, 18), axis=axis)
        )
    peak = np.unravel_index(int(np.argmax(counts)), counts.shape)
    # Mean shift from the peak bin's centre: the mean of the pixels near the estimate, repeated,
    # climbs to the densest colour instead of averaging neighbouring clusters together.
    channels = [pixels[:, c].astype(np.float32) for c in range(3)]
    centre = [float(p) * 16 + 7.5 for p in peak]
    for _ in range(5):
        distance2 = sum((channel - value) ** 2 for channel, value in zip(channels, centre, strict=True))
        near = distance2 <= _SHIFT_RADIUS**2
        count = int(np.count_nonzero(near))
        if count == 0:
            break
        moved = [float(channel[near].sum()) / count for channel in channels]
        settled = max(abs(a - b) for a, b in zip(moved, centre, strict=True)) < 0.25
        centre = moved
        if settled:
            break
    red, green, blue = (min(255, max(0, round(v))) for v in centre)
    return f"#{red:02x}{green:02x}{blue:02x}"


# --- BlurHash -----------------------------------------------------------------------------------

_BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"
_BASE83_VALUE = {char: value for value, char in enumerate(_BASE83)}


def _base83(value: int, length: int) -> str:
    return "".join(_BASE83[(value // 83 ** (length - 1 - i)) % 83] for i in range(length))


def _unbase83(text: str) -> int:
    value = 0
    for char in text:
        value = value * 83 + _BASE83_VALUE[char]
    return value


def _srgb_to_linear(values: FloatArray) -> FloatArray:
    v = values / 255.0
    result: FloatArray = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    return result


def _linear_to_srgb(values: FloatArray) -> npt.NDArray[np.int64]:
    v = np.clip(values, 0.0, 1.0)
    encoded = np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)
    return np.floor(encoded * 255 + 0.5).astype(np.int64)


def _sign_pow(values: FloatArray, exponent: float) -> FloatArray:
    result: FloatArray = np.sign(values) * np.abs(values) ** exponent
    return result


def _cosines(count: int, length: int) -> FloatArray:
    """cos(π · k · p / length) for component k and pixel p: shape (count, length)."""
    k = np.arange(count, dtype=np.float64)[:, None]
    p = np.arange(length, dtype=np.float64)[None, :]
    result: FloatArray = np.cos(np.pi * k * p / length)
    return result


def blurhash(image: Image.Image, x_components: int = 4, y_components: int = 3) -> str:
    """The BlurHash of an image (1–9 components each way; 4 × 3 gives 28 characters)."""
    if not (1 <= x_components <= 9 and 1 <= y_components <= 9):
        raise ValueError("BlurHash components must be between 1 and 9")
    return _encode_blurhash(_thumbnail(image).flat, x_components, y_components)


def _encode_blurhash(flat: FloatArray, nx: int, ny: int) -> str:
    height, width, _ = flat.shape
    linear = _srgb_to_linear(flat)
    along_x = _cosines(nx, width)  # (nx, w)
    along_y = _cosines(ny, height)  # (ny, h)
    rows = np.tensordot(along_y, linear, axes=(1, 0))  # (ny, w, 3)
    factors = np.einsum("iw,jwc->jic", along_x, rows) / (width * height)  # (ny, nx, 3)
    factors *= 2.0
    factors[0, 0] /= 2.0  # the DC component is not doubled
    components = factors.reshape(-1, 3)  # row-major: component (i, j) at j * nx + i
    dc, ac = components[0], components[1:]

    parts = [_base83((nx - 1) + (ny - 1) * 9, 1)]
    if len(ac):
        actual_max = float(np.max(np.abs(ac)))
        quantised_max = int(max(0, min(82, math.floor(actual_max * 166 - 0.5))))
        maximum = (quantised_max + 1) / 166
        parts.append(_base83(quantised_max, 1))
    else:
        maximum = 1.0
        parts.append(_base83(0, 1))
    red, green, blue = (int(v) for v in _linear_to_srgb(dc))
    parts.append(_base83((red << 16) + (green << 8) + blue, 4))
    if len(ac):
        quant = np.floor(_sign_pow(ac / maximum, 0.5) * 9 + 9.5)
        quant = np.clip(quant, 0, 18).astype(np.int64)
        for qr, qg, qb in quant:
            parts.append(_base83(int(qr) * 19 * 19 + int(qg) * 19 + int(qb), 2))
    return "".join(parts)


def decode_blurhash(hash: str, width: int, height: int, punch: float = 1.0) -> Image.Image:
    """Render a BlurHash as an RGB image of `width` × `height` (raises ValueError if it is malformed)."""
    if width < 1 or height < 1:
        raise ValueError("width and height must be positive")
    if len(hash) < 6 or any(char not in _BASE83_VALUE for char in hash):
        raise ValueError("not a BlurHash")
    size_flag = _unbase83(hash[0])
    ny, nx = size_flag // 9 + 1, size_flag % 9 + 1
    if len(hash) != 4 + 2 * nx * ny:
        raise ValueError(f"BlurHash of {nx} × {ny} components must be {4 + 2 * nx * ny} characters")
    maximum = (_unbase83(hash[1]) + 1) / 166 * punch
    dc = _unbase83(hash[2:6])
    colours = np.empty((nx * ny, 3), dtype=np.float64)
    colours[0] = _srgb_to_linear(np.array([dc >> 16, (dc >> 8) & 255, dc & 255], dtype=np.float64))
    for n in range(1, nx * ny):
        value = _unbase83(hash[4 + 2 * n : 6 + 2 * n])
        quant = np.array([value // (19 * 19), (value // 19) % 19, value % 19], dtype=np.float64)
        colours[n] = _sign_pow((quant - 9) / 9, 2.0) * maximum
    along_x = _cosines(nx, width)
    along_y = _cosines(ny, height)
    grid = colours.reshape(ny, nx, 3)
    linear = np.einsum("jh,iw,jic->hwc", along_y, along_x, grid)
    return Image.fromarray(_linear_to_srgb(linear).astype(np.uint8), "RGB")


# --- perceptual hash ----------------------------------------------------------------------------


def _dct_matrix(n: int) -> FloatArray:
    """Orthonormal DCT-II: row k is sqrt(2/n) · cos(π (2p + 1) k / 2n), row 0 scaled by 1/√2."""
    k = np.arange(n, dtype=np.float64)[:, None]
    p = np.arange(n, dtype=np.float64)[None, :]
    matrix = np.sqrt(2.0 / n) * np.cos(np.pi * (2 * p + 1) * k / (2 * n))
    matrix[0] /= np.sqrt(2.0)
    result: FloatArray = matrix
    return result


_DCT32 = _dct_matrix(32)


def perceptual_hash(image: Image.Image) -> str:
    """64-bit DCT pHash as 16 lowercase hex digits."""
    return _phash(_thumbnail(image).flat)


def _phash(flat: FloatArray) -> str:
    luma = (flat @ _LUMA).astype(np.float32)
    small = np.asarray(Image.fromarray(luma, "F").resize((32, 32), Image.Resampling.BOX), dtype=np.float64)
    coefficients = _DCT32 @ small @ _DCT32.T
    # Rounded so that float noise around zero (flat areas) cannot flip bits between machines.
    low = np.round(coefficients[:8, :8], 6).reshape(-1)
    median = float(np.median(low[1:]))
    value = 0
    for bit in low > median:
        value = (value << 1) | int(bit)
    return f"{value:016x}"


def hamming(a: str, b: str) -> int:
    """Number of differing bits between two hex hashes of the same length."""
    if len(a) != len(b):
        raise ValueError("hashes differ in length")
    return (int(a, 16) ^ int(b, 16)).bit_count()


# --- focal point --------------------------------------------------------------------------------


def focal_point(image: Image.Image) -> tuple[float, float]:
    """Where the subject probably is, as (x, y) in 0..1; the centre when nothing stands out."""
    return _focal_point(_thumbnail(image))


def _box_blur(plane: FloatArray, radius: int) -> FloatArray:
    """Mean over a (2r + 1)² window, edges extended (symmetric, so symmetric images stay symmetric)."""
    size = 2 * radius + 1
    padded = np.pad(plane, radius, mode="edge")
    summed = np.cumsum(padded, axis=0)
    summed = np.concatenate([np.zeros((1, summed.shape[1])), summed], axis=0)
    rows = (summed[size:] - summed[:-size]) / size
    summed = np.cumsum(rows, axis=1)
    summed = np.concatenate([np.zeros((summed.shape[0], 1)), summed], axis=1)
    result: FloatArray = (summed[:, size:] - summed[:, :-size]) / size
    return result


def _skin(rgb: FloatArray) -> FloatArray:
    """1 where a colour falls in the classic YCbCr skin-tone box (any complexion), else 0."""
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 0.299 * red + 0.587 * green + 0.114 * blue
    cb = 128 - 0.168736 * red - 0.331264 * green + 0.5 * blue
    cr = 128 + 0.5 * red - 0.418688 * green - 0.081312 * blue
    mask = (y > 40) & (cb >= 77) & (cb <= 127) & (cr >= 133) & (cr <= 173)
    return mask.astype(np.float64)


def _halve(plane: FloatArray) -> FloatArray:
    """2 × 2 mean (an odd last row or column is dropped)."""
    h, w = plane.shape[0] // 2 * 2, plane.shape[1] // 2 * 2
    p = plane[:h, :w]
    result: FloatArray = (p[0::2, 0::2] + p[1::2, 0::2] + p[0::2, 1::2] + p[1::2, 1::2]) / 4
    return result


def _focal_point(thumb: _Thumb) -> tuple[float, float]:
    flat, alpha = thumb.flat, thumb.alpha
    while max(flat.shape[:2]) > _FOCAL_EDGE and min(flat.shape[:2]) >= 16:
        flat = _halve(flat)
        alpha = None if alpha is None else _halve(alpha)
    height, width, _ = flat.shape
    if height < 3 or width < 3:
        return (0.5, 0.5)
    radius = max(1, round(max(width, height) / 32))
    red, green, blue = flat[..., 0] / 255.0, flat[..., 1] / 255.0, flat[..., 2] / 255.0
    luma = _LUMA[0] * red + _LUMA[1] * green + _LUMA[2] * blue
    grad_y, grad_x = np.gradient(luma)
    detail = _box_blur(np.hypot(grad_x, grad_y), radius)
    strongest = float(detail.max())
    # Detail is relative (a quiet photo still has a busiest part); colour and skin are absolute.
    detail = detail / strongest if strongest > 1e-4 else np.zeros_like(detail)
    chroma = np.maximum(np.maximum(red, green), blue) - np.minimum(np.minimum(red, green), blue)
    colour = _box_blur(chroma, radius)
    skin = _box_blur(_skin(flat), radius)
    saliency = 0.55 * detail + 0.3 * colour + 0.35 * skin
    if alpha is not None:
        saliency *= alpha
    xs = (np.arange(width, dtype=np.float64) + 0.5) / width
    ys = (np.arange(height, dtype=np.float64) + 0.5) / height
    distance2 = (xs[None, :] - 0.5) ** 2 + (ys[:, None] - 0.5) ** 2
    prior = np.exp(-distance2 / (2 * 0.35**2))
    saliency *= 0.4 + 0.6 * prior  # a corner subject needs about twice the evidence of a central one
    peak = float(saliency.max())
    if peak < 1e-3:
        return (0.5, 0.5)
    threshold = max(0.5 * peak, float(np.percentile(saliency, 90)))
    weights = np.where(saliency >= threshold, saliency, 0.0)
    total = float(weights.sum())
    x = float((weights.sum(axis=0) * xs).sum()) / total
    y = float((weights.sum(axis=1) * ys).sum()) / total
    return (round(min(1.0, max(0.0, x)), 4), round(min(1.0, max(0.0, y)), 4))
