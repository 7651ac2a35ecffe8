"""Hostile and malformed requests through the handler, as API Gateway delivers them: each gets a 4xx
problem (415 not JSON, 413 too big, 400 unparseable, 422 invalid), never a 500, never an ERROR log."""

from __future__ import annotations

import base64
import json

import pytest

from api import handler as api_handler
from tests.events import FakeLambdaContext
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
@pytest.mark.parametrize(
    "body",
    ["{not json", '{"size": NaN}', "\ufeff{}", '"' + '\\"' * 8000, '"\\' * 8000],
    ids=["syntax", "nan", "bom", "unterminated-escaped-quotes", "unterminated-escapes"],
)
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


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/batches", {"expected": True}),
        ("/v1/batches", {"expected": "5"}),
        ("/v1/batches", {"expected": 2.5}),
        ("/v1/uploads", {**UPLOAD, "size": True}),
        ("/v1/uploads", {**UPLOAD, "size": "1000"}),
    ],
)
def test_a_number_field_takes_only_json_integers(api: Api, path: str, body: dict[str, object]) -> None:
    # When a number field gets a boolean, a string or a fraction (lax pydantic would take true as 1)
    reply = post(path, json.dumps(body))
    # Then it is invalid
    assert_problem(reply, 422, "invalid-request")


def test_an_integer_written_with_a_zero_fraction_is_an_integer(api: Api) -> None:
    # JSON Schema's integer includes 3.0, and so the document's `integer` does
    reply = post("/v1/batches", json.dumps({"expected": 3.0}))
    assert reply.status == 201, reply.body
    assert reply.json["expected"] == 3


def test_the_resolver_itself_refuses_unreadable_bodies(api: Api) -> None:
    # Given the resolver as imgpipe dev calls it (app.resolve, without the Lambda handler's decorators)
    event = rest_event(
        "POST",
        "/v1/uploads",
        body=base64.b64encode(b"\t[\xff@").decode("ascii"),
        base64_body=True,
        api_key_id=KEY_A,
    )
    # Then a body that is not UTF-8 is a 400 there too
    reply = api_handler.app.resolve(event, FakeLambdaContext())  # type: ignore[arg-type]
    assert reply["statusCode"] == 400
    assert json.loads(reply["body"])["type"] == "urn:imgpipe:problem:invalid-json"


@pytest.mark.parametrize(
    "query",
    [{"limt": "5"}, {"limit": "5", "": "null"}],
)
def test_a_query_parameter_the_route_does_not_take_is_422(api: Api, query: dict[str, str]) -> None:
    reply = api.call("GET", "/v1/images", query=query)
    problem = assert_problem(reply, 422, "invalid-request")
    assert problem["errors"] == [{"loc": "query", "type": "extra_forbidden"}]


def test_a_query_parameter_given_twice_is_422(api: Api) -> None:
    # Given ?batch=a&batch=b (API Gateway lists both; the handler would see only the last)
    event = rest_event("GET", "/v1/images", query={"batch": "b"}, api_key_id=KEY_A)
    event["multiValueQueryStringParameters"] = {"batch": ["a", "b"]}
    reply = invoke(event)
    # Then it is invalid: each parameter is one value (Powertools sees the list)
    problem = assert_problem(reply, 422, "invalid-request")
    assert [error["loc"] for error in problem["errors"]] == ["query.batch"]


def test_path_parameter_limits_apply_to_the_decoded_value(api: Api) -> None:
    # Given ids as a REST API passes them: percent-encoded in the path
    within = "%C3%A9" * 128  # 128 characters decoded, 768 encoded
    beyond = "%41" * 129  # 129 characters decoded
    # Then one within the limit is looked up (and not found), one beyond it is invalid
    assert_problem(api.call("GET", f"/v1/images/{within}"), 404, "not-found")
    assert_problem(api.call("GET", f"/v1/batches/{within}"), 404, "not-found")
    problem = assert_problem(api.call("GET", f"/v1/images/{beyond}"), 422, "invalid-request")
    assert problem["errors"] == [{"loc": "path.image_id", "type": "string_too_long"}]


def test_an_encoded_id_is_found_by_its_decoded_value(api: Api) -> None:
    record = api.add_image(number=7)
    encoded = "".join(f"%{byte:02X}" for byte in record.image_id.encode())
    assert api.call("GET", f"/v1/images/{encoded}").json["image_id"] == record.image_id


def test_brackets_and_digits_inside_strings_are_text(api: Api) -> None:
    # Given a file name full of brackets and a long run of digits (text, not nesting or a number)
    name = "[[[[[[[[[[{{{{{{{{ 12345678901234567890123456789.jpg"
    reply = post("/v1/uploads", json.dumps({**UPLOAD, "filename": name}))
    # Then it is an ordinary upload request
    assert reply.status == 201, reply.body
