"""The pure image engine: bytes and models in, bytes and models out. No AWS, no environment."""

from imgpipe.core.errors import Rejected, RejectionReason, SpecError
from imgpipe.core.facts import inspect
from imgpipe.core.limits import DEFAULT_LIMITS, Limits
from imgpipe.core.models import ImageInfo, Rendered, RenderOptions
from imgpipe.core.negotiate import negotiate
from imgpipe.core.render import render, render_many
from imgpipe.core.spec import DEFAULT_PRESETS, TransformSpec

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_PRESETS",
    "ImageInfo",
    "Limits",
    "Rejected",
    "RejectionReason",
    "RenderOptions",
    "Rendered",
    "SpecError",
    "TransformSpec",
    "inspect",
    "negotiate",
    "render",
    "render_many",
]
