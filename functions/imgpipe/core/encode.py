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


# How many frames, at most how large, the one palette of an animated GIF is chosen from.
_PALETTE_SAMPLES = 32
_PALETTE_SAMPLE_SIDE = 128


def _animation_palette(frames: list[Image.Image]) -> Image.Image:
    """One median-cut palette for every frame, chosen from a mosaic of frames spread over the animation.

    Median cut on every frame was most of an animated GIF's encode (about 0.6 s per megapixel of a
    photographic frame); mapping a frame onto a fixed palette takes a few ms, and one palette also keeps
    colours from flickering between frames and saves a local colour table per frame.
    """
    step = max(1, len(frames) // _PALETTE_SAMPLES)
    samples = []
    for frame in frames[::step][:_PALETTE_SAMPLES]:
        sample = frame.convert("RGB")
        sample.thumbnail((_PALETTE_SAMPLE_SIDE, _PALETTE_SAMPLE_SIDE), Image.Resampling.BOX)
        samples.append(sample)
    width = max(sample.width for sample in samples)
    mosaic = Image.new("RGB", (width, sum(sample.height for sample in samples)))
    top = 0
    for sample in samples:
        mosaic.paste(sample, (0, top))
        top += sample.height
    alpha = any(frame.mode in ("RGBA", "LA") for frame in frames)
    return mosaic.quantize(255 if alpha else 256, method=Image.Quantize.MEDIANCUT)


def _on_palette(image: Image.Image, palette: Image.Image) -> Image.Image:
    paletted = image.convert("RGB").quantize(palette=palette, dither=Image.Dither.NONE)
    if image.mode in ("RGBA", "LA"):
        # Index 255 is reserved for fully transparent pixels.
        mask = image.convert("RGBA").getchannel("A").point(lambda value: 255 if value < 128 else 0)
        paletted.paste(255, mask=mask)
        paletted.info["transparency"] = 255
    return paletted


def encode_animation(
    frames: list[Image.Image], durations: list[int], loop: int, fmt: OutputFormat, quality: int | None
) -> bytes:
    """Encode an animation (GIF or WebP). Frames are full canvases; the encoder finds the deltas."""
    if fmt == "gif" and any(frame.mode not in ("P", "L") for frame in frames):
        palette = _animation_palette(frames)
        prepared = [_on_palette(frame, palette) for frame in frames]
    else:
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
