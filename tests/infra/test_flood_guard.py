"""Flood guard: misses on nonexistent keys cannot starve ingest and the API, and repeated ones stay at the
edge.

Every uncached key, even one that names nothing, fails over from the transformed bucket to the resize
function. Two things bound what that costs: resize's reserved concurrency (a stage setting) caps its share
of the account's concurrency, and its 404 carries `Cache-Control: public, max-age=60`, which CloudFront
honours for error responses (it caches an error for the larger of the origin's max-age and the error
caching minimum TTL, 10 s by default, up to the behaviour's maximum TTL), so the same miss is answered at
the edge for a minute.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from imgpipe.delivery import ERROR_MAX_AGE, Problem
from infra.config import ConfigError, StageConfig, cdk_json_context, load_stage_config
from tests.infra.cfn import by_path, only, props

Template = dict[str, Any]


def test_resize_has_the_stages_reserved_concurrency(dev: Template, euwest: Template) -> None:
    # Given the default setting, Then resize can take at most (and always has) that many executions
    reserved = load_stage_config(cdk_json_context()).resize_reserved_concurrency
    assert reserved == StageConfig(stage="qa").resize_reserved_concurrency == 50
    resize = props(by_path(dev, "AWS::Lambda::Function", "/Delivery/Resize/")[1])
    assert resize["ReservedConcurrentExecutions"] == reserved
    # And no other function reserves any (ingest is bounded by its lanes' maximum concurrency)
    for fragment in ("/Pipeline/Interactive/Ingest/", "/Pipeline/Bulk/Ingest/", "/Api/Handler/"):
        assert "ReservedConcurrentExecutions" not in props(by_path(dev, "AWS::Lambda::Function", fragment)[1])
    # And a stage may leave it unreserved (an account whose concurrency quota is still the new-account 10)
    euwest_resize = props(by_path(euwest, "AWS::Lambda::Function", "/Delivery/Resize/")[1])
    assert "ReservedConcurrentExecutions" not in euwest_resize


@pytest.mark.parametrize("value", [0, -1, 901, "many"])
def test_reserved_concurrency_out_of_range_is_refused(value: object) -> None:
    with pytest.raises(ConfigError, match=r"resizeReservedConcurrency|resize_reserved_concurrency"):
        load_stage_config({"stage": "qa", "stages": {"qa": {"resizeReservedConcurrency": value}}})


def test_a_miss_on_a_nonexistent_key_is_cached_at_the_edge(dev: Template) -> None:
    # Given resize's answer for a key that names no image
    not_found = Problem(404, "not-found", "no such source")
    max_age = re.fullmatch(r"public, max-age=(\d+)", not_found.cache_control)
    assert max_age is not None and int(max_age.group(1)) == ERROR_MAX_AGE >= 10
    # Then the default behaviour lets CloudFront keep it that long: its cache policy's maximum TTL is
    # above the max-age, and no custom error response overrides the origin's caching of 404s
    config = props(only(dev, "AWS::CloudFront::Distribution")[1])["DistributionConfig"]
    policy_id = config["DefaultCacheBehavior"]["CachePolicyId"]["Ref"]
    policy = props(dev["Resources"][policy_id])["CachePolicyConfig"]
    assert policy["MaxTTL"] >= ERROR_MAX_AGE
    for response in config.get("CustomErrorResponses", []):
        assert response["ErrorCode"] != 404 or response.get("ErrorCachingMinTTL", 10) >= ERROR_MAX_AGE
