"""Safe decoding: sniff, check limits from headers, then decode with corruption treated as an error.

Everything Pillow can throw while parsing hostile bytes (OSError, SyntaxError, IndexError, struct
errors, ...) becomes a `Rejected` with a reason; nothing escapes as a crash.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pillow_heif
from PIL import Image, ImageFile, UnidentifiedImageError

from imgpipe.core.errors import Rejected, RejectionReason
from imgpipe.core.limits import Limits
from imgpipe.core.sniff import PILLOW_FORMATS, SourceFormat, check_declared_type, sniff

pillow_heif.register_heif_opener(thumbnails=False)
ImageFile.LOAD_TRUNCATED_IMAGES = False
# Our own limits are checked first; Pillow's guard stays on as a second line (warnings become errors).
Image.MAX_IMAGE_PIXELS = 100_000_000

_MIN_HEADER_BYTES: dict[SourceFormat, int] = {
    "gif": 13,
    "png": 33,
    "jpeg": 4,
    "bmp": 26,
    "webp": 30,
    "tiff": 8,
}
_ORIENTATION_TAG = 0x0112
# Exceptions a broken file raises from inside Pillow's parsers and decoders.
_DECODE_ERRORS = (
    Image.DecompressionBombError,
    OSError,
    SyntaxError,
    ValueError,
    IndexError,
    KeyError,
    TypeError,
    EOFError,
    struct.error,
    zlib.error,
    MemoryError,
    OverflowError,
    ZeroDivisionError,
    RuntimeError,
    AssertionError,
)


def _is_metadata_warning(warning: Warning) -> bool:
    # Broken EXIF/XMP only affects metadata we drop anyway; it must not reject good pixels.
    text = str(warning).lower()
    return any(word in text for word in ("exif", "metadata", "xmp", "tag", "icc"))


def classify(error: BaseException, source_format: SourceFormat | None, size: int) -> Rejected:
    """Turn whatever a decoder raised into a rejection with a fitting reason."""
    if isinstance(error, Rejected):
        return error
    if isinstance(error, Image.DecompressionBombError | Image.DecompressionBombWarning):
        return Rejected("bomb", "the image declares far more pixels than its file size can honestly hold")
    if isinstance(error, MemoryError):
        return Rejected("bomb", "decoding needed more memory than any image within the limits")
    text = str(error).lower()
    if "decompressed data too large" in text or "decompressed text chunk" in text:
        return Rejected("bomb", "a compressed block inflates beyond the limit")
    if "truncated" in text or isinstance(error, EOFError) or "premature end" in text:
        return Rejected("truncated", "the file ends before the image data does")
    if source_format and size < _MIN_HEADER_BYTES.get(source_format, 0):
        return Rejected("truncated", f"the {source_format} header is incomplete")
    if isinstance(error, UnidentifiedImageError) and source_format in ("avif", "heif"):
        return Rejected("unsupported-format", f"this {source_format} variant cannot be decoded here")
    if isinstance(error, UnidentifiedImageError):
        return Rejected("corrupt", f"the {source_format} header cannot be parsed")
    detail = type(error).__name__
    return Rejected("corrupt", f"the {source_format} data cannot be decoded ({detail})")


@contextmanager
def strict_decoding(source_format: SourceFormat | None, size: int) -> Iterator[None]:
    """Run Pillow with pixel-hiding warnings as errors and every decoder failure as a rejection."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        except _DECODE_ERRORS as error:
            raise classify(error, source_format, size) from error
    for record in caught:
        message = record.message if isinstance(record.message, Warning) else UserWarning(record.message)
        if isinstance(message, Image.DecompressionBombWarning):
            raise classify(message, source_format, size)
        if isinstance(message, UserWarning | RuntimeWarning) and not _is_metadata_warning(message):
            raise Rejected("corrupt", f"the decoder reported damage: {message}")


@dataclass
class Source:
    """An opened, header-checked source whose pixels have not been decoded yet."""

    image: Image.Image
    format: SourceFormat
    byte_size: int
    frames: int
    orientation: int
    size: tuple[int, int]  # as stored, before shrink-on-load changes `image.size`
    # The canvas the decoder allocates for each frame, as checked against the limits before any decode.
    canvases: tuple[tuple[int, int], ...] = ()
    limits: Limits = field(default_factory=Limits)

    @property
    def oriented_size(self) -> tuple[int, int]:
        width, height = self.size
        return (height, width) if self.orientation in (5, 6, 7, 8) else (width, height)

    @property
    def animated(self) -> bool:
        return self.frames > 1


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:
        return 1  # unreadable EXIF means no orientation, not a bad image
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _count_frames(image: Image.Image, limits: Limits) -> int:
    declared = getattr(image, "n_frames", 1) if image.format != "MPO" else 1
    if not isinstance(declared, int) or declared < 1:
        raise Rejected("corrupt", "the frame count cannot be read")
    if declared > limits.max_frames:
        raise Rejected("too-many-frames", f"{declared} frames; at most {limits.max_frames} are allowed")
    return declared


