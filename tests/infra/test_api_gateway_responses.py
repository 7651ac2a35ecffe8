"""API Gateway's own refusals are problems too: a missing key, its throttles, an unknown path."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.cfn import props, resources

# What API Gateway itself answers for each refusal, as the template must say it.
EXPECTED = {
    "INVALID_API_KEY": ("403", "invalid-api-key"),
    "MISSING_AUTHENTICATION_TOKEN": ("404", "no-route"),
    "UNAUTHORIZED": ("401", "unauthenticated"),
    "ACCESS_DENIED": ("403", "forbidden"),
    "THROTTLED": ("429", "throttled"),
    "QUOTA_EXCEEDED": ("429", "quota-exceeded"),
    "REQUEST_TOO_LARGE": ("413", "body-too-large"),
    "DEFAULT_4XX": (None, "gateway-refused"),
    "DEFAULT_5XX": (None, "gateway-error"),
}


def _responses(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = resources(template, "AWS::ApiGateway::GatewayResponse")
    return {props(resource)["ResponseType"]: props(resource) for resource in found.values()}


@pytest.mark.parametrize("stage", ["dev", "full"])
def test_every_refusal_of_the_gateway_is_a_problem_document(
    stage: str, request: pytest.FixtureRequest
) -> None:
    # Given the synthesised API
    responses = _responses(request.getfixturevalue(stage))
    assert responses.keys() == EXPECTED.keys()
    for response_type, (status, code) in EXPECTED.items():
        response = responses[response_type]
        # Then it answers with the status, the problem media type and no caching
        assert response.get("StatusCode") == status, response_type
        headers = response["ResponseParameters"]
        assert headers["gatewayresponse.header.Content-Type"] == "'application/problem+json'"
        assert headers["gatewayresponse.header.Cache-Control"] == "'no-store'"
        assert ("gatewayresponse.header.Retry-After" in headers) == (status == "429"), response_type
        # And a body that is an RFC 9457 document once API Gateway fills in its message
        template = response["ResponseTemplates"]["application/json"]
        document = json.loads(template.replace("$context.error.messageString", '"Forbidden"'))
        assert document["type"] == f"urn:imgpipe:problem:{code}"
        assert document["detail"] == "Forbidden" and document["title"]
        assert document.get("status") == (int(status) if status else None)
