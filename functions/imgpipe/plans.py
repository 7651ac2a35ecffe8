"""Plans: what a tenant's plan allows (rate, burst, monthly images, stored bytes), and what it has used.

Pure rules shared by the API (presign-time checks, rate limits) and ingest (the atomic quota check when
the object arrives); the numbers come from `infra.constants` and can be overridden per stage by JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from infra.constants import (
    PLAN_BURST_LIMIT,
    PLAN_MONTHLY_IMAGES,
    PLAN_RATE_LIMIT,
    PLAN_STORAGE_BYTES,
)


class Plan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    rate_limit: Annotated[float, Field(gt=0)]
    burst_limit: Annotated[int, Field(gt=0)]
    monthly_images: Annotated[int, Field(gt=0)]
    storage_bytes: Annotated[int, Field(gt=0)]


def default_plans() -> dict[str, Plan]:
    return {
        name: Plan(
            name=name,
            rate_limit=PLAN_RATE_LIMIT[name],
            burst_limit=PLAN_BURST_LIMIT[name],
            monthly_images=PLAN_MONTHLY_IMAGES[name],
            storage_bytes=PLAN_STORAGE_BYTES[name],
        )
        for name in PLAN_RATE_LIMIT
    }


def plans_from_json(document: str) -> dict[str, Plan]:
    """`{"free": {"monthly_images": 50}, "team": {...}}`: fields override a known plan's or define a plan."""
    overrides = json.loads(document)
    if not isinstance(overrides, dict):
        raise ValueError("plans must be a JSON object of plan name -> limits")
    plans = default_plans()
    for name, fields in overrides.items():
        if not isinstance(fields, dict):
            raise ValueError(f"plan {name!r} must be an object of limits")
        base = plans[name].model_dump() if name in plans else {"name": name}
        plans[name] = Plan.model_validate({**base, **fields, "name": name})
    return plans


@dataclass(frozen=True)
class Usage:
    """What a tenant has used: images accepted this month and bytes of originals stored now."""

    month: str  # `2026-12`
    images: int = 0
    storage_bytes: int = 0


def plan_named(plans: Mapping[str, Plan], name: str | None, default: str) -> Plan:
    """An unknown plan name (a typo in the tenant item) falls back to the default plan, not to no limits."""
    if name is not None and name in plans:
        return plans[name]
    return plans[default]


def quota_limits(plans: Mapping[str, Plan], default: str) -> Callable[[str | None], tuple[int, int]]:
    """(monthly images, storage bytes) by plan name: what `DynamoQuotaGate` asks, for ingest's wiring."""

    def limits(name: str | None) -> tuple[int, int]:
        plan = plan_named(plans, name, default)
        return plan.monthly_images, plan.storage_bytes

    return limits
