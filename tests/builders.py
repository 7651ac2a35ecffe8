"""Builders for generated fixtures: test cards, oriented JPEGs, ICC profiles, hostile bytes."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from imgpipe.core.geometry import ORIENTATION_TRANSPOSE

RED = (230, 20, 20)
BLUE = (20, 40, 230)
GREEN = (20, 200, 40)
YELLOW = (240, 220, 20)


def colour_card(width: int = 400, height: int = 300) -> Image.Image:
    """Red left half, blue right half, a green band on top and a yellow one at the bottom."""
    card = Image.new("RGB", (width, height), RED)
    draw = ImageDraw.Draw(card)
    draw.rectangle((width // 2, 0, width, height), fill=BLUE)
    draw.rectangle((0, 0, width, height // 8), fill=GREEN)
    draw.rectangle((0, height - height // 8, width, height), fill=YELLOW)
    return card


def photo_like(width: int = 1200, height: int = 800, seed: int = 7) -> Image.Image:
    """Smooth gradients with texture: compresses and resamples like a photograph, not like flat art."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    base = np.stack(
        [
            128 + 90 * np.sin(x / 97.0) * np.cos(y / 131.0),
            128 + 80 * np.cos((x + y) / 173.0),
            128 + 70 * np.sin(y / 59.0),
        ],
        axis=-1,
    )
    noise = rng.normal(0, 6, size=(height, width, 1))
    pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def colour_at(image: Image.Image, fx: float, fy: float) -> tuple[int, ...]:
    """The RGB colour at a relative position (0..1) of the image."""
    rgb = image.convert("RGB")
    x = min(rgb.width - 1, int(fx * rgb.width))
    y = min(rgb.height - 1, int(fy * rgb.height))
    value = rgb.getpixel((x, y))
    assert isinstance(value, tuple)
    return value


def encode(image: Image.Image, fmt: str = "JPEG", **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


_INVERSE_OF = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def oriented(upright: Image.Image, orientation: int, fmt: str = "JPEG", **options: object) -> bytes:
    """Store `upright` the way a camera would with this EXIF orientation (pixels turned, tag set)."""
    stored = upright.transpose(_INVERSE_OF[orientation]) if orientation in _INVERSE_OF else upright
    assert (
        orientation == 1
        or stored.transpose(ORIENTATION_TRANSPOSE[orientation]).tobytes() == upright.tobytes()
    )
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(stored, fmt, exif=exif.tobytes(), **options)


def with_gps(image: Image.Image) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "TestMaker"
    exif[0x0110] = "TestMaker Model 1"
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (52.0, 31.0, 12.0)
    gps[3] = "E"
    gps[4] = (13.0, 24.0, 36.0)
    return encode(image, "JPEG", exif=exif.tobytes(), quality=90)


# --- ICC matrix/TRC profiles, so colour-management tests need no profile files -----------------

_D50 = np.array([0.9642, 1.0, 0.8249])
_BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])

PRIMARIES = {
    "display-p3": ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)),
    "adobe-rgb": ((0.640, 0.330), (0.210, 0.710), (0.150, 0.060)),
    "srgb": ((0.640, 0.330), (0.300, 0.600), (0.150, 0.060)),
}
_D65_XY = (0.3127, 0.3290)


def _xyz(xy: tuple[float, float]) -> np.ndarray:
    x, y = xy
    return np.array([x / y, 1.0, (1 - x - y) / y])


def rgb_to_xyz_matrix(primaries: Sequence[tuple[float, float]]) -> np.ndarray:
    columns = np.stack([_xyz(p) for p in primaries], axis=1)
    scale = np.linalg.solve(columns, _xyz(_D65_XY))
    return columns * scale


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _tag_xyz(xyz: np.ndarray) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in xyz)


