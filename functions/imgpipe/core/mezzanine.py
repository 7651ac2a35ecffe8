"""The mezzanine: one high-quality, upright, sRGB intermediate per still image, kept beside its renditions.

On-demand resizes start from it instead of the original when it is large enough, so a cold miss decodes
a ~2.5 MP JPEG with DCT scaling instead of a 24 MP camera file. JPEG at high quality decodes fastest with
`draft`, and only without progressive scans (render it with `RenderOptions(intermediates={spec})`: a
progressive mezzanine decoded slower than the camera original in bench/results/delivery.md); sources with
alpha keep it in WebP. Animated sources have no mezzanine (delivery reads the
original, which keeps every frame).
"""

from __future__ import annotations

from collections.abc import Mapping

from imgpipe.core.models import ImageInfo
from imgpipe.core.spec import TransformSpec

MEZZANINE_MAX_SIDE = 2560
MEZZANINE_QUALITY = 92


def needs_mezzanine(info: ImageInfo) -> bool:
    """Worth keeping only when it is smaller than the source and the source is a still."""
    return not info.animated and max(info.width, info.height) > MEZZANINE_MAX_SIDE


def mezzanine_spec(info: ImageInfo) -> TransformSpec:
    """`info.width`/`height` are upright already, and so is the render."""
    fmt = "webp" if info.has_alpha else "jpeg"
    side = MEZZANINE_MAX_SIDE
    return TransformSpec.parse(f"w={side}&h={side}&fit=inside&q={MEZZANINE_QUALITY}&fm={fmt}&anim=0")


def mezzanine_key(prefix: str, source_key: str) -> str:
    """Its object key in the transformed bucket; `prefix` is `infra.constants.MEZZANINE_PREFIX`."""
    return f"{prefix}{source_key}"


# The S3 user metadata ingest writes with a mezzanine and the resize function reads to decide whether it
# holds every pixel a request needs: its own size and the upright source's.
_METADATA_NAMES = ("width", "height", "source-width", "source-height")


def mezzanine_metadata(size: tuple[int, int], source_size: tuple[int, int]) -> dict[str, str]:
    return dict(zip(_METADATA_NAMES, (str(side) for side in (*size, *source_size)), strict=True))


def read_mezzanine_metadata(metadata: Mapping[str, str]) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """(size, source size), or None when the metadata is missing, malformed or not positive."""
    try:
        width, height, source_width, source_height = (int(metadata[name]) for name in _METADATA_NAMES)
    except (KeyError, ValueError):
        return None
    if min(width, height, source_width, source_height) < 1:
        return None
    return (width, height), (source_width, source_height)
