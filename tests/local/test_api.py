"""The management API (`/v1`) through the dev server's port: the local API Gateway (key check, REST proxy
event) in front of `api.handler`, with presigned uploads posted to the dev server's checked endpoint."""

from __future__ import annotations

import csv
import io
import json
import stat
import uuid
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from imgpipe.cli import main
from imgpipe.dev.commands import _print_banner
from imgpipe.dev.datadir import LocalApiKey
from imgpipe.dev.gateway import rest_proxy_event
from tests.builders import colour_card, encode, photo_like
from tests.local.conftest import Answer, LiveStack, fetch, multipart


def call(
    live: LiveStack,
    method: str,
    path: str,
    payload: Any = None,
    *,
    key: str | None = "default",
    headers: Mapping[str, str] | None = None,
) -> Answer:
    sent = dict(headers or {})
    if key == "default":
        sent["x-api-key"] = live.stack.api_key().value
    elif key is not None:
        sent["x-api-key"] = key
    body = None
    if payload is not None:
        body = json.dumps(payload).encode()
        sent["content-type"] = "application/json"
    return fetch(live.url + path, method=method, headers=sent, body=body)


def upload(live: LiveStack, name: str, data: bytes, batch_id: str | None = None) -> str:
    """POST /v1/uploads, then the file to the presigned POST: the key it was stored under."""
    request: dict[str, Any] = {"filename": name, "content_type": "image/jpeg", "size": len(data)}
    if batch_id is not None:
        request["batch_id"] = batch_id
    answer = call(live, "POST", "/v1/uploads", request)
    assert answer.status == 201, answer.body
    post = answer.json()
    content_type, body = multipart(post["fields"], data, name)
    stored = fetch(post["url"], method="POST", headers={"content-type": content_type}, body=body)
    assert stored.status == 204, stored.body
    return str(post["key"])


@pytest.fixture(scope="module")
def ready_batch(live: LiveStack) -> str:
    """A batch of two READY images, created and filled through the API."""
    batch_id = f"trip-{uuid.uuid4().hex[:6]}"
    created = call(live, "POST", "/v1/batches", {"batch_id": batch_id, "expected": 2})
    assert created.status == 201, created.body
    assert created.json()["upload_prefix"] == f"batches/local/{batch_id}/"
    keys = [
        upload(live, "harbour.jpg", encode(photo_like(160, 120), "JPEG"), batch_id),
        upload(live, "card.jpg", encode(colour_card(90, 60), "JPEG"), batch_id),
    ]
    records = live.wait(keys)
    assert {record.status for record in records.values()} == {"READY"}
    return batch_id


def test_health_the_document_and_the_docs_need_no_key(live: LiveStack) -> None:
    health = call(live, "GET", "/v1/health", key=None)
    assert health.status == 200 and health.json()["status"] == "ok"
    assert health.headers["x-amzn-requestid"]  # answered through the local API Gateway
    document = call(live, "GET", "/v1/openapi.json", key=None)
    assert document.status == 200 and document.headers["content-type"].startswith("application/json")
    spec = document.json()
    assert spec["openapi"].startswith("3.") and "/v1/batches/{batch_id}/export" in spec["paths"]
    docs = call(live, "GET", "/v1/docs", key=None)
    assert docs.status == 200 and docs.headers["content-type"].startswith("text/html")


def test_a_missing_or_unknown_key_is_refused_before_the_function(live: LiveStack) -> None:
    for key in (None, "not-a-key", live.stack.api_key().id):  # the id is not the secret value
        answer = call(live, "GET", "/v1/images", key=key)
        assert answer.status == 403, key
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["x-amzn-errortype"] == "ForbiddenException"
        assert answer.json()["type"] == "urn:imgpipe:problem:forbidden"
    # A public route still refuses a key that does not exist
    assert call(live, "GET", "/v1/health", key="not-a-key").status == 403
    # Headers that would carry claims behind an authoriser are not credentials here
    forged = call(live, "GET", "/v1/images", key=None, headers={"authorization": "Bearer x.y.z"})
    assert forged.status == 403
    # With the key, the API's own answers come through (404 problem for an unknown image)
    missing = call(live, "GET", "/v1/images/img_nothing")
    assert missing.status == 404 and missing.json()["type"] == "urn:imgpipe:problem:not-found"


def test_the_event_carries_the_key_id_and_no_claims() -> None:
    key = LocalApiKey(id="abc123defg", value="secret-value", tenant="local", plan="pro")
    event = rest_proxy_event(
        "GET",
        "/v1/images",
        "status=READY&tag=a&tag=b",
        {"host": "127.0.0.1:8750", "x-api-key": "secret-value"},
        b"",
        stage="local",
        api_key=key,
        source_ip="127.0.0.9",
        request_id="req-7",
    )
    context = event["requestContext"]
    assert context["identity"]["apiKeyId"] == "abc123defg" and context["identity"]["sourceIp"] == "127.0.0.9"
    assert "authorizer" not in context and context["stage"] == "local" and context["requestId"] == "req-7"
    assert event["resource"] == "/v1/{proxy+}" and event["pathParameters"] == {"proxy": "images"}
    assert event["queryStringParameters"] == {"status": "READY", "tag": "b"}
    assert event["multiValueQueryStringParameters"]["tag"] == ["a", "b"]
    assert event["body"] is None and event["isBase64Encoded"] is False


