"""The REST contract: routing, validation, problem+json everywhere, the OpenAPI document and docs page."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from openapi_spec_validator import validate

from api import handler
from api.service import ApiService
from tests.unit.api.conftest import Api, assert_problem


def test_health_answers_without_credentials(api: Api) -> None:
    # Given no API key
    # When the health route is called
    reply = api.call("GET", "/v1/health", key=None)
    # Then it answers ok with the API version
    assert reply.status == 200
    assert reply.json == {"status": "ok", "version": "1.0.0"}


def test_openapi_document_lists_every_route_with_problem_responses(api: Api) -> None:
    # When the OpenAPI document is fetched
    reply = api.call("GET", "/v1/openapi.json", key=None)
    # Then it is JSON describing each route, with problem+json errors and the API key scheme
    assert reply.status == 200
    assert reply.content_type == "application/json"
    document = json.loads(reply.body)
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    assert set(paths) == {
        "/v1/health",
        "/v1/uploads",
        "/v1/images",
        "/v1/images/{image_id}",
        "/v1/batches",
        "/v1/batches/{batch_id}",
        "/v1/batches/{batch_id}/export",
    }
    assert set(paths["/v1/images/{image_id}"]) == {"get", "delete"}
    too_many = paths["/v1/uploads"]["post"]["responses"]["429"]
    assert "application/problem+json" in too_many["content"]
    assert "Retry-After" in too_many["headers"]
    assert document["components"]["securitySchemes"]["apiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
    }


def test_docs_page_is_html_with_the_document_embedded(api: Api) -> None:
    reply = api.call("GET", "/v1/docs", key=None)
    assert reply.status == 200
    assert reply.content_type.startswith("text/html")
    assert "imgpipe management API" in reply.body
    assert "swagger" in reply.body.lower()


def test_unknown_path_is_a_404_problem(api: Api) -> None:
    assert_problem(api.call("GET", "/v1/nowhere"), 404, "no-route")


def test_known_path_with_another_method_is_405_with_allow(api: Api) -> None:
    # When a route is called with a method it does not support
    reply = api.call("PUT", "/v1/images/img_1")
    # Then 405 names the methods it does support
    assert_problem(reply, 405, "method-not-allowed")
    assert reply.headers["Allow"] == "DELETE, GET"


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ({"filename": "a.jpg"}, "body.content_type"),
        ({"filename": "a.jpg", "content_type": "image/jpeg", "size": 0}, "body.size"),
        ({"filename": "a.jpg", "content_type": "image/jpeg", "surprise": 1}, "body.surprise"),
        ({"filename": "a.jpg", "content_type": "image/jpeg", "batch_id": "../x"}, "body.batch_id"),
    ],
)
def test_invalid_bodies_are_422_problems_that_name_where_not_what(
    api: Api, body: object, location: str
) -> None:
    # When the body does not match the schema
    reply = api.call("POST", "/v1/uploads", body=body)
    # Then the problem says where and what kind, never echoing the input or pydantic's prose
    problem = assert_problem(reply, 422, "invalid-request")
    assert any(error["loc"].startswith(location) for error in problem["errors"])
    assert all(set(error) == {"loc", "type"} for error in problem["errors"])
    assert "../x" not in reply.body


def test_invalid_query_is_a_422_problem(api: Api) -> None:
    reply = api.call("GET", "/v1/images", query={"limit": "1000"})
    problem = assert_problem(reply, 422)
    assert problem["errors"][0]["loc"] == "query.limit"


def test_an_unexpected_failure_is_a_500_problem_without_details(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a repository that fails with an internal message
    def explode(_: object) -> None:
        raise RuntimeError("arn:aws:dynamodb:eu-west-1:123456789012:table/secret-table exploded")

    monkeypatch.setattr(api.repository, "get_image", explode)
    # When a route hits it
    reply = api.call("GET", "/v1/images/img_1")
    # Then the caller sees a generic problem
    assert_problem(reply, 500, "internal")
    assert "secret-table" not in reply.body
    assert "RuntimeError" not in reply.body


def test_handler_builds_its_service_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the stack's environment
    for name, value in {
        "IMGPIPE_ORIGINALS_BUCKET": "orig-bucket",
        "IMGPIPE_TRANSFORMED_BUCKET": "trans-bucket",
        "IMGPIPE_IMAGES_TABLE": "images-table",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    handler._service_from_env.cache_clear()
    try:
        # When the service is built at cold start
        built = handler.service()
        # Then it carries those settings
        assert isinstance(built, ApiService)
        assert built.settings.originals_bucket == "orig-bucket"
        assert built.settings.images_table == "images-table"
    finally:
        handler._service_from_env.cache_clear()


def _schemas_in(node: Any) -> list[dict[str, Any]]:
    """Every JSON object under `node` that is a schema with `required` names."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if isinstance(node.get("required"), list) and isinstance(node.get("properties"), dict):
            found.append(node)
        for value in node.values():
            found.extend(_schemas_in(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_schemas_in(value))
    return found


def test_served_document_is_a_valid_openapi_document(api: Api) -> None:
    # When the served document is checked by an OpenAPI validator
    document = json.loads(api.call("GET", "/v1/openapi.json", key=None).body)
    validate(document)
    # And every required property is one the schema defines (Powertools' ValidationError required `msg`
    # and defined no such property; JSON Schema allows that, clients generated from it break)
    for schema in _schemas_in(document):
        assert set(schema["required"]) <= set(schema["properties"]), schema
    # And every reference resolves
    text = json.dumps(document)
    for name in set(re.findall(r'"#/components/schemas/([^"]+)"', text)):
        assert name in document["components"]["schemas"], name


def test_served_document_names_the_url_clients_call(api: Api) -> None:
    # Given a deployment whose delivery URL (CloudFront, where /v1/* reaches the API) is img.example
    # When the document and the docs page are fetched
    document = json.loads(api.call("GET", "/v1/openapi.json", key=None).body)
    page = api.call("GET", "/v1/docs", key=None).body
    # Then the server is that URL (paths hold /v1), not the API Gateway stage ("/dev"), and the docs
    # page's "Try it out" uses the same document
    assert document["servers"] == [{"url": "https://img.example"}]
    assert '"url": "https://img.example"' in page
    assert '"/dev"' not in page
    assert set(document["paths"]) <= set(re.findall(r'"(/v1/[^"]*)": \{', page))


def test_without_a_delivery_url_the_document_names_its_own_origin(api: Api) -> None:
    api.reconfigure(delivery_base_url=None)
    document = json.loads(api.call("GET", "/v1/openapi.json", key=None).body)
    assert document["servers"] == [{"url": "/"}]
