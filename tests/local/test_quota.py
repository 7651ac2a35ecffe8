"""Ingest counts uploads against the tenant's plan locally too (its environment names the plans)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from imgpipe.dev import DevOptions, DevStack
from imgpipe.dev.datadir import DataDir
from imgpipe.dev.ops import wait_for
from infra.config import ApiConfig, PlanConfig, StageConfig
from infra.constants import PLAN_BURST_LIMIT, PLAN_FREE, PLAN_RATE_LIMIT
from tests.builders import colour_card, encode

FREE_IMAGES = 3
TENANT = "small-shop"


@pytest.fixture(scope="module")
def free_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    plans = dict(ApiConfig().plans)
    plans[PLAN_FREE] = PlanConfig(
        rate_limit=PLAN_RATE_LIMIT[PLAN_FREE],
        burst_limit=PLAN_BURST_LIMIT[PLAN_FREE],
        monthly_quota=10_000,
        monthly_images=FREE_IMAGES,
    )
    data_dir = tmp_path_factory.mktemp("quota")
    DataDir(data_dir).ensure().api_keys(TENANT, plan=PLAN_FREE)  # bound to its tenant and plan at start
    config = StageConfig(stage="local", api=ApiConfig(plans=plans))
    stack = DevStack(DevOptions(data_dir=data_dir, port=0, seed=False, config=config)).start()
    try:
        yield stack
    finally:
        stack.stop(grace_seconds=5)


def test_a_free_plan_of_three_images_rejects_the_fourth_at_ingest_with_reason_quota(
    free_stack: DevStack,
) -> None:
    # Given a tenant on a free plan of 3 images a month
    keys = [f"uploads/{TENANT}/photo-{index}.png" for index in range(FREE_IMAGES + 1)]
    # When 4 images are uploaded straight to the bucket (no API in the way to refuse them)
    for index, key in enumerate(keys):
        free_stack.put_original(key, encode(colour_card(60 + index, 40), "PNG"), "image/png")
    records = wait_for(free_stack.target(), keys, timeout=60, interval=0.2)
    # Then 3 are READY and the other is REJECTED by ingest with the reason `quota`
    statuses = sorted((record.status, record.reason) for record in records.values() if record is not None)
    assert statuses == [("READY", None)] * FREE_IMAGES + [("REJECTED", "quota")]
