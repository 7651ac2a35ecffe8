"""Stage configuration from cdk.json: what is accepted, and what stops synthesis before CloudFormation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from imgpipe.core import DEFAULT_PRESETS
from infra.config import ConfigError, StageConfig, cdk_json_context, load_stage_config
from infra.constants import PLAN_BURST_LIMIT, PLAN_RATE_LIMIT
from tests.infra.variants import FULL


def _context(stage: str = "dev", **settings: Any) -> dict[str, Any]:
    return {"stage": stage, "stages": {stage: settings}}


@pytest.mark.parametrize("stage", sorted(cdk_json_context()["stages"]))
def test_every_stage_in_cdk_json_is_valid(stage: str) -> None:
    # Given the shipped cdk.json, When each stage is loaded, Then it validates and keeps its name
    config = load_stage_config({**cdk_json_context(), "stage": stage})
    assert config.stage == stage


def test_shipped_prod_stage_is_production_and_dev_is_not() -> None:
    context = cdk_json_context()
    assert load_stage_config({**context, "stage": "prod"}).production is True
    assert load_stage_config({**context, "stage": "dev"}).production is False


def test_defaults_are_the_engine_presets_and_presets_unsigned() -> None:
    config = load_stage_config(_context())
    assert config.presets == DEFAULT_PRESETS
    assert config.signing_policy == "presets-unsigned"
    # S3 routes: created uploads/ → interactive, created batches/ → bulk, every removal → interactive
    assert config.lanes.interactive.prefixes == ("uploads/",)
    assert config.lanes.interactive.removed_prefixes == ("uploads/", "batches/")
    assert (config.lanes.bulk.prefixes, config.lanes.bulk.removed_prefixes) == (("batches/",), ())
    assert config.lanes.interactive.max_concurrency > config.lanes.bulk.max_concurrency


def test_camel_case_keys_map_to_settings() -> None:
    config = load_stage_config({"stage": "full", "stages": {"full": FULL}})
    assert config.features.waf.rate_limit == 1000
    assert config.domain is not None and config.domain.names == ("img.example.com",)
    assert config.api.cognito_user_pool_arn is not None


def test_unknown_stage_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"no settings for stage 'qa'.*\['dev'\]"):
        load_stage_config({"stage": "qa", "stages": {"dev": {}}})


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"logRetentionDays": 10}, "not a CloudWatch Logs retention"),
        ({"presets": {"thumb": "w=-5"}}, "preset 'thumb'"),
        ({"presets": {"bad name": "w=10"}}, "must be an identifier"),
        ({"signingPolicy": "sometimes"}, "signing_policy|signingPolicy"),
        ({"production": True, "signingPolicy": "off"}, "production stage cannot use it"),
        ({"alarmEmail": "not-an-address"}, "alarmEmail|alarm_email"),
        ({"transformedExpiryDays": 0}, "transformedExpiryDays|transformed_expiry_days"),
        ({"logRetentonDays": 30}, "Extra inputs are not permitted"),  # a typo is an error, not a default
        ({"region": "eu-west-1", "features": {"waf": {"enabled": True}}}, "only be created in us-east-1"),
        ({"domain": {"names": ["a.example"], "certificateArn": "arn:aws:acm:eu-west-1:1:certificate/x"}},
         "certificate"),
        # Routing is fixed (uploads/ → interactive, batches/ → bulk, removals → interactive): no prefix
        # to configure, and in particular no removal routed to the bulk lane
        ({"lanes": {"bulk": {"batchSize": 5, "batchingWindowSeconds": 5, "maxConcurrency": 5,
                             "prefixes": ["uploads/acme/batches/"]}}}, "lane routing is fixed"),
        ({"lanes": {"interactive": {"batchSize": 1, "batchingWindowSeconds": 0, "maxConcurrency": 20,
                                    "prefixes": ["uploads/acme/"]}}}, "lane routing is fixed"),
        ({"lanes": {"bulk": {"batchSize": 5, "batchingWindowSeconds": 5, "maxConcurrency": 5,
                             "removedPrefixes": ["batches/"]}}}, "lane routing is fixed"),
        ({"lanes": {"interactive": {"batchSize": 1, "batchingWindowSeconds": 0, "maxConcurrency": 1}}},
         "maxConcurrency|max_concurrency"),
        ({"lanes": {"bulk": {"batchSize": 11, "batchingWindowSeconds": 0, "maxConcurrency": 2}}},
         "batchSize|batch_size"),
        ({"eagerFormats": "avif,bmp"}, "eagerFormats|eager_formats"),
        ({"features": {"originShieldRegion": "Mars"}}, "originShieldRegion|origin_shield_region"),
        ({"api": {"plans": {}}}, "at least one usage plan"),
        ({"api": {"plans": {"team": {"rateLimit": 20, "burstLimit": 40, "monthlyQuota": 100_000}}}},
         "plan 'team' is new: set its monthlyImages and storageBytes"),
        # A plan the stage's own throttle would cut short
        ({"api": {"stageRateLimit": 100}}, "plan 'enterprise' .* exceeds the stage's throttle"),
    ],
)  # fmt: skip
def test_invalid_settings_stop_synthesis_with_a_reason(settings: dict[str, Any], message: str) -> None:
    # Given a stage with one bad setting, When it is loaded, Then the error names the problem
    with pytest.raises(ConfigError, match=message):
        load_stage_config(_context(**settings))


def test_physical_names_carry_the_stage() -> None:
    config = StageConfig(stage="qa")
    assert config.physical_name("imgpipe-images") == "imgpipe-images-qa"


def test_presets_reach_the_handlers_as_compact_json() -> None:
    config = StageConfig(stage="qa", presets={"b": "w=2", "a": "w=1"})
    assert config.presets_json == '{"a":"w=1","b":"w=2"}'


def test_default_plans_agree_with_the_apis_own_limiter() -> None:
    # Given the shared per-plan numbers the API's limiter uses, Then the usage plans carry the same ones
    plans = StageConfig(stage="qa").api.plans
    assert {n: (p.rate_limit, p.burst_limit) for n, p in plans.items()} == {
        n: (PLAN_RATE_LIMIT[n], PLAN_BURST_LIMIT[n]) for n in PLAN_RATE_LIMIT
    }


def test_plans_reach_the_api_function_as_json_overrides() -> None:
    config = load_stage_config(
        _context(api={"plans": {
            "free": {"rateLimit": 2, "burstLimit": 4, "monthlyQuota": 1000, "monthlyImages": 50},
            "team": {"rateLimit": 20, "burstLimit": 40, "monthlyQuota": 10**5, "monthlyImages": 5000,
                     "storageBytes": 10**10},
        }})
    )  # fmt: skip
    assert json.loads(config.api.plans_json) == {
        "free": {"rate_limit": 2, "burst_limit": 4, "monthly_images": 50},
        "team": {"rate_limit": 20, "burst_limit": 40, "monthly_images": 5000, "storage_bytes": 10**10},
    }


def test_a_lane_given_by_its_sizes_only_keeps_the_fixed_routing() -> None:
    # Given a stage that tunes the interactive lane's sizes without naming prefixes (as cdk.json may)
    config = load_stage_config(
        _context(lanes={"interactive": {"batchSize": 2, "batchingWindowSeconds": 0, "maxConcurrency": 10}})
    )
    # Then the lane still gets the fixed notifications
    assert config.lanes.interactive.batch_size == 2
    assert config.lanes.interactive.prefixes == ("uploads/",)
    assert config.lanes.interactive.removed_prefixes == ("uploads/", "batches/")
