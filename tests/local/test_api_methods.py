"""Methods a route does not have, through imgpipe dev's port: a 405 problem with `Allow`, never the
stdlib's HTML 501 (deployed, API Gateway's ANY passes the seven methods CloudFront forwards)."""

from __future__ import annotations

import json

import pytest

from tests.local.conftest import LiveStack, fetch

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics")


@pytest.mark.parametrize("method", ["PATCH", "PUT", "TRACE", "PROPFIND"])
def test_a_method_the_route_lacks_is_a_405_problem(live: LiveStack, method: str) -> None:
    # When an image is asked for with a method its route does not have
    answer = fetch(
        f"{live.url}/v1/images/img_1", method=method, headers={"x-api-key": live.stack.api_key().value}
    )
    # Then the answer is a problem naming the methods it has
    assert answer.status == 405
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["allow"] == "DELETE, GET"
    assert json.loads(answer.body)["type"] == "urn:imgpipe:problem:method-not-allowed"
