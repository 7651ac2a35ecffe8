"""Perceptual measures shared by tests, quality calibration and the benchmark.

SSIM follows Wang et al. (2004): Gaussian window σ=1.5, K1=0.01, K2=0.03, on 8-bit luma (Rec. 601).
ΔE is CIE76 in CIE L*a*b* (D65), which is what "within a small ΔE" in the tests means.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PIL import Image

FloatArray = npt.NDArray[np.float64]

_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2


def _gaussian_kernel(sigma: float = 1.5, radius: int = 5) -> FloatArray:
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-(x**2) / (2 * sigma**2))
    normalised: FloatArray = kernel / kernel.sum()
    return normalised


def _blur(plane: FloatArray, kernel: FloatArray) -> FloatArray:
    # Separable "valid" convolution: border pixels have no full window and are left out, as in the paper.
    windows = np.lib.stride_tricks.sliding_window_view
    rows: FloatArray = windows(plane, kernel.size, axis=1) @ kernel
    return windows(rows, kernel.size, axis=0) @ kernel


def luma(image: Image.Image) -> FloatArray:
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGBA").convert("RGB") if "A" in image.mode else image.convert("RGB")
    return np.asarray(image.convert("L"), dtype=np.float64)


def ssim(a: Image.Image, b: Image.Image) -> float:
    """Mean SSIM of the luma planes of two images of the same size."""
    if a.size != b.size:
        raise ValueError(f"sizes differ: {a.size} vs {b.size}")
    x, y = luma(a), luma(b)
    kernel = _gaussian_kernel()
    if min(x.shape) < kernel.size:
        kernel = _gaussian_kernel(radius=max(0, (min(x.shape) - 1) // 2))
    mu_x, mu_y = _blur(x, kernel), _blur(y, kernel)
    sxx = _blur(x * x, kernel) - mu_x**2
    syy = _blur(y * y, kernel) - mu_y**2
    sxy = _blur(x * y, kernel) - mu_x * mu_y
    num = (2 * mu_x * mu_y + _C1) * (2 * sxy + _C2)
    den = (mu_x**2 + mu_y**2 + _C1) * (sxx + syy + _C2)
    return float(np.mean(num / den))


def srgb_to_lab(rgb: tuple[int, int, int] | FloatArray) -> FloatArray:
    """CIE L*a*b* (D65) of 8-bit sRGB values; accepts one triple or an (..., 3) array."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array(
        [
            [0.4124564, 0.3575761, 0.1804375],
            [0.2126729, 0.7151522, 0.0721750],
            [0.0193339, 0.1191920, 0.9503041],
        ]
    )
    xyz = linear @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1
    )


def delta_e(rgb_a: tuple[int, int, int], rgb_b: tuple[int, int, int]) -> float:
    """CIE76 colour difference between two sRGB colours (about 2.3 is just noticeable)."""
    return float(np.linalg.norm(srgb_to_lab(rgb_a) - srgb_to_lab(rgb_b)))
