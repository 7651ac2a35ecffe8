"""The ingest function's configuration, read from the environment once per cold start.

A wrong value (an unknown format, a preset the engine cannot parse, an unknown lane) stops the cold
start with pydantic's message rather than failing message by message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from imgpipe.core import DEFAULT_LIMITS, Limits
from imgpipe.core.models import OutputFormat
from imgpipe.plans import Plan, default_plans, plans_from_json
from imgpipe.settings_types import Presets
from infra.constants import (
    ENV_API_PLANS,
    ENV_BEDROCK_MODEL_ID,
    ENV_EAGER_FORMATS,
    ENV_EVENT_BUS,
    ENV_IMAGES_TABLE,
    ENV_LANE,
    ENV_MALWARE_SCAN,
    ENV_ORIGINALS_BUCKET,
    ENV_PRESETS,
    ENV_TAGGER,
    ENV_TRANSFORMED_BUCKET,
    LANE_BULK,
    LANE_INTERACTIVE,
    PLAN_FREE,
)

_FORMATS = frozenset(get_args(OutputFormat))
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


class IngestSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    originals_bucket: str = Field(min_length=3)
    transformed_bucket: str = Field(min_length=3)
    images_table: str = Field(min_length=3)
    event_bus: str = Field(min_length=1)
    lane: Literal["interactive", "bulk"] = LANE_INTERACTIVE
    presets: Presets
    eager_formats: tuple[OutputFormat, ...] | None = None  # None: "auto"
    malware_scan: bool = False
    limits: Limits = DEFAULT_LIMITS
    # The API's plans (the same IMGPIPE_API_PLANS document): ingest counts every upload against its
    # tenant's plan, also uploads that did not come through a presigned POST.
    plans: dict[str, Plan] = Field(default_factory=default_plans)
    default_plan: str = PLAN_FREE
    # Who names an image's content: the offline tagger (no network), or a remote one behind a circuit
    # breaker that falls back to it.
    tagger: Literal["offline", "rekognition", "bedrock"] = "offline"
    bedrock_model_id: str | None = None

    @model_validator(mode="after")
    def _default_plan_known(self) -> IngestSettings:
        if self.default_plan not in self.plans:
            raise ValueError(f"default plan {self.default_plan!r} is not one of {sorted(self.plans)}")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> IngestSettings:
        values: dict[str, object] = {
            "originals_bucket": environ.get(ENV_ORIGINALS_BUCKET, ""),
            "transformed_bucket": environ.get(ENV_TRANSFORMED_BUCKET, ""),
            "images_table": environ.get(ENV_IMAGES_TABLE, ""),
            "event_bus": environ.get(ENV_EVENT_BUS, ""),
            "lane": environ.get(ENV_LANE, LANE_INTERACTIVE).strip().lower(),
            "eager_formats": _formats(environ.get(ENV_EAGER_FORMATS, "auto")),
            "malware_scan": _flag(ENV_MALWARE_SCAN, environ.get(ENV_MALWARE_SCAN, "")),
        }
        if environ.get(ENV_PRESETS):
            values["presets"] = json.loads(environ[ENV_PRESETS])
        if environ.get(ENV_API_PLANS, "").strip():
            values["plans"] = plans_from_json(environ[ENV_API_PLANS])
        if environ.get(ENV_TAGGER, "").strip():
            values["tagger"] = environ[ENV_TAGGER].strip().lower()
        if environ.get(ENV_BEDROCK_MODEL_ID, "").strip():
            values["bedrock_model_id"] = environ[ENV_BEDROCK_MODEL_ID].strip()
        return cls.model_validate(values)

    @property
    def is_interactive(self) -> bool:
        return self.lane == LANE_INTERACTIVE

    @property
    def is_bulk(self) -> bool:
        return self.lane == LANE_BULK


def _formats(text: str) -> tuple[str, ...] | None:
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    if not names or names == ["auto"]:
        return None
    unknown = [name for name in names if name not in _FORMATS]
    if unknown:
        known = ", ".join(sorted(_FORMATS))
        raise ValueError(f"{ENV_EAGER_FORMATS}: unknown format {unknown[0]!r}; use auto or some of {known}")
    return tuple(dict.fromkeys(names))


def _flag(name: str, text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name}: {text!r} is not true or false")
