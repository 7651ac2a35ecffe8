"""Tenants, plans, rate limits and quotas: who may call, and the 429s with Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.service import CallerIdentity
from api.settings import ApiSettings
from api.tenants import RateLimiter, Tenant, check_upload, seconds_until_next_month
from imgpipe.plans import Plan, Usage, default_plans, plans_from_json, quota_limits
from infra.config import ApiConfig
from tests.unit.api.conftest import KEY_A, START, Api, assert_problem

UPLOAD = {"filename": "a.jpg", "content_type": "image/jpeg", "size": 1000}


def test_plans_match_the_usage_plans_the_stack_deploys() -> None:
    # Given the stack's default usage plans (infra/config.py) and the API's plan table
    deployed = ApiConfig().plans
    plans = ApiSettings.model_validate(
        {"originals_bucket": "o" * 3, "transformed_bucket": "t" * 3, "images_table": "i" * 3}
    ).plans
    # Then the names and the rate and burst agree, so the in-handler limiter enforces the same numbers
    assert set(plans) == set(deployed) == {"free", "pro", "enterprise"}
    for name, plan in plans.items():
        assert plan.rate_limit == deployed[name].rate_limit
        assert plan.burst_limit == deployed[name].burst_limit
    assert plans["free"].monthly_images < plans["pro"].monthly_images < plans["enterprise"].monthly_images
    assert plans["free"].storage_bytes < plans["pro"].storage_bytes < plans["enterprise"].storage_bytes


def test_plan_overrides_from_json_change_one_limit_and_can_add_a_plan() -> None:
    plans = plans_from_json(
        '{"free": {"monthly_images": 50}, "team": {"rate_limit": 20, "burst_limit": 40, '
        '"monthly_images": 5000, "storage_bytes": 1000000}}'
    )
    assert plans["free"].monthly_images == 50
    assert plans["free"].burst_limit == 10
    assert plans["team"].rate_limit == 20
    with pytest.raises(ValueError, match="greater than 0"):
        plans_from_json('{"pro": {"storage_bytes": 0}}')


def test_unknown_key_is_403_and_missing_credentials_401(api: Api) -> None:
    assert_problem(api.call("GET", "/v1/images", key="stolen"), 403, "unknown-key")
    assert_problem(api.call("GET", "/v1/images", key=None), 401, "unauthenticated")


def test_jwt_claim_names_the_tenant_and_its_plan_comes_from_the_tenant_item(api: Api) -> None:
    # Given a tenant known only by its Cognito claim, on the enterprise plan
    api.repository.plans["initech"] = "enterprise"
    api.add_image("initech", number=1)
    # When it calls with a token (no API key)
    reply = api.call("GET", "/v1/images", key=None, claims={"custom:tenant": "initech"})
    # Then it sees its own images
    assert reply.status == 200
    assert [item["image_id"] for item in reply.json["items"]] == ["img_initech_0001"]
    assert (
        api.service.authenticate(CallerIdentity(claims={"custom:tenant": "initech"})).plan.name
        == "enterprise"
    )


def test_key_and_token_of_different_tenants_are_refused(api: Api) -> None:
    reply = api.call("GET", "/v1/images", key=KEY_A, claims={"custom:tenant": "globex"})
    assert_problem(reply, 403, "tenant-mismatch")


def test_api_key_mapping_is_cached_per_execution_environment(api: Api) -> None:
    # Given two calls within the cache lifetime
    api.call("GET", "/v1/images")
    api.call("GET", "/v1/images")
    # Then the key item was read once
    assert api.repository.key_reads == 1
    # And once the lifetime passed it is read again (a remapped key takes effect)
    api.ticks.now += 61
    api.call("GET", "/v1/images")
    assert api.repository.key_reads == 2


def test_burst_over_the_plan_is_429_with_retry_after(api: Api) -> None:
    # Given the free plan: 5 requests a second, bursts of 10
    api.repository.add_key("key-free", "freeloader", "free")
    replies = [api.call("GET", "/v1/images", key="key-free") for _ in range(11)]
    # Then the burst passes and the next call is throttled with a Retry-After
    assert [reply.status for reply in replies[:10]] == [200] * 10
    problem = assert_problem(replies[10], 429, "rate")
    assert replies[10].headers["Retry-After"] == "1"
    assert "free plan" in problem["detail"]
    # And after a second, five more tokens are there
    api.ticks.now += 1.0
    assert [api.call("GET", "/v1/images", key="key-free").status for _ in range(6)] == [200] * 5 + [429]


def test_one_tenants_burst_does_not_throttle_another(api: Api) -> None:
    api.repository.add_key("key-free", "freeloader", "free")
    for _ in range(12):
        api.call("GET", "/v1/images", key="key-free")
    assert api.call("GET", "/v1/images", key=KEY_A).status == 200


def test_monthly_image_quota_refuses_presign_until_next_month(api: Api) -> None:
    # Given a free tenant that used its 1,000 images this month
    api.repository.add_key("key-free", "freeloader", "free")
    api.repository.usages[("freeloader", "2026-12")] = Usage(month="2026-12", images=1000)
    # When it asks for an upload
    reply = api.call("POST", "/v1/uploads", key="key-free", body=UPLOAD)
    # Then 429 says when the month turns (START is 10:00 on 1 December: 30 days 14 hours remain)
    assert_problem(reply, 429, "monthly-images")
    assert int(reply.headers["Retry-After"]) == 30 * 86400 + 14 * 3600
    assert api.signer.posts == []


def test_storage_quota_refuses_an_upload_that_would_not_fit(api: Api) -> None:
    api.repository.add_key("key-free", "freeloader", "free")
    api.repository.usages[("freeloader", "2026-12")] = Usage(month="2026-12", storage_bytes=1024**3 - 500)
    reply = api.call("POST", "/v1/uploads", key="key-free", body=UPLOAD)
    assert_problem(reply, 429, "storage")
    assert reply.headers["Retry-After"] == "3600"
    # And a smaller one still fits
    small = api.call("POST", "/v1/uploads", key="key-free", body={**UPLOAD, "size": 500})
    assert small.status == 201


def test_quota_check_is_pure_and_month_boundaries_are_utc() -> None:
    plan = Plan(name="p", rate_limit=1, burst_limit=1, monthly_images=2, storage_bytes=100)
    now = datetime(2026, 12, 31, 23, 59, 30, tzinfo=UTC)
    assert check_upload(plan, Usage(month="2026-12", images=1, storage_bytes=50), 50, now) is None
    verdict = check_upload(plan, Usage(month="2026-12", images=2), 1, now)
    assert verdict is not None and verdict.retry_after == 30
    assert seconds_until_next_month(START) == 30 * 86400 + 14 * 3600


def test_rate_limiter_refills_at_the_plan_rate() -> None:
    tenant = Tenant("t", Plan(name="p", rate_limit=2, burst_limit=2, monthly_images=1, storage_bytes=1))
    limiter = RateLimiter()
    assert limiter.take(tenant, 0.0) is None
    assert limiter.take(tenant, 0.0) is None
    refused = limiter.take(tenant, 0.0)
    assert refused is not None and refused.code == "rate"
    assert limiter.take(tenant, 0.5) is None


def test_quota_limits_for_the_ingest_gate_fall_back_to_the_default_plan() -> None:
    limits = quota_limits(default_plans(), "free")
    assert limits("pro") == (100_000, 100 * 1024**3)
    assert limits(None) == limits("no-such-plan") == (1_000, 1024**3)