def _over_limit(pixels: int, byte_size: int, limits: Limits) -> RejectionReason:
    return "bomb" if pixels / max(byte_size, 1) > limits.bomb_ratio else "pixel-limit"


def _check_pixels(width: int, height: int, byte_size: int, limits: Limits, what: str = "") -> None:
    if width < 1 or height < 1:
        raise Rejected("corrupt", f"the image declares an empty size {width}x{height}")
    pixels = width * height
    if pixels > limits.max_pixels or max(width, height) > limits.max_side:
        raise Rejected(
            _over_limit(pixels, byte_size, limits),
            f"{what}{width}x{height} exceeds the limits "
            f"({limits.max_pixels:,} pixels, {limits.max_side} px a side)",
        )


def _check_frames(canvases: list[tuple[int, int]], byte_size: int, limits: Limits) -> None:
    """Every frame's canvas within the pixel and side limits, and their sum within the animation budget."""
    if len(canvases) > limits.max_frames:
        raise Rejected("too-many-frames", f"{len(canvases)} frames; at most {limits.max_frames} are allowed")
    for index, (width, height) in enumerate(canvases):
        _check_pixels(width, height, byte_size, limits, f"frame {index + 1}: " if index else "")
    total = sum(width * height for width, height in canvases)
    if len(canvases) > 1 and total > limits.max_animation_pixels:
        raise Rejected(
            _over_limit(total, byte_size, limits),
            f"{len(canvases)} frames decode to {total:,} pixels; "
            f"at most {limits.max_animation_pixels:,} are allowed for one animation",
        )


def gif_canvases(data: bytes, max_frames: int) -> list[tuple[int, int]]:
    """The canvas Pillow decodes each GIF frame onto, read from the bytes before Pillow touches them.

    Pillow composites every frame onto the logical screen, and grows that screen (for this frame and all
    later ones) to hold an image descriptor that reaches past it, so a 1x1 first frame can be followed by a
    10000x10000 one. The walk follows Pillow's own block parser (`GifImagePlugin._seek`: unknown bytes
    between blocks are skipped, `;` or the end of the data ends the frames) and stops after `max_frames`
    + 1 frames, which is enough to refuse the file.
    """
    if len(data) < 13:
        return []
    width, height = struct.unpack_from("<HH", data, 6)
    position = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    canvases: list[tuple[int, int]] = []
    size = len(data)

    def skip_sub_blocks(at: int) -> int:
        while at < size and data[at]:
            at += 1 + data[at]
        return at + 1

    while position < size and len(canvases) <= max_frames:
        marker = data[position]
        if marker == 0x3B:  # trailer
            break
        if marker == 0x21:  # extension: label, then data sub-blocks
            position = skip_sub_blocks(position + 2)
        elif marker == 0x2C:  # image descriptor
            if position + 10 > size:
                break
            left, top, frame_width, frame_height, flags = struct.unpack_from("<HHHHB", data, position + 1)
            width, height = max(width, left + frame_width), max(height, top + frame_height)
            canvases.append((width, height))
            position += 10
            if flags & 0x80:
                position += 3 << ((flags & 7) + 1)
            position = skip_sub_blocks(position + 1)  # LZW minimum code size, then the image data
        else:
            position += 1
    return canvases


def webp_canvases(data: bytes, max_frames: int) -> list[tuple[int, int]] | None:
    """The canvas of each frame of an extended (VP8X) WebP, read from its RIFF chunks; None for a simple
    (VP8/VP8L) one, whose size Pillow reads from the bitstream header.

    libwebp's animation decoder allocates the whole canvas when it is created and composites every frame
    onto it (its demuxer refuses frames that reach past the canvas), so each frame costs one canvas.
    """
    if len(data) < 30 or data[12:16] != b"VP8X":
        return None
    width = 1 + int.from_bytes(data[24:27], "little")
    height = 1 + int.from_bytes(data[27:30], "little")
    frames, position, size = 0, 12, len(data)
    while position + 8 <= size and frames <= max_frames:
        kind = data[position : position + 4]
        length = int.from_bytes(data[position + 4 : position + 8], "little")
        if kind == b"ANMF":
            frames += 1
        position += 8 + length + (length & 1)
    return [(width, height)] * max(frames, 1)


def _declared_isobmff_size(data: bytes) -> tuple[int, int] | None:
    # AVIF/HEIF state the size in an `ispe` box; read it before libavif or libheif allocate anything.
    found = data.find(b"ispe", 0, 1 << 16)
    if found < 4 or found + 16 > len(data):
        return None
    width, height = struct.unpack(">II", data[found + 8 : found + 16])
    return width, height


