"""Contract tests over HTTP: schemathesis generates requests from the OpenAPI document `imgpipe dev` serves
at /v1/openapi.json and checks every answer of the local stack against it (through its API-key gate, the
API handler and moto), as the in-process tests in tests/integration do without the server."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from tests.integration.test_api_contract import CASES, all_checks
from tests.local.conftest import LiveStack

MAX_EXAMPLES = 10
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics")


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_the_local_stack_answers_as_its_served_document_says(
    live: LiveStack, method: str, path: str, mode: GenerationMode
) -> None:
    # Given the document the running stack serves, and its local key
    schema = schemathesis.openapi.from_url(f"{live.url}/v1/openapi.json")
    if path == "/v1/images":
        # A cursor is opaque: any string is schema-valid, but only one the listing returned is accepted,
        # and anything else gets the documented 400 `invalid-cursor`.
        acceptance = schema.config.checks.positive_data_acceptance
        acceptance.expected_statuses = [*acceptance.expected_statuses, "400"]
    operation = schema[path][method]
    key = live.stack.api_key().value
    checks = all_checks()

    # When schemathesis sends requests generated from it over HTTP, positive and negative, every check on
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        # Then every answer conforms (status, content type, headers, schema, no server error)
        case.call_and_validate(headers={"x-api-key": key}, checks=checks)

    check()
