"""`inspect()`: everything the pipeline records about a source, from one checked decode."""

from __future__ import annotations

import hashlib

from imgpipe.core import analysis, pixels
from imgpipe.core.decode import load_frame, open_source, verify_png_stream
from imgpipe.core.exif import summarise_exif
from imgpipe.core.limits import DEFAULT_LIMITS, Limits
from imgpipe.core.models import ImageInfo
from imgpipe.core.render import ANALYSIS_SIZE, _decode_base
from imgpipe.core.sniff import SOURCE_MEDIA_TYPES

_MEDIA_TYPE = {fmt: sorted(types)[0] for fmt, types in SOURCE_MEDIA_TYPES.items()}
_MEDIA_TYPE.update({"jpeg": "image/jpeg", "heif": "image/heif", "bmp": "image/bmp", "png": "image/png"})


def inspect(data: bytes, *, limits: Limits = DEFAULT_LIMITS, declared_type: str | None = None) -> ImageInfo:
    """Validate a source and describe it. Raises `Rejected` with a reason when it cannot be processed.

    Every frame is decoded once under the limits (some bombs only go off in a later frame); the pixel
    analysis runs on a small upright sRGB version of the first frame.
    """
    source = open_source(data, limits, declared_type)
    if source.format == "png":
        verify_png_stream(data)
    exif = summarise_exif(source.image)
    mode = source.image.mode
    icc = source.image.info.get("icc_profile") or None
    alpha = pixels.has_alpha(source.image)
    for index in range(1, source.frames):
        load_frame(source, index)
    if source.frames > 1:
        source = open_source(data, limits, declared_type)
    base = _decode_base(source, (ANALYSIS_SIZE, ANALYSIS_SIZE))
    profile = pixels.profile_name(icc if isinstance(icc, bytes) else None)
    thumb = base.image.convert("RGBA" if pixels.has_alpha(base.image) else "RGB")
    facts = analysis.analyse(thumb)
    width, height = source.oriented_size
    return ImageInfo(
        format=source.format,
        media_type=_MEDIA_TYPE[source.format],
        bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        width=width,
        height=height,
        frames=source.frames,
        animated=source.animated,
        orientation=source.orientation,
        has_alpha=alpha,
        mode=mode,
        colour_profile=profile,
        camera=exif.camera,
        taken_at=exif.taken_at,
        had_gps=exif.has_gps,
        dominant_colour=facts.dominant_colour,
        blurhash=facts.blurhash,
        phash=facts.phash,
        focal_point=facts.focal_point,
    )
