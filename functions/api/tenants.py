"""Tenants and plans: who is calling, what their plan allows, and the checks that say "not now".

Pure rules (no AWS): the service asks its repository for the tenant's plan name and usage, then asks these
functions for a verdict. API Gateway's usage plans enforce the rate and burst per API key in AWS; the
token bucket here is the same limit applied per execution environment, which is the only limiter when the
handler runs without API Gateway (`imgpipe dev`) and a second line when it runs behind it.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from imgpipe.plans import Plan, Usage

# Storage does not free itself with time: a caller over it can only delete images. An hour is a polite
# interval to try again rather than a promise.
STORAGE_RETRY_AFTER_SECONDS = 3600


@dataclass(frozen=True)
class Tenant:
    """The caller, once authenticated: every route works inside this tenant only."""

    tenant_id: str
    plan: Plan


@dataclass(frozen=True)
class OverLimit:
    """A refusal with the seconds after which trying again can succeed."""

    code: str  # rate | monthly-images | storage
    detail: str
    retry_after: int


def month_of(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m")


def seconds_until_next_month(now: datetime) -> int:
    moment = now.astimezone(UTC)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    start = datetime(year, month, 1, tzinfo=UTC)
    return max(1, math.ceil((start - moment).total_seconds()))


def check_upload(plan: Plan, usage: Usage, size: int, now: datetime) -> OverLimit | None:
    """The presign-time quota check. Ingest checks again, atomically, when the object arrives."""
    if usage.images >= plan.monthly_images:
        return OverLimit(
            code="monthly-images",
            detail=f"the {plan.name} plan accepts {plan.monthly_images:,} images a month; all are used",
            retry_after=seconds_until_next_month(now),
        )
    if usage.storage_bytes + size > plan.storage_bytes:
        return OverLimit(
            code="storage",
            detail=(
                f"the {plan.name} plan stores {plan.storage_bytes:,} bytes; "
                f"{usage.storage_bytes:,} are used and this upload may add {size:,}"
            ),
            retry_after=STORAGE_RETRY_AFTER_SECONDS,
        )
    return None


class RateLimiter:
    """One token bucket per tenant: `rate_limit` tokens a second, at most `burst_limit` saved up."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # tenant -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, tenant: Tenant, now: float) -> OverLimit | None:
        plan = tenant.plan
        with self._lock:
            tokens, at = self._buckets.get(tenant.tenant_id, (float(plan.burst_limit), now))
            tokens = min(float(plan.burst_limit), tokens + max(0.0, now - at) * plan.rate_limit)
            if tokens < 1.0:
                self._buckets[tenant.tenant_id] = (tokens, now)
                wait = (1.0 - tokens) / plan.rate_limit
                return OverLimit(
                    code="rate",
                    detail=f"the {plan.name} plan allows {plan.rate_limit:g} requests a second "
                    f"(bursts of {plan.burst_limit})",
                    retry_after=max(1, math.ceil(wait)),
                )
            self._buckets[tenant.tenant_id] = (tokens - 1.0, now)
            return None