def _verify_png(data: bytes) -> None:
    # Pillow only checks PNG chunk CRCs in verify(); a damaged chunk otherwise decodes silently.
    with Image.open(io.BytesIO(data), formats=["PNG"]) as probe:
        probe.verify()


_PNG_INFLATE_STEP = 1 << 20


def verify_png_stream(data: bytes) -> None:
    """Inflate the IDAT stream in bounded steps so zlib checks its Adler-32; Pillow never does."""
    position, inflater, finished = 8, zlib.decompressobj(), False
    try:
        while position + 8 <= len(data):
            length, kind = struct.unpack(">I4s", data[position : position + 8])
            if kind == b"IDAT" and not finished:
                pending = data[position + 8 : position + 8 + length]
                while pending and not finished:
                    inflater.decompress(pending, _PNG_INFLATE_STEP)
                    pending, finished = inflater.unconsumed_tail, inflater.eof
            if kind == b"IEND":
                break
            position += 12 + length
    except zlib.error as error:
        raise Rejected("corrupt", f"the PNG image data fails its checksum ({error})") from error


def open_source(data: bytes, limits: Limits, declared_type: str | None = None) -> Source:
    """Sniff, open and check a source against the limits without decoding its pixels."""
    if len(data) > limits.max_source_bytes:
        raise Rejected("too-large", f"{len(data):,} bytes; at most {limits.max_source_bytes:,} are allowed")
    source_format = sniff(data)
    if declared_type:
        check_declared_type(source_format, declared_type)
    if source_format in ("avif", "heif") and (declared := _declared_isobmff_size(data)):
        _check_pixels(*declared, len(data), limits)
    # Frame sizes that the container states, checked before Pillow parses (and, for WebP, allocates).
    declared_canvases: list[tuple[int, int]] | None = None
    if source_format == "gif":
        declared_canvases = gif_canvases(data, limits.max_frames)
    elif source_format == "webp":
        declared_canvases = webp_canvases(data, limits.max_frames)
    if declared_canvases:
        _check_frames(declared_canvases, len(data), limits)
    with strict_decoding(source_format, len(data)):
        if source_format == "png":
            _verify_png(data)
        image = Image.open(io.BytesIO(data), formats=list(PILLOW_FORMATS[source_format]))
        width, height = image.size
        _check_pixels(width, height, len(data), limits)
        frames = _count_frames(image, limits)
        canvases = _frame_canvases(image, frames, declared_canvases)
        _check_frames(canvases, len(data), limits)
        orientation = _orientation(image)
    return Source(
        image=image,
        format=source_format,
        byte_size=len(data),
        frames=frames,
        orientation=orientation,
        size=(width, height),
        canvases=tuple(canvases),
        limits=limits,
    )


# Formats whose `seek` only reads a frame's header (an IFD, an item's properties), so every frame's size can
# be read before any of them is decoded. APNG frames are composited onto the IHDR canvas, and Pillow
# refuses an fcTL region outside it, so every APNG frame costs the canvas, as every frame of an AVIF
# sequence costs its track's size.
_HEADER_SEEK_FORMATS = frozenset({"TIFF", "HEIF"})


def _frame_canvases(
    image: Image.Image, frames: int, declared: list[tuple[int, int]] | None
) -> list[tuple[int, int]]:
    if declared is not None:
        if len(declared) < frames:
            raise Rejected(
                "corrupt", f"the decoder finds {frames} frames where the file declares {len(declared)}"
            )
        return declared[:frames]
    if frames > 1 and image.format in _HEADER_SEEK_FORMATS:
        sizes = []
        for index in range(frames):
            image.seek(index)
            sizes.append(image.size)
        image.seek(0)
        return sizes
    return [image.size] * frames


def seek_frame(source: Source, index: int) -> Image.Image:
    """Move to frame `index` without decoding it, and refuse it if its canvas is not the one checked.

    Pillow decodes the previous frame while seeking (GIF and APNG composite onto it) and sets the new
    frame's size, which is checked here, against the limits and the canvas `open_source` counted, before
    anything decodes into it.
    """
    with strict_decoding(source.format, source.byte_size):
        source.image.seek(index)
        width, height = source.image.size
        _check_pixels(width, height, source.byte_size, source.limits, f"frame {index + 1}: " if index else "")
        expected = source.canvases[index] if index < len(source.canvases) else None
        if expected is not None and width * height > expected[0] * expected[1]:
            raise Rejected(
                "corrupt",
                f"frame {index + 1} decodes to {width}x{height}, more than the {expected[0]}x{expected[1]} "
                "its header declares",
            )
    return source.image


def load_frame(source: Source, index: int = 0) -> Image.Image:
    """Decode one frame under the strict rules; later frames are where some bombs hide."""
    if index:
        seek_frame(source, index)
    with strict_decoding(source.format, source.byte_size):
        source.image.load()
        return source.image
