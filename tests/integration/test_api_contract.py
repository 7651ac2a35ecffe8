"""Contract tests: schemathesis generates requests from the served OpenAPI document (/v1/openapi.json) and
checks every response against it (status codes, content types, headers, bodies, no 5xx), calling the
handler in-process through the WSGI shim with moto behind it."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.ports import ApiKeyBinding
from tests.builders import encode, photo_like
from tests.integration.api_stack import ApiStack, api_stack, wsgi_app

__all__ = ["api_stack"]

CONTRACT_KEY = "key-contract"
MAX_EXAMPLES = 25
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
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_operation_conforms_to_the_document(api_stack: ApiStack, method: str, path: str) -> None:
    # Given a tenant on the enterprise plan (a burst no run reaches) with a batch and a ready image, so
    # generated requests reach success paths as well as the 404s
    api_stack.repository.put_api_key(
        ApiKeyBinding(api_key_id=CONTRACT_KEY, tenant="contract", plan="enterprise")
    )
    api_stack.add_batch("contract", "b1", expected=1)
    api_stack.add_image("contract", number=1, batch_id="b1", data=encode(photo_like(32, 24), "JPEG"))
    operation = schemathesis.openapi.from_wsgi("/v1/openapi.json", wsgi_app)[path][method]
    # A cursor is opaque: any string is schema-valid, but only one the listing returned is accepted (400).
    excluded = [positive_data_acceptance] if path == "/v1/images" else []

    # When schemathesis generates requests from the served document
    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        # Then every response conforms to it (status, content type, headers, schema, no server error)
        case.call_and_validate(headers={"x-api-key": CONTRACT_KEY}, excluded_checks=excluded)

    check()
