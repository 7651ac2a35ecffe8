"""The resize function's configuration, read from the environment once per cold start.

A wrong value (a preset the engine cannot parse, an unknown signing policy, a limit that is not a number)
stops the cold start with pydantic's message instead of failing request by request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from imgpipe.core import DEFAULT_LIMITS, Limits
from imgpipe.delivery import DEFAULT_SIGNING_POLICY, SigningPolicy
from imgpipe.settings_types import Presets, SigningKeysDocument
from infra.constants import (
    ENV_DEADLINE_MARGIN_MS,
    ENV_IMAGES_TABLE,
    ENV_MAX_INLINE_BYTES,
    ENV_ORIGINALS_BUCKET,
    ENV_PRESETS,
    ENV_RENDER_TIME_BUDGET_MS,
    ENV_RESIZE_LIMITS,
    ENV_SIGNING_KEYS,
    ENV_SIGNING_KEYS_SECRET,
    ENV_SIGNING_POLICY,
    ENV_TRANSFORMED_BUCKET,
    SOURCE_PREFIXES,
)

# A Function URL answers at most 6 MB (6,291,456 bytes) of response. The body travels base64-encoded
# (4 bytes per 3), and headers share the budget, so 4.5 MB of image is about 6.0 MB on the wire.
DEFAULT_MAX_INLINE_BYTES = 4_500_000
LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024
# What is left before the function's own deadline when it gives up and answers 503 (logging and the
# response itself still need time; CloudFront would otherwise see a timeout and answer 504 itself).
DEFAULT_DEADLINE_MARGIN_MS = 1_500


class ResizeSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    originals_bucket: str = Field(min_length=3)
    transformed_bucket: str = Field(min_length=3)
    # Optional: when set, `g=auto` uses the focal point recorded at ingest (as the eager renditions do).
    images_table: str | None = None
    presets: Presets
    signing_policy: SigningPolicy = DEFAULT_SIGNING_POLICY
    # Deployed: the ARN of the Secrets Manager secret; local: the key document itself (JSON id -> secret).
    signing_keys_secret: str | None = None
    signing_keys: SigningKeysDocument = None
    max_inline_bytes: int = Field(default=DEFAULT_MAX_INLINE_BYTES, gt=0)
    render_time_budget_ms: int | None = Field(default=None, gt=0)
    deadline_margin_ms: int = Field(default=DEFAULT_DEADLINE_MARGIN_MS, ge=0)
    limits: Limits = DEFAULT_LIMITS
    # Only originals under these prefixes are ever read: quarantine/ and anything else are never rendered.
    source_prefixes: tuple[str, ...] = SOURCE_PREFIXES

    @field_validator("max_inline_bytes")
    @classmethod
    def _fits_a_response(cls, value: int) -> int:
        if value * 4 / 3 > LAMBDA_RESPONSE_LIMIT:
            raise ValueError(
                f"{ENV_MAX_INLINE_BYTES}: {value} bytes is over {LAMBDA_RESPONSE_LIMIT:,} once base64-encoded"
            )
        return value

    @model_validator(mode="after")
    def _keys_when_required(self) -> ResizeSettings:
        if self.signing_policy == "required" and not (self.signing_keys_secret or self.signing_keys):
            raise ValueError(
                f"signing policy 'required' needs keys: set {ENV_SIGNING_KEYS_SECRET} or {ENV_SIGNING_KEYS}"
            )
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ResizeSettings:
        values: dict[str, Any] = {
            "originals_bucket": environ.get(ENV_ORIGINALS_BUCKET, ""),
            "transformed_bucket": environ.get(ENV_TRANSFORMED_BUCKET, ""),
            "images_table": environ.get(ENV_IMAGES_TABLE) or None,
            "signing_keys_secret": environ.get(ENV_SIGNING_KEYS_SECRET) or None,
            "signing_keys": environ.get(ENV_SIGNING_KEYS) or None,
        }
        if environ.get(ENV_PRESETS):
            values["presets"] = json.loads(environ[ENV_PRESETS])
        if environ.get(ENV_SIGNING_POLICY):
            values["signing_policy"] = environ[ENV_SIGNING_POLICY].strip().lower()
        for field, name in (
            ("max_inline_bytes", ENV_MAX_INLINE_BYTES),
            ("render_time_budget_ms", ENV_RENDER_TIME_BUDGET_MS),
            ("deadline_margin_ms", ENV_DEADLINE_MARGIN_MS),
        ):
            if environ.get(name, "").strip():
                values[field] = environ[name].strip()
        if environ.get(ENV_RESIZE_LIMITS, "").strip():
            overrides = json.loads(environ[ENV_RESIZE_LIMITS])
            if not isinstance(overrides, dict):
                raise ValueError(f"{ENV_RESIZE_LIMITS} must be a JSON object of imgpipe.core.Limits fields")
            unknown = sorted(set(overrides) - set(Limits.model_fields))
            if unknown:
                raise ValueError(f"{ENV_RESIZE_LIMITS}: unknown limit {unknown[0]!r}")
            values["limits"] = Limits.model_validate(overrides)
        return cls.model_validate(values)
