"""A few generated sample images, uploaded on a stack's first start so the gallery is never empty.

Generated, not shipped: a photo-like landscape with camera EXIF, a portrait stored sideways (EXIF
orientation 6), a logo with transparency, a short animation and a WebP. Small on purpose: seeding
should take seconds.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

_EXIF_IFD = 0x8769
_MAKE, _MODEL, _ORIENTATION, _DATETIME_ORIGINAL = 0x010F, 0x0110, 0x0112, 0x9003


@dataclass(frozen=True)
class Sample:
    name: str
    content_type: str
    data: bytes


def _photo(width: int, height: int, seed: int, palette: tuple[float, float, float]) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    sky = np.clip(1.0 - y / (height * 0.62), 0, 1)
    red, green, blue = palette
    base = np.stack(
        [
            60 + 150 * red * sky + 40 * np.sin(x / 83.0) * (1 - sky),
            70 + 110 * green * sky + 60 * np.cos((x + y) / 151.0) * (1 - sky),
            90 + 140 * blue * sky + 30 * np.sin(y / 47.0) * (1 - sky),
        ],
        axis=-1,
    )
    noise = rng.normal(0, 5, size=(height, width, 1))
    image = Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    sun_x, sun_y, radius = int(width * 0.72), int(height * 0.3), max(8, height // 12)
    draw.ellipse((sun_x - radius, sun_y - radius, sun_x + radius, sun_y + radius), fill=(250, 210, 120))
    return image


def _jpeg_with_exif(
    image: Image.Image, *, orientation: int = 1, camera: tuple[str, str] | None = None
) -> bytes:
    exif = Image.Exif()
    if camera is not None:
        exif[_MAKE], exif[_MODEL] = camera
        exif.get_ifd(_EXIF_IFD)[_DATETIME_ORIGINAL] = "2024:06:01 19:42:00"
    if orientation != 1:
        exif[_ORIENTATION] = orientation
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88, exif=exif.tobytes())
    return out.getvalue()


def _logo() -> bytes:
    size = 384
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((24, 24, size - 24, size - 24), fill=(32, 120, 220, 255))
    draw.rectangle((size // 2 - 30, 80, size // 2 + 30, size - 80), fill=(255, 255, 255, 230))
    draw.ellipse((size // 2 - 90, size // 2 - 30, size // 2 + 90, size // 2 + 30), fill=(250, 180, 40, 200))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _animation() -> bytes:
    frames = []
    size = 160
    for index in range(8):
        frame = Image.new("RGB", (size, size), (245, 245, 240))
        draw = ImageDraw.Draw(frame)
        angle = index * math.pi / 4
        x = size / 2 + 50 * math.cos(angle)
        y = size / 2 + 50 * math.sin(angle)
        draw.ellipse((x - 16, y - 16, x + 16, y + 16), fill=(220, 60, 60))
        frames.append(frame.convert("P", palette=Image.Palette.ADAPTIVE))
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=90, loop=0)
    return out.getvalue()


def samples() -> list[Sample]:
    landscape = _photo(960, 640, seed=3, palette=(1.0, 0.55, 0.35))
    upright = _photo(480, 720, seed=5, palette=(0.35, 0.6, 1.0))
    # Stored as a camera held sideways stores it: pixels turned, orientation 6 says how to show them.
    sideways = upright.transpose(Image.Transpose.ROTATE_90)
    meadow = _photo(800, 500, seed=11, palette=(0.5, 0.9, 0.45))
    webp = io.BytesIO()
    meadow.save(webp, "WEBP", quality=85)
    return [
        Sample(
            "harbour-at-dusk.jpg",
            "image/jpeg",
            _jpeg_with_exif(landscape, camera=("Fujifilm", "X-T30")),
        ),
        Sample(
            "portrait-held-sideways.jpg",
            "image/jpeg",
            _jpeg_with_exif(sideways, orientation=6, camera=("Apple", "iPhone 12")),
        ),
        Sample("logo-with-transparency.png", "image/png", _logo()),
        Sample("spinning-dot.gif", "image/gif", _animation()),
        Sample("green-meadow.webp", "image/webp", webp.getvalue()),
    ]
