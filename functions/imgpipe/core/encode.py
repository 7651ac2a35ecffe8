"""Encoders: fresh bytes from pixels only. No source metadata survives; an optional copyright does."""

from __future__ import annotations

import io

from PIL import Image

from imgpipe.core.models import OutputFormat
from imgpipe.core.quality import encoder_options

_PILLOW_NAMES: dict[OutputFormat, str] = {
    "avif": "AVIF",
    "webp": "WEBP",
    "jpeg": "JPEG",
    "png": "PNG",
    "gif": "GIF",
}
_COPYRIGHT_TAG = 0x8298


def _encodable(image: Image.Image, fmt: OutputFormat) -> Image.Image:
    if fmt == "jpeg" and image.mode not in ("RGB", "L"):
        return image.convert("RGB")
    if fmt in ("webp", "avif") and image.mode in ("L", "LA"):
        return image.convert("RGB" if image.mode == "L" else "RGBA")
    if fmt == "gif" and image.mode not in ("P", "L"):
        return _palette(image)
    return image


def _palette(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA"):
        rgba = image.convert("RGBA")
        paletted = rgba.convert("RGB").quantize(255, method=Image.Quantize.MEDIANCUT)
        # Index 255 is reserved for fully transparent pixels.
        mask = rgba.getchannel("A").point(lambda value: 255 if value < 128 else 0)
        paletted.paste(255, mask=mask)
        paletted.info["transparency"] = 255
        return paletted
    return image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)


def _copyright_exif(text: str | None) -> bytes | None:
    if not text:
        return None
    exif = Image.Exif()
    exif[_COPYRIGHT_TAG] = text
    return exif.tobytes()


def encode(
    image: Image.Image,
    fmt: OutputFormat,
    quality: int | None,
    dpr: float = 1.0,
    copyright: str | None = None,
    *,
    progressive: bool = True,
) -> bytes:
    """Encode one frame. The image's `info` (EXIF, XMP, ICC, text chunks) is discarded first.

    `progressive=False` writes a baseline JPEG (for intermediates the server decodes again).
    """
    frame = _encodable(image, fmt)
    transparency = frame.info.get("transparency") if fmt == "gif" else None
    frame.info = {} if transparency is None else {"transparency": transparency}
    options = dict(encoder_options(fmt, quality, dpr=dpr))
    if fmt == "jpeg" and not progressive:
        options["progressive"] = False
    exif = _copyright_exif(copyright)
    if exif and fmt in ("jpeg", "webp", "avif", "png"):
        options["exif"] = exif
    out = io.BytesIO()
    frame.save(out, _PILLOW_NAMES[fmt], **options)
    return out.getvalue()


def encode_animation(
    frames: list[Image.Image], durations: list[int], loop: int, fmt: OutputFormat, quality: int | None
) -> bytes:
    """Encode an animation (GIF or WebP). Frames are full canvases; the encoder finds the deltas."""
    prepared = [_encodable(frame, fmt) for frame in frames]
    for frame in prepared:
        transparency = frame.info.get("transparency") if fmt == "gif" else None
        frame.info = {} if transparency is None else {"transparency": transparency}
    options = dict(encoder_options(fmt, quality))
    out = io.BytesIO()
    extra: dict[str, object] = {"disposal": 2} if fmt == "gif" else {}
    prepared[0].save(
        out,
        _PILLOW_NAMES[fmt],
        save_all=True,
        append_images=prepared[1:],
        duration=durations,
        loop=loop,
        **extra,
        **options,
    )
    return out.getvalue()
