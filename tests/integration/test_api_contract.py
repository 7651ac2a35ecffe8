"""Contract tests: schemathesis generates requests from the served OpenAPI document (/v1/openapi.json) and
checks every response against it (status codes, content types, headers, bodies, no 5xx), calling the
handler in-process through the WSGI shim with moto behind it."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.result import Ok

from api.ports import ApiKeyBinding
from tests.builders import encode, photo_like
from tests.integration.api_stack import ApiStack, api_stack, wsgi_app

__all__ = ["api_stack"]

CONTRACT_KEY = "key-contract"
MAX_EXAMPLES = 40
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics")


OPERATIONS = [
    ("GET", "/v1/health"),
    ("POST", "/v1/uploads"),
    ("GET", "/v1/images"),
    ("GET", "/v1/images/{image_id}"),
    ("DELETE", "/v1/images/{image_id}"),
    ("POST", "/v1/batches"),
    ("GET", "/v1/batches/{batch_id}"),
    ("POST", "/v1/batches/{batch_id}/export"),
]


def test_the_document_names_exactly_these_operations(api_stack: ApiStack) -> None:
    schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", wsgi_app)
    labels = {result.ok().label for result in schema.get_all_operations() if isinstance(result, Ok)}
    assert labels == {f"{method} {path}" for method, path in OPERATIONS}


# schemathesis' pytest loader (`from_fixture`) reads a private pytest attribute that pytest 9 removed, so
# each operation's strategy is driven by hypothesis here directly: the same generation and checks.
def all_checks() -> list[Any]:
    """Every check schemathesis has, not only the default set (`--checks all`)."""
    load_all_checks()
    return list(CHECKS.get_all())


# Negative cases break the document's rules (types, lengths, patterns, required fields); health has no
# input to break.
CASES = [
    pytest.param(method, path, mode, id=f"{method} {path} {mode.value}")
    for method, path in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if path != "/v1/health" or mode is GenerationMode.POSITIVE
]


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_operation_conforms_to_the_document(
    api_stack: ApiStack, method: str, path: str, mode: GenerationMode
) -> None:
    # Given a tenant on the enterprise plan (a burst no run reaches) with a batch and a ready image, so
    # generated requests reach success paths as well as the 404s
    api_stack.repository.put_api_key(
        ApiKeyBinding(api_key_id=CONTRACT_KEY, tenant="contract", plan="enterprise")
    )
    api_stack.add_batch("contract", "b1", expected=1)
    api_stack.add_image("contract", number=1, batch_id="b1", data=encode(photo_like(32, 24), "JPEG"))
    schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", wsgi_app)
    if path == "/v1/images":
        # A cursor is opaque: any string is schema-valid, but only one the listing returned is accepted,
        # and anything else gets the documented 400 `invalid-cursor`. The check stays on; it accepts that.
        acceptance = schema.config.checks.positive_data_acceptance
        acceptance.expected_statuses = [*acceptance.expected_statuses, "400"]
    operation = schema[path][method]
    checks = all_checks()

    # When schemathesis generates requests from the served document
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        # Then every response conforms to it (status, content type, headers, schema, no server error)
        case.call_and_validate(headers={"x-api-key": CONTRACT_KEY}, checks=checks)

    check()
