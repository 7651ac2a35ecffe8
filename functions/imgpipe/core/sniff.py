"""What a file really is, from its first bytes. Names, extensions and Content-Type are never trusted."""

from __future__ import annotations

from typing import Literal

from imgpipe.core.errors import Rejected

SourceFormat = Literal["jpeg", "png", "gif", "webp", "avif", "heif", "tiff", "bmp"]

# Pillow's plugin name per format: Image.open is restricted to it so a polyglot cannot be read as
# something other than what its magic bytes say.
PILLOW_FORMATS: dict[SourceFormat, tuple[str, ...]] = {
    "jpeg": ("JPEG", "MPO"),
    "png": ("PNG",),
    "gif": ("GIF",),
    "webp": ("WEBP",),
    "avif": ("AVIF",),
    "heif": ("HEIF",),
    "tiff": ("TIFF",),
    "bmp": ("BMP",),
}

SOURCE_EXTENSIONS: dict[SourceFormat, frozenset[str]] = {
    "jpeg": frozenset({"jpg", "jpeg", "jpe", "jfif", "mpo"}),
    "png": frozenset({"png", "apng"}),
    "gif": frozenset({"gif"}),
    "webp": frozenset({"webp"}),
    "avif": frozenset({"avif"}),
    "heif": frozenset({"heic", "heif", "hif"}),
    "tiff": frozenset({"tif", "tiff"}),
    "bmp": frozenset({"bmp", "dib"}),
}

SOURCE_MEDIA_TYPES: dict[SourceFormat, frozenset[str]] = {
    "jpeg": frozenset({"image/jpeg", "image/jpg", "image/pjpeg"}),
    "png": frozenset({"image/png", "image/apng"}),
    "gif": frozenset({"image/gif"}),
    "webp": frozenset({"image/webp"}),
    "avif": frozenset({"image/avif"}),
    "heif": frozenset({"image/heic", "image/heif", "image/heic-sequence", "image/heif-sequence"}),
    "tiff": frozenset({"image/tiff"}),
    "bmp": frozenset({"image/bmp", "image/x-ms-bmp"}),
}

# Extensions that say what a file is: every image one, and the common non-image types that turn up
# disguised as images. Unknown extensions (".tmp", ".fuzzed", ".1") claim nothing.
_CLAIMING_EXTENSIONS = frozenset().union(*SOURCE_EXTENSIONS.values()) | {
    "svg",
    "svgz",
    "psd",
    "ico",
    "cur",
    "jxl",
    "jp2",
    "heics",
    "pdf",
    "ps",
    "eps",
    "txt",
    "html",
    "htm",
    "xml",
    "js",
    "json",
    "php",
    "exe",
    "dll",
    "zip",
    "gz",
    "rar",
    "7z",
    "doc",
    "docx",
    "xls",
    "xlsx",
    "mp3",
    "mp4",
    "mov",
    "avi",
    "mkv",
    "wav",
    "ogg",
    "webm",
    "m4a",
    "flac",
}
_AVIF_BRANDS = {b"avif", b"avis"}
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"mif2"}
_BMP_HEADER_SIZES = {12, 16, 40, 52, 56, 64, 108, 124}

# Recognised, but not accepted as sources in this release.
_UNSUPPORTED_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"8BPS", "Photoshop PSD"),
    (b"\x00\x00\x01\x00", "Windows icon"),
    (b"\x00\x00\x02\x00", "Windows cursor"),
    (b"\xff\x0a", "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL \x0d\x0a\x87\x0a", "JPEG XL"),
    (b"\x00\x00\x00\x0cjP  \x0d\x0a\x87\x0a", "JPEG 2000"),
    (b"%PDF", "PDF"),
    (b"qoif", "QOI"),
    (b"\x76\x2f\x31\x01", "OpenEXR"),
)


_SHORT_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"RIFF")


def _ftyp_brands(data: bytes) -> set[bytes]:
    box_size = int.from_bytes(data[0:4], "big")
    end = min(len(data), box_size if 16 <= box_size <= 4096 else 64)
    brands = {data[8:12]}
    brands.update(data[i : i + 4] for i in range(16, end - 3, 4))
    return brands


def _looks_like_svg(data: bytes) -> bool:
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<svg", b"<?xml", b"<!doctype svg")) and b"<svg" in data[:8192].lower()


def sniff(data: bytes) -> SourceFormat:
    """The format named by the magic bytes, or a rejection saying why there is none."""
    if not data or not data.strip(b"\x00"):
        raise Rejected("empty", "the file is empty")
    if len(data) < 12 and any(magic.startswith(data[: len(magic)]) for magic in _SHORT_MAGIC):
        raise Rejected("truncated", "the file ends inside its signature")
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "webp"
    if data[4:8] == b"ftyp":
        brands = _ftyp_brands(data)
        if brands & _AVIF_BRANDS:
            return "avif"
        if brands & _HEIF_BRANDS:
            return "heif"
        raise Rejected("unsupported-format", "an ISO media file that is neither AVIF nor HEIF")
    if data.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return "tiff"
    if (
        data.startswith(b"BM")
        and len(data) >= 18
        and int.from_bytes(data[14:18], "little") in _BMP_HEADER_SIZES
    ):
        return "bmp"
    if _looks_like_svg(data):
        raise Rejected("unsupported-format", "SVG is not rasterised; upload a raster image")
    for magic, name in _UNSUPPORTED_MAGIC:
        if data.startswith(magic):
            raise Rejected("unsupported-format", f"{name} is not an accepted source format")
    if data[0x800:0x807] == b"PCD_IPI":
        raise Rejected("unsupported-format", "Kodak Photo CD is not an accepted source format")
    if data[1:8] == b"PNG\r\n\x1a\n" or data[:4] == b"\x89PNG":
        raise Rejected("corrupt", "the PNG signature is damaged")
    raise Rejected("not-an-image", "the content is not a recognised image format")


def check_declared_type(actual: SourceFormat, declared: str) -> None:
    """Refuse a file whose name or media type claims another format than its bytes.

    `declared` is a file name (its extension is checked; no extension means nothing is claimed) or a
    media type such as `image/png` (generic types like `application/octet-stream` claim nothing).
    """
    claim = declared.strip().lower()
    if "/" in claim and " " not in claim and "." not in claim.rsplit("/", 1)[-1]:
        media_type = claim.split(";", 1)[0].strip()
        if not media_type.startswith("image/"):
            return
        if media_type not in SOURCE_MEDIA_TYPES[actual]:
            raise Rejected("type-mismatch", f"declared as {media_type} but the content is {actual}")
        return
    name = claim.rsplit("/", 1)[-1]
    if "." not in name.strip("."):
        return
    extension = name.rsplit(".", 1)[-1]
    if extension not in _CLAIMING_EXTENSIONS:
        return
    if extension not in SOURCE_EXTENSIONS[actual]:
        raise Rejected("type-mismatch", f"named .{extension} but the content is {actual}")
