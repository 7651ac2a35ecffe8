"""Hostile and malformed requests through the handler, as API Gateway delivers them: each gets a 4xx
problem (415 not JSON, 413 too big, 400 unparseable, 422 invalid), never a 500, never an ERROR log."""

from __future__ import annotations

import base64
import json

import pytest

from tests.fakes.api import Reply, invoke, rest_event
from tests.unit.api.conftest import KEY_A, Api, assert_problem

UPLOAD = {"filename": "a.jpg", "content_type": "image/jpeg"}
JSON_ROUTES = ["/v1/uploads", "/v1/batches"]


def post(path: str, body: str | bytes, *, content_type: str | None = "application/json") -> Reply:
    """POST as API Gateway passes it on: text as is, bytes that are not UTF-8 text base64-encoded."""
    headers = {"Content-Type": content_type} if content_type is not None else {}
    if isinstance(body, bytes):
        encoded = base64.b64encode(body).decode("ascii")
        return invoke(
            rest_event("POST", path, body=encoded, base64_body=True, api_key_id=KEY_A, headers=headers)
        )
    return invoke(rest_event("POST", path, body=body, api_key_id=KEY_A, headers=headers))


def assert_no_error_logged(capsys: pytest.CaptureFixture[str]) -> None:
    logged = capsys.readouterr()
    assert '"level":"ERROR"' not in logged.out + logged.err
    assert "Traceback" not in logged.out + logged.err


@pytest.mark.parametrize("path", JSON_ROUTES)
@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", json.dumps(UPLOAD)),
        ("application/xml", "<upload><filename>a.jpg</filename></upload>"),
        ("application/x-www-form-urlencoded", "filename=a.jpg&content_type=image%2Fjpeg"),
        ("application/json; charset=utf-16", json.dumps(UPLOAD)),
    ],
)
def test_a_body_that_is_not_json_is_415(
    api: Api, capsys: pytest.CaptureFixture[str], path: str, content_type: str, body: str
) -> None:
    # When a JSON route gets a body of another media type
    reply = post(path, body, content_type=content_type)
    # Then it is refused as such, quietly
    assert_problem(reply, 415, "unsupported-media-type")
    assert_no_error_logged(capsys)


@pytest.mark.parametrize("path", JSON_ROUTES)
@pytest.mark.parametrize(
    "body",
    ["[" * 2000 + "]" * 2000, '{"a":' * 2000 + "1" + "}" * 2000, "[" * 1400],
    ids=["list", "object", "open"],
)
def test_json_nested_thousands_deep_is_400(
    api: Api, capsys: pytest.CaptureFixture[str], path: str, body: str
) -> None:
    # When the body nests deeper than Python's recursion limit allows json to parse
    reply = post(path, body)
    # Then it is a client error, not a RecursionError
    assert_problem(reply, 400, "invalid-json")
    assert_no_error_logged(capsys)


@pytest.mark.parametrize("path", JSON_ROUTES)
def test_an_integer_of_4400_digits_is_422(api: Api, capsys: pytest.CaptureFixture[str], path: str) -> None:
    # Given a number past Python's int-string conversion limit (4300 digits raises ValueError)
    body = '{"size": ' + "9" * 4400 + "}"
    # When it is posted
    reply = post(path, body)
    # Then it is invalid input
    assert_problem(reply, 422, "invalid-request")
    assert_no_error_logged(capsys)


@pytest.mark.parametrize("path", JSON_ROUTES)
@pytest.mark.parametrize(
    "data",
    [
        b'{"filename": "\xff\xfe.jpg", "content_type": "image/jpeg"}',
        json.dumps(UPLOAD).encode("utf-16"),
        json.dumps(UPLOAD).encode("utf-16-le"),
    ],
    ids=["latin-bytes", "utf-16-bom", "utf-16-le"],
)
def test_a_body_that_is_not_utf8_is_400(
    api: Api, capsys: pytest.CaptureFixture[str], path: str, data: bytes
) -> None:
    # When the body's bytes are not UTF-8 (API Gateway base64-encodes them)
    reply = post(path, data)
    # Then it cannot be parsed
    assert_problem(reply, 400, "invalid-json")
    assert_no_error_logged(capsys)


@pytest.mark.parametrize("path", JSON_ROUTES)
@pytest.mark.parametrize("body", ["{not json", '{"size": NaN}', "\ufeff{}"], ids=["syntax", "nan", "bom"])
def test_a_body_that_is_not_json_text_is_400(
    api: Api, capsys: pytest.CaptureFixture[str], path: str, body: str
) -> None:
    reply = post(path, body)
    assert_problem(reply, 400, "invalid-json")
    assert_no_error_logged(capsys)


@pytest.mark.parametrize("path", JSON_ROUTES)
def test_a_body_larger_than_any_request_is_413(
    api: Api, capsys: pytest.CaptureFixture[str], path: str
) -> None:
    reply = post(path, json.dumps({"filename": "a" * 20_000, "content_type": "image/jpeg"}))
    assert_problem(reply, 413, "body-too-large")
    assert_no_error_logged(capsys)


@pytest.mark.parametrize("depth", [1400, 1600, 3000])
def test_a_cursor_of_thousands_of_brackets_is_400(
    api: Api, capsys: pytest.CaptureFixture[str], depth: int
) -> None:
    # Given a cursor that decodes to deeply nested JSON, within the cursor's length limit
    cursor = base64.urlsafe_b64encode(b"[" * depth).decode("ascii").rstrip("=")[:2048]
    # When the listing is asked to continue from it
    reply = api.call("GET", "/v1/images", query={"cursor": cursor})
    # Then it is not a cursor this listing returned
    assert_problem(reply, 400, "invalid-cursor")
    assert_no_error_logged(capsys)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PATCH", "/v1/images/img_1", "DELETE, GET"),
        ("PUT", "/v1/uploads", "POST"),
        ("DELETE", "/v1/batches", "POST"),
        ("GET", "/v1/batches/b1/export", "POST"),
        ("OPTIONS", "/v1/images", "GET"),
    ],
)
def test_a_method_the_route_lacks_is_405_problem_with_allow(
    api: Api, capsys: pytest.CaptureFixture[str], method: str, path: str, allow: str
) -> None:
    # When a known path is called with a method it does not have, with a text body even
    reply = invoke(
        rest_event(method, path, body="x", api_key_id=KEY_A, headers={"Content-Type": "text/plain"})
    )
    # Then the answer is a 405 problem naming the methods it has
    assert_problem(reply, 405, "method-not-allowed")
    assert reply.headers["Allow"] == allow
    assert_no_error_logged(capsys)


def test_a_well_formed_body_still_passes(api: Api) -> None:
    # Given JSON with a charset parameter and insignificant whitespace
    reply = post("/v1/uploads", json.dumps(UPLOAD, indent=4), content_type="application/json; charset=UTF-8")
    # Then the upload is presigned
    assert reply.status == 201, reply.body
