"""Contract tests over HTTP: schemathesis generates requests from the OpenAPI document `imgpipe dev` serves
at /v1/openapi.json and checks every answer of the local stack against it (through its API-key gate, the
API handler and moto), as the in-process tests in tests/integration do without the server."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.integration.test_api_contract import OPERATIONS
from tests.local.conftest import LiveStack

MAX_EXAMPLES = 10
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics")


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_the_local_stack_answers_as_its_served_document_says(live: LiveStack, method: str, path: str) -> None:
    # Given the document the running stack serves, and its local key
    operation = schemathesis.openapi.from_url(f"{live.url}/v1/openapi.json")[path][method]
    key = live.stack.api_key().value
    # A cursor is opaque: any string is schema-valid, but only one the listing returned is accepted (400).
    excluded = [positive_data_acceptance] if path == "/v1/images" else []

    # When schemathesis sends requests generated from it over HTTP
    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        # Then every answer conforms (status, content type, headers, schema, no server error)
        case.call_and_validate(headers={"x-api-key": key}, excluded_checks=excluded)

    check()
