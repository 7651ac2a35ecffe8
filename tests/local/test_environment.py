"""The local functions get their environment from the definition the stack uses (`infra.environment`):
key for key the synthesised environment of each Lambda, with the same values but for resource names."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imgpipe.dev import DevOptions, DevStack
from infra import constants
from infra.config import cdk_json_context, load_stage_config
from tests.infra.cfn import by_path, props
from tests.infra.conftest import assembly, dev  # noqa: F401 - the shared synthesis

# What names a resource: a CDK token when synthesised, the embedded AWS's name locally.
RESOURCE_KEYS = frozenset(
    {
        constants.ENV_ORIGINALS_BUCKET,
        constants.ENV_TRANSFORMED_BUCKET,
        constants.ENV_IMAGES_TABLE,
        constants.ENV_EVENT_BUS,
        constants.ENV_DELIVERY_BASE_URL,
    }
)
# The one deliberate difference: deployed, resize reads its signing keys from Secrets Manager (the ARN);
# locally there is none, and it is given the key document itself.
SECRET_KEYS = {constants.ENV_SIGNING_KEYS_SECRET: constants.ENV_SIGNING_KEYS}


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    """pytest-xdist's own fixture, for runs without xdist (`-p no:xdist`)."""
    return str(getattr(request.config, "workerinput", {}).get("workerid", "master"))


@pytest.fixture(scope="module")
def dev_stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    config = load_stage_config({**cdk_json_context(), "stage": "dev"})
    options = DevOptions(data_dir=tmp_path_factory.mktemp("environment"), port=0, seed=False, config=config)
    stack = DevStack(options).start()
    try:
        yield stack
    finally:
        stack.stop(grace_seconds=5)


def _synthesised(template: dict[str, Any], path: str) -> dict[str, str]:
    variables = props(by_path(template, "AWS::Lambda::Function", path)[1])["Environment"]["Variables"]
    return {key: value for key, value in variables.items() if key.startswith("IMGPIPE_")}


def _comparable(environment: dict[str, Any]) -> dict[str, Any]:
    return {
        SECRET_KEYS.get(key, key): (
            None if key in RESOURCE_KEYS | set(SECRET_KEYS) | set(SECRET_KEYS.values()) else value
        )
        for key, value in environment.items()
    }


@pytest.mark.parametrize(
    ("function", "path"),
    [
        ("ingest interactive", "/Pipeline/Interactive/Ingest/"),
        ("ingest bulk", "/Pipeline/Bulk/Ingest/"),
        ("resize", "/Delivery/Resize/"),
        ("api", "/Api/Handler/"),
    ],
)
def test_each_local_function_has_the_environment_the_stack_gives_it(
    dev_stage: DevStack,
    dev: dict[str, Any],  # noqa: F811 - the fixture imported above
    function: str,
    path: str,
) -> None:
    # Given the dev stage, synthesised and running locally
    local = {
        "ingest interactive": lambda: dev_stage.ingest_environment(constants.LANE_INTERACTIVE),
        "ingest bulk": lambda: dev_stage.ingest_environment(constants.LANE_BULK),
        "resize": dev_stage.resize_environment,
        "api": dev_stage.api_environment,
    }[function]()
    # Then the keys are the same, and so is every value that is not a resource's name
    synthesised = _synthesised(dev, path)
    assert _comparable(local) == _comparable(synthesised)
    assert json.loads(local[constants.ENV_PRESETS]) == json.loads(synthesised[constants.ENV_PRESETS])


def test_the_one_definition_needs_no_cdk() -> None:
    probe = "import sys, infra.environment; print(sorted(m for m in sys.modules if m.startswith('aws_cdk')))"
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        check=True,
    ).stdout
    assert out.strip() == b"[]"