def _tag_desc(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\0"
    return b"desc\0\0\0\0" + struct.pack(">I", len(ascii_text)) + ascii_text + b"\0" * 12 + b"\0" * 67


def icc_profile(name: str) -> bytes:
    """An ICC v2 RGB display profile with the named primaries, D65 white and the sRGB-like gamma 2.2."""
    d65 = _xyz(_D65_XY)
    lms_src, lms_dst = _BRADFORD @ d65, _BRADFORD @ _D50
    adapt = np.linalg.inv(_BRADFORD) @ np.diag(lms_dst / lms_src) @ _BRADFORD
    colorants = adapt @ rgb_to_xyz_matrix(PRIMARIES[name])
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(2.2 * 256)) + b"\0\0"
    tags = [
        (b"desc", _tag_desc(name)),
        (b"wtpt", _tag_xyz(_D50)),
        (b"rXYZ", _tag_xyz(colorants[:, 0])),
        (b"gXYZ", _tag_xyz(colorants[:, 1])),
        (b"bXYZ", _tag_xyz(colorants[:, 2])),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text\0\0\0\0generated for tests\0"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        padded = data + b"\0" * (-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += padded
    size = offset + len(body)
    header = (
        struct.pack(">I", size)
        + b"lcms"
        + bytes([2, 0x10, 0, 0])
        + b"mntrRGB XYZ "
        + b"\0" * 12
        + b"acsp"
        + b"APPL"
        + b"\0" * 24
        + _s15(_D50[0])
        + _s15(_D50[1])
        + _s15(_D50[2])
        + b"\0" * 48
    )
    assert len(header) == 128, len(header)
    return header + struct.pack(">I", len(tags)) + table + body


def expected_srgb(rgb: tuple[int, int, int], space: str) -> tuple[int, int, int]:
    """What a colour in `space` (gamma 2.2) looks like in sRGB, by straight matrix arithmetic."""
    linear = (np.array(rgb) / 255.0) ** 2.2
    xyz = rgb_to_xyz_matrix(PRIMARIES[space]) @ linear
    srgb_linear = np.clip(np.linalg.solve(rgb_to_xyz_matrix(PRIMARIES["srgb"]), xyz), 0, 1)
    encoded = np.where(
        srgb_linear <= 0.0031308, 12.92 * srgb_linear, 1.055 * srgb_linear ** (1 / 2.4) - 0.055
    )
    red, green, blue = (round(v * 255) for v in encoded)
    return red, green, blue


# --- hostile bytes ------------------------------------------------------------------------------


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims a size but whose data is tiny: a decompression bomb's shape."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def animated_gif(frames: int, size: tuple[int, int] = (40, 30), duration: int = 80) -> bytes:
    images = []
    for index in range(frames):
        frame = Image.new("RGB", size, (index * 37 % 256, 80, 200 - index * 13 % 200))
        ImageDraw.Draw(frame).rectangle(
            (index % size[0], 0, index % size[0] + 5, size[1]), fill=(255, 255, 0)
        )
        images.append(frame.convert("P", palette=Image.Palette.ADAPTIVE))
    return encode(images[0], "GIF", save_all=True, append_images=images[1:], duration=duration, loop=0)


# One 1x1 frame of colour 0: LZW minimum code size 2, then clear (4), index 0, end (5) in 3-bit codes.
_GIF_PIXEL = bytes([2, 2, 0x44, 0x01, 0])


def hand_gif(screen: tuple[int, int], frames: Sequence[tuple[int, int, int, int]], padding: int = 0) -> bytes:
    """A GIF written byte by byte: a logical screen and one image descriptor (left, top, width, height) per
    frame, each with the same tiny LZW data. The descriptors are what a hostile file can make up; the data
    is never decoded when the limits refuse the file first. `padding` adds a comment of that many bytes,
    to make a file honest about its size."""
    body = bytearray(b"GIF89a" + struct.pack("<HHBBB", *screen, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff")
    body += b"!\xff\x0bNETSCAPE2.0\x03\x01\0\0\0"
    if padding:
        body += b"!\xfe"
        for start in range(0, padding, 255):
            chunk = min(255, padding - start)
            body += bytes([chunk]) + b"c" * chunk
        body += b"\0"
    for left, top, width, height in frames:
        body += b"!\xf9\x04\x08\x0a\0\0\0"  # graphic control: 100 ms, restore to background
        body += b"," + struct.pack("<HHHHB", left, top, width, height, 0) + _GIF_PIXEL
    return bytes(body + b";")


def hand_webp(canvas: tuple[int, int], frames: int) -> bytes:
    """An animated (VP8X) WebP header with `frames` empty ANMF chunks: what its RIFF chunks claim, no
    bitstream. libwebp would allocate the canvas the moment its animation decoder is created."""
    width, height = canvas
    vp8x = bytes([0x12, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    chunks = b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x
    chunks += b"ANIM" + struct.pack("<I", 6) + b"\0\0\0\0\0\0"
    anmf = bytes(16)
    chunks += (b"ANMF" + struct.pack("<I", len(anmf)) + anmf) * frames
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WEBP" + chunks
