"""Pixel modes and colour: every output is 8-bit sRGB, converted with littleCMS where a profile says so."""

from __future__ import annotations

import io
from functools import lru_cache
from typing import cast

import numpy as np
from PIL import Image, ImageCms

_SRGB_NAMES = ("srgb", "iec61966-2.1", "iec 61966-2-1")


@lru_cache(maxsize=1)
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@lru_cache(maxsize=1)
def _lab_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB", 6500))


@lru_cache(maxsize=32)
def _transform(icc: bytes, in_mode: str, out_mode: str) -> ImageCms.ImageCmsTransform:
    # Photos from one camera share a profile; building a transform costs more than applying it to a thumbnail.
    source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    return ImageCms.buildTransform(
        source, _srgb_profile(), in_mode, out_mode, renderingIntent=ImageCms.Intent.PERCEPTUAL
    )


def profile_name(icc: bytes | None) -> str | None:
    """The human description of an ICC profile, or None when absent or unreadable."""
    if not icc:
        return None
    try:
        description = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc)))
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None
    return description.strip() or None


def is_srgb(icc: bytes | None) -> bool:
    name = (profile_name(icc) or "srgb").lower()
    return any(token in name for token in _SRGB_NAMES)


def has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "RGBa", "La", "PA") or (
        image.mode in ("P", "L", "RGB") and "transparency" in image.info
    )


def working_mode(image: Image.Image) -> Image.Image:
    """Bring any decoded mode to one the rest of the pipeline handles: RGB(A), L(A), CMYK or LAB.

    16-bit and float data are scaled to 8 bits; palettes expand, keeping transparency as alpha.
    """
    mode = image.mode
    if mode in ("RGB", "RGBA", "L", "LA", "CMYK", "LAB"):
        if mode in ("RGB", "L") and "transparency" in image.info:
            return image.convert("RGBA")
        return image
    if mode in ("P", "PA"):
        return image.convert("RGBA" if has_alpha(image) else "RGB")
    if mode == "1":
        return image.convert("L")
    if mode.startswith("I;16"):
        # Pillow's I;16 → L conversion clips at 255; keep the top 8 bits instead.
        wide = np.asarray(image, dtype=np.uint16)
        return Image.fromarray((wide >> 8).astype(np.uint8), "L")
    if mode in ("I", "F"):
        # Scale the actual range into 8 bits; a plain convert would clip everything above 255.
        extrema = cast(tuple[float, float], image.getextrema())
        low, high = float(extrema[0]), float(extrema[1])
        span = high - low or 1.0
        return image.point(lambda value: (value - low) * 255.0 / span).convert("L")
    if mode == "YCbCr":
        return image.convert("RGB")
    if mode == "RGBX":
        return image.convert("RGB")
    return image.convert("RGBA")


def _split_alpha(image: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    if image.mode in ("RGBA", "LA"):
        return image.convert(image.mode[:-1]), image.getchannel("A")
    return image, None


def to_srgb(image: Image.Image, icc: bytes | None) -> tuple[Image.Image, str | None]:
    """Convert to 8-bit sRGB. Returns the image and a note of the conversion done (None when none)."""
    if image.mode == "LAB":
        transform = ImageCms.buildTransform(_lab_profile(), _srgb_profile(), "LAB", "RGB")
        return ImageCms.applyTransform(image, transform) or image, "lab→sRGB"
    colour, alpha = _split_alpha(image)
    if icc and not (colour.mode in ("RGB", "L") and is_srgb(icc)):
        try:
            converted = ImageCms.applyTransform(colour, _transform(icc, colour.mode, "RGB"))
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            converted = None  # a broken profile is ignored, never fatal
        if converted is not None:
            if colour.mode == "L":
                converted = converted.convert("L")  # a grey profile maps to neutral sRGB; keep one channel
            note = f"icc:{profile_name(icc) or 'embedded'}→sRGB"
            return _with_alpha(converted, alpha), note
    if colour.mode == "CMYK":
        return _with_alpha(colour.convert("RGB"), alpha), "cmyk→sRGB (no profile)"
    return image, None


def _with_alpha(colour: Image.Image, alpha: Image.Image | None) -> Image.Image:
    if alpha is None:
        return colour
    if colour.mode == "L":
        return Image.merge("LA", (colour, alpha))
    colour = colour.convert("RGB")
    return Image.merge("RGBA", (*colour.split(), alpha))


def drop_opaque_alpha(image: Image.Image) -> Image.Image:
    """Remove an alpha channel that hides nothing (saves bytes and lets `fm=auto` choose JPEG)."""
    if image.mode in ("RGBA", "LA") and image.getchannel("A").getextrema()[0] == 255:
        return image.convert(image.mode[:-1])
    return image


def parse_hex_colour(value: str) -> tuple[int, int, int, int]:
    value = value.lstrip("#")
    if len(value) == 6:
        value += "ff"
    return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16), int(value[6:8], 16))


def flatten(image: Image.Image, background: tuple[int, int, int, int]) -> Image.Image:
    """Composite transparent pixels onto an opaque background colour."""
    if image.mode not in ("RGBA", "LA"):
        return image
    rgba = image.convert("RGBA")
    base = Image.new("RGBA", rgba.size, (*background[:3], 255))
    base.alpha_composite(rgba)
    flat = base.convert("RGB")
    return flat.convert("L") if image.mode == "LA" else flat


def underlay(image: Image.Image, background: tuple[int, int, int, int]) -> Image.Image:
    """Put a possibly translucent background under the image, keeping alpha where `bg` has it."""
    rgba = image.convert("RGBA")
    base = Image.new("RGBA", rgba.size, background)
    base.alpha_composite(rgba)
    return base


def resize(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """One good resample. Alpha is premultiplied first so transparent pixels do not bleed dark fringes."""
    if image.size == size:
        return image
    if image.mode in ("RGBA", "LA"):
        premultiplied = image.convert("RGBa" if image.mode == "RGBA" else "La")
        return premultiplied.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0).convert(image.mode)
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
