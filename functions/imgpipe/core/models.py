"""What the engine returns: facts about a source and the renditions made from it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from imgpipe.core.limits import DEFAULT_LIMITS, Limits

if TYPE_CHECKING:
    from imgpipe.core.spec import TransformSpec  # spec imports this module

OutputFormat = Literal["avif", "webp", "jpeg", "png", "gif"]


class ImageInfo(BaseModel):
    """Facts about one source image, as recorded at ingest and printed by `imgpipe inspect`."""

    model_config = ConfigDict(frozen=True)

    format: str
    media_type: str
    bytes: int
    sha256: str
    width: int
    height: int
    frames: int
    animated: bool
    orientation: int
    has_alpha: bool
    mode: str
    colour_profile: str | None
    camera: str | None
    taken_at: str | None
    had_gps: bool
    dominant_colour: str
    blurhash: str
    phash: str
    focal_point: tuple[float, float]


@dataclass(frozen=True)
class Rendered:
    """One encoded rendition and what was done to make it."""

    data: bytes
    format: OutputFormat
    media_type: str
    width: int
    height: int
    animated: bool
    frames: int
    query: str
    operations: tuple[str, ...]
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    negotiated: bool = False


@dataclass(frozen=True)
class RenderOptions:
    """Everything a render needs besides the source and the spec.

    `overlays` maps watermark keys (the `mark` parameter) to their image bytes; `focal_point` is the one
    recorded at ingest, used by `g=auto` instead of estimating again. `intermediates` are specs whose
    output the server decodes again instead of serving it (the mezzanine): their JPEG is written without
    progressive scans, which `draft()` decodes 3-4x faster, at ~3 % more bytes.
    """

    limits: Limits = DEFAULT_LIMITS
    overlays: Mapping[str, bytes] = field(default_factory=dict)
    focal_point: tuple[float, float] | None = None
    copyright: str | None = None
    intermediates: frozenset[TransformSpec] = frozenset()
