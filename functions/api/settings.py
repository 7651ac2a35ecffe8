"""The API function's configuration, read from the environment once per cold start.

A wrong value (an unknown signing policy, a plan document that does not parse, a limit that is not a
number) stops the cold start with pydantic's message instead of failing request by request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.models import MAX_UPLOAD_BYTES, UploadType
from imgpipe.delivery import DEFAULT_SIGNING_POLICY, SigningPolicy
from imgpipe.plans import Plan, default_plans, plans_from_json
from imgpipe.settings_types import Presets, SigningKeysDocument
from infra.constants import (
    DEFAULT_TENANT_CLAIM,
    ENV_API_PLANS,
    ENV_DELIVERY_BASE_URL,
    ENV_EVENT_BUS,
    ENV_EXPORT_MAX_BYTES,
    ENV_EXPORT_MAX_IMAGES,
    ENV_IMAGES_TABLE,
    ENV_ORIGINALS_BUCKET,
    ENV_PRESETS,
    ENV_SIGNING_KEYS,
    ENV_SIGNING_KEYS_SECRET,
    ENV_SIGNING_POLICY,
    ENV_TENANT_CLAIM,
    ENV_TRANSFORMED_BUCKET,
    ENV_UPLOAD_MAX_BYTES,
    PLAN_FREE,
)

# A synchronous export reads, re-encodes and zips within one invocation under API Gateway's 29 s:
# ~200 MB of originals is what fits with a margin at 1 GB of memory (docs/api.md, "Export").
DEFAULT_EXPORT_MAX_BYTES = 200 * 1024 * 1024
DEFAULT_EXPORT_MAX_IMAGES = 500
DEFAULT_UPLOAD_TYPES: tuple[UploadType, ...] = get_args(UploadType)


class ApiSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    originals_bucket: str = Field(min_length=3)
    transformed_bucket: str = Field(min_length=3)
    images_table: str = Field(min_length=3)
    event_bus: str | None = None
    presets: Presets
    signing_policy: SigningPolicy = DEFAULT_SIGNING_POLICY
    delivery_base_url: str | None = Field(default=None, pattern=r"^https?://[^/\s]+(/[^\s]*)?$")
    # Deployed: the ARN of the signing-key secret (read at cold start); local: the key document itself.
    signing_keys_secret: str | None = None
    signing_keys: SigningKeysDocument = None
    tenant_claim: str = Field(default=DEFAULT_TENANT_CLAIM, min_length=1)
    plans: dict[str, Plan] = Field(default_factory=default_plans)
    # The plan of a tenant whose item names none (or an unknown one).
    default_plan: str = PLAN_FREE
    upload_max_bytes: int = Field(default=MAX_UPLOAD_BYTES, gt=0, le=MAX_UPLOAD_BYTES)
    upload_types: tuple[UploadType, ...] = DEFAULT_UPLOAD_TYPES
    upload_expiry_seconds: int = Field(default=900, ge=60, le=7 * 24 * 3600)
    download_expiry_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    export_max_bytes: int = Field(default=DEFAULT_EXPORT_MAX_BYTES, gt=0)
    export_max_images: int = Field(default=DEFAULT_EXPORT_MAX_IMAGES, gt=0)
    # Re-encoded from decoded pixels like every output (GPS and private metadata never leave).
    export_query: str = "q=90"

    @field_validator("delivery_base_url")
    @classmethod
    def _no_trailing_slash(cls, url: str | None) -> str | None:
        return url.rstrip("/") if url else url

    @model_validator(mode="after")
    def _default_plan_known(self) -> ApiSettings:
        if self.default_plan not in self.plans:
            raise ValueError(f"default plan {self.default_plan!r} is not one of {sorted(self.plans)}")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ApiSettings:
        values: dict[str, Any] = {
            "originals_bucket": environ.get(ENV_ORIGINALS_BUCKET, ""),
            "transformed_bucket": environ.get(ENV_TRANSFORMED_BUCKET, ""),
            "images_table": environ.get(ENV_IMAGES_TABLE, ""),
            "event_bus": environ.get(ENV_EVENT_BUS) or None,
            "delivery_base_url": environ.get(ENV_DELIVERY_BASE_URL) or None,
            "signing_keys_secret": environ.get(ENV_SIGNING_KEYS_SECRET) or None,
            "signing_keys": environ.get(ENV_SIGNING_KEYS) or None,
        }
        if environ.get(ENV_PRESETS):
            values["presets"] = json.loads(environ[ENV_PRESETS])
        if environ.get(ENV_SIGNING_POLICY):
            values["signing_policy"] = environ[ENV_SIGNING_POLICY].strip().lower()
        if environ.get(ENV_TENANT_CLAIM, "").strip():
            values["tenant_claim"] = environ[ENV_TENANT_CLAIM].strip()
        if environ.get(ENV_API_PLANS, "").strip():
            values["plans"] = plans_from_json(environ[ENV_API_PLANS])
        for field, name in (
            ("upload_max_bytes", ENV_UPLOAD_MAX_BYTES),
            ("export_max_bytes", ENV_EXPORT_MAX_BYTES),
            ("export_max_images", ENV_EXPORT_MAX_IMAGES),
        ):
            if environ.get(name, "").strip():
                values[field] = environ[name].strip()
        return cls.model_validate(values)
