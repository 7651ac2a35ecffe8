"""POST /v1/uploads: a presigned POST for one key under the caller's tenant (and batch)."""

from __future__ import annotations

from imgpipe.uploads import UploadKey
from tests.unit.api.conftest import KEY_B, TENANT_A, Api, assert_problem


def test_presign_puts_the_key_under_the_callers_tenant(api: Api) -> None:
    # When tenant A asks for an upload of a 1,000-byte JPEG
    reply = api.call(
        "POST", "/v1/uploads", body={"filename": "Beach day.jpg", "content_type": "image/jpeg", "size": 1000}
    )
    # Then the key is under uploads/acme/, the name is kept (made key-safe) and the POST is limited
    assert reply.status == 201
    body = reply.json
    parsed = UploadKey.parse(body["key"])
    assert parsed.tenant == TENANT_A
    assert parsed.batch_id is None
    assert body["key"].endswith("/Beach-day.jpg")
    assert body["max_bytes"] == 1000
    assert body["expires_at"] == "2026-12-01T10:15:00.000000Z"
    (signed,) = api.signer.posts
    assert (signed.key, signed.content_type, signed.max_bytes) == (body["key"], "image/jpeg", 1000)
    assert body["fields"]["key"] == body["key"]


def test_two_uploads_of_the_same_name_get_different_keys(api: Api) -> None:
    body = {"filename": "a.jpg", "content_type": "image/jpeg"}
    first = api.call("POST", "/v1/uploads", body=body).json["key"]
    second = api.call("POST", "/v1/uploads", body=body).json["key"]
    assert first != second


def test_without_a_size_the_configured_maximum_bounds_the_post(api: Api) -> None:
    reply = api.call("POST", "/v1/uploads", body={"filename": "a.png", "content_type": "image/png"})
    assert reply.status == 201
    assert api.signer.posts[0].max_bytes == 50 * 1024 * 1024
    assert api.signer.posts[0].content_type == "image/png"


def test_batch_upload_uses_the_batch_path(api: Api) -> None:
    # Given a batch of tenant A
    api.add_batch(batch_id="summer")
    # When an upload names it
    reply = api.call(
        "POST", "/v1/uploads", body={"filename": "x.webp", "content_type": "image/webp", "batch_id": "summer"}
    )
    # Then the key is batches/{tenant}/{batch}/...: the prefix S3 notifies straight to the bulk lane
    assert reply.status == 201
    key = reply.json["key"]
    assert key.startswith("batches/acme/summer/")
    assert UploadKey.parse(key).batch_id == "summer"
    # And the POST policy accepts exactly that key and nothing under uploads/
    assert reply.json["fields"]["key"] == key


def test_batch_of_another_tenant_is_not_found(api: Api) -> None:
    api.add_batch(tenant="globex", batch_id="theirs")
    reply = api.call(
        "POST", "/v1/uploads", body={"filename": "x.jpg", "content_type": "image/jpeg", "batch_id": "theirs"}
    )
    assert_problem(reply, 404, "not-found")
    # While its owner may upload into it
    ok = api.call(
        "POST",
        "/v1/uploads",
        key=KEY_B,
        body={"filename": "x.jpg", "content_type": "image/jpeg", "batch_id": "theirs"},
    )
    assert ok.status == 201


def test_traversal_in_the_file_name_stays_inside_the_tenant(api: Api) -> None:
    reply = api.call(
        "POST", "/v1/uploads", body={"filename": "../../globex/evil.jpg", "content_type": "image/jpeg"}
    )
    assert reply.status == 201
    key = reply.json["key"]
    assert UploadKey.parse(key).tenant == TENANT_A
    assert ".." not in key and "globex" not in key


def test_types_and_sizes_outside_the_accepted_ones_answer_as_documented(api: Api) -> None:
    # Given a PDF, 60 MiB (the maximum is 50 MiB) and something that is no media type at all
    pdf = {"filename": "a.pdf", "content_type": "application/pdf"}
    huge = {"filename": "a.jpg", "content_type": "image/jpeg", "size": 60 * 1024 * 1024}
    nonsense = {"filename": "a.jpg", "content_type": "jpeg please"}
    # Then the type is 415 `unsupported-type`, the size 413 `too-large` (docs/api.md), the rest 422
    assert_problem(api.call("POST", "/v1/uploads", body=pdf), 415, "unsupported-type")
    assert_problem(api.call("POST", "/v1/uploads", body=huge), 413, "too-large")
    assert_problem(api.call("POST", "/v1/uploads", body=nonsense), 422, "invalid-request")
    assert api.signer.posts == []


def test_a_deployment_can_accept_fewer_types_and_smaller_files(api: Api) -> None:
    # Given a deployment that only takes JPEG and PNG up to 1 MB
    api.reconfigure(upload_types=("image/jpeg", "image/png"), upload_max_bytes=1_000_000)
    # Then other types are 415 and bigger files 413, and nothing is signed
    gif = {"filename": "a.gif", "content_type": "image/gif"}
    big = {"filename": "a.jpg", "content_type": "image/jpeg", "size": 1_000_001}
    assert_problem(api.call("POST", "/v1/uploads", body=gif), 415, "unsupported-type")
    assert_problem(api.call("POST", "/v1/uploads", body=big), 413, "too-large")
    assert api.signer.posts == []
    # And without a size the POST is bounded by that maximum
    assert (
        api.call("POST", "/v1/uploads", body={"filename": "a.png", "content_type": "image/png"}).status == 201
    )
    assert api.signer.posts[0].max_bytes == 1_000_000
