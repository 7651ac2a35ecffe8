"""Setting types the Lambdas' pydantic settings share, each checked once at cold start.

A bad preset or signing-key document stops the cold start with a message naming it, rather than
failing request by request.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from imgpipe.core.spec import DEFAULT_PRESETS, validate_presets
from imgpipe.delivery import parse_signing_keys


def _valid_presets(presets: dict[str, str]) -> dict[str, str]:
    validate_presets(presets)  # raises SpecError (a ValueError) naming the bad preset
    return presets


def _valid_signing_keys(document: str | None) -> str | None:
    if document is not None:
        parse_signing_keys(document)  # raises ValueError naming the bad key
    return document


Presets = Annotated[
    dict[str, str], AfterValidator(_valid_presets), Field(default_factory=lambda: dict(DEFAULT_PRESETS))
]
"""Preset name -> query (`IMGPIPE_PRESETS`); every query must parse."""

SigningKeysDocument = Annotated[str | None, AfterValidator(_valid_signing_keys)]
"""JSON key id -> secret (`IMGPIPE_SIGNING_KEYS`, local runs); every secret must be usable."""
