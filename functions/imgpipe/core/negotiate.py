"""Choose the output format for `fm=auto` from the request's `Accept` header."""

from __future__ import annotations

import re

from imgpipe.core.models import OutputFormat

MEDIA_TYPES: dict[OutputFormat, str] = {
    "avif": "image/avif",
    "webp": "image/webp",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
}
# File name extensions without the dot; "jpg" because that is what people and tools expect to see.
FORMAT_EXTENSIONS: dict[OutputFormat, str] = {
    "avif": "avif",
    "webp": "webp",
    "jpeg": "jpg",
    "png": "png",
    "gif": "gif",
}

_MEDIA_RANGE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+*-]+")
_QUALITY = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")


def _weights(accept: str) -> dict[str, float]:
    """Media type → q-value. A type refused anywhere (q=0) stays refused, whatever else is listed."""
    weights: dict[str, float] = {}
    for part in accept.lower().split(","):
        media_range, *parameters = (piece.strip() for piece in part.split(";"))
        if not _MEDIA_RANGE.fullmatch(media_range):
            continue
        weight = 1.0
        malformed = False
        for parameter in parameters:
            key, _, value = (piece.strip() for piece in parameter.partition("="))
            if key == "q":
                if not _QUALITY.fullmatch(value):
                    malformed = True
                    break
                weight = float(value)
        if malformed:
            continue
        if weight == 0 or weights.get(media_range) == 0:
            weights[media_range] = 0.0
        else:
            weights[media_range] = max(weight, weights.get(media_range, 0.0))
    return weights


def negotiate(accept: str | None, has_alpha: bool, animated: bool) -> OutputFormat:
    """The best format the client accepts for this picture.

    Only an explicit `image/avif` or `image/webp` counts: browsers name the modern formats they decode,
    while `*/*` and `image/*` are sent by clients that may not decode them.
    """
    weights = _weights(accept or "")

    def accepted(fmt: OutputFormat) -> bool:
        return weights.get(MEDIA_TYPES[fmt], 0.0) > 0

    if animated:
        return "webp" if accepted("webp") else "gif"
    if accepted("avif"):
        return "avif"
    if accepted("webp"):
        return "webp"
    return "png" if has_alpha else "jpeg"


def content_type(fmt: str) -> str:
    """The `Content-Type` of an output format such as `webp`."""
    for name, media_type in MEDIA_TYPES.items():
        if name == fmt:
            return media_type
    raise ValueError(f"unknown output format {fmt!r}; expected one of {', '.join(MEDIA_TYPES)}")