def test_the_local_key_is_owner_only_printed_and_not_in_the_gallery_config(
    live: LiveStack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = live.stack
    key = stack.api_key()
    assert (key.tenant, key.plan) == ("local", "pro") and len(key.value) >= 30
    keys_file = stack.data.api_keys_file
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    assert json.loads(keys_file.read_text())["keys"][0]["value"] == key.value
    _print_banner(stack, 1.0)
    assert key.value in capsys.readouterr().out
    config = fetch(live.url + "/_dev/config")
    assert config.json()["api"]["available"] is True and key.value.encode() not in config.body


def test_upload_by_presigned_post_then_the_image_is_listed_ready(live: LiveStack) -> None:
    answer = call(
        live, "POST", "/v1/uploads", {"filename": "my photo.jpg", "content_type": "image/jpeg", "size": 10}
    )
    assert answer.status == 201
    # The presigned POST targets the dev server, which checks its policy as S3 does
    assert answer.json()["url"] == f"{live.url}/_dev/s3/imgpipe-originals"
    data = encode(colour_card(120, 80), "JPEG")
    key = upload(live, "my photo.jpg", data)
    assert key.startswith("uploads/local/up_") and key.endswith("/my-photo.jpg")
    record = live.wait([key])[key]
    assert record.status == "READY"
    listed = call(live, "GET", "/v1/images?status=READY&limit=100")
    assert listed.status == 200
    items = {item["image_id"]: item for item in listed.json()["items"]}
    assert items[record.image_id]["source_key"] == key and items[record.image_id]["width"] == 120
    detail = call(live, "GET", f"/v1/images/{record.image_id}")
    assert detail.status == 200
    image = detail.json()
    assert image["status"] == "READY" and image["placeholder"]["blurhash"] and image["renditions"]
    thumb = image["urls"]["thumb"]
    assert thumb.startswith(live.url + "/")  # delivery URLs point at this stack's CDN
    assert fetch(thumb, headers={"accept": "image/webp"}).headers["content-type"] == "image/webp"


def test_a_batch_exports_as_a_zip_of_decodable_images(live: LiveStack, ready_batch: str) -> None:
    batch = call(live, "GET", f"/v1/batches/{ready_batch}").json()
    assert (batch["expected"], batch["ready"], batch["done"]) == (2, 2, 2)
    answer = call(live, "POST", f"/v1/batches/{ready_batch}/export")
    assert answer.status == 201, answer.body
    export = answer.json()
    assert (export["status"], export["files"], export["skipped"]) == ("READY", 2, 0)
    download = fetch(export["url"])
    assert download.status == 200
    assert f'filename="{ready_batch}.zip"' in download.headers.get("content-disposition", "")
    _assert_export(download.body)
    # Nothing to export in an empty batch; another tenant's (or no) batch is not found
    call(live, "POST", "/v1/batches", {"batch_id": "empty-one"})
    assert call(live, "POST", "/v1/batches/empty-one/export").status == 409
    assert call(live, "POST", "/v1/batches/no-such-batch/export").status == 404


def test_imgpipe_export_writes_the_zip(
    live: LiveStack,
    ready_batch: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("IMGPIPE_API_KEY", raising=False)
    data = str(live.options.data_dir)
    output = tmp_path / "out.zip"
    assert main(["export", ready_batch, "--data", data, "-o", str(output), "--wait"]) == 0
    assert capsys.readouterr().out.strip() == str(output)
    _assert_export(output.read_bytes())
    assert main(["export", "no-such-batch", "--data", data, "-o", str(tmp_path / "x.zip")]) == 64
    assert "not-found" in capsys.readouterr().err and not (tmp_path / "x.zip").exists()
    # A deployed stack: its ApiUrl output and a key given on the command line (here: this stack's)
    names = ("ImagesUrl", "OriginalsBucket", "TransformedBucket", "ImagesTable", "InteractiveDlq", "BulkDlq")
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"Imgpipe": {**dict.fromkeys(names, "x"), "ApiUrl": f"{live.url}/v1"}}))
    deployed = ["export", ready_batch, "--stack-outputs", str(outputs), "-o", str(tmp_path / "d.zip")]
    assert main(deployed) == 69 and "--api-key" in capsys.readouterr().err
    assert main([*deployed, "--api-key", live.stack.api_key().value]) == 0
    _assert_export((tmp_path / "d.zip").read_bytes())


def _assert_export(archive: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
        names = zipped.namelist()
        assert "names.csv" in names and len(names) == 3
        rows = list(csv.DictReader(io.StringIO(zipped.read("names.csv").decode())))
        assert {row["original"] for row in rows} == {"harbour.jpg", "card.jpg"}
        for row in rows:
            with Image.open(io.BytesIO(zipped.read(row["name"]))) as picture:
                picture.load()
                assert picture.size == (int(row["width"]), int(row["height"]))
