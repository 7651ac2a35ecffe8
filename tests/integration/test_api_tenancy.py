"""Every route under moto, tried across tenants: a tenant never sees, changes or exports another's images."""

from __future__ import annotations

import base64
import json

import boto3  # type: ignore[import-untyped]
import pytest
import requests

from imgpipe.uploads import UploadKey
from tests.builders import encode, photo_like
from tests.integration.api_stack import KEY_B, ORIGINALS, REGION, TENANT_A, TENANT_B, ApiStack, api_stack

__all__ = ["api_stack"]
# Powertools warns when an invocation added no metric: most API calls add none, by design.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics")


def jpeg(seed: int = 1) -> bytes:
    return encode(photo_like(64, 48, seed), "JPEG", quality=80)


@pytest.fixture
def two_tenants(api_stack: ApiStack) -> ApiStack:
    # Given tenant A's image and batch, and tenant B's
    api_stack.add_batch(TENANT_A, "shared-name", expected=1)
    api_stack.add_batch(TENANT_B, "shared-name", expected=1)
    api_stack.add_image(TENANT_A, number=1, batch_id="shared-name", data=jpeg(1), tags=["beach"])
    api_stack.add_image(TENANT_B, number=2, batch_id="shared-name", data=jpeg(2), tags=["beach"])
    return api_stack


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/images/img_acme_00001"),
        ("DELETE", "/v1/images/img_acme_00001"),
    ],
)
def test_image_routes_answer_another_tenant_404(two_tenants: ApiStack, method: str, path: str) -> None:
    # When tenant B addresses tenant A's image
    reply = two_tenants.call(method, path, key=KEY_B)
    # Then it is not found, and A's original is untouched
    assert reply.status == 404
    assert reply.content_type == "application/problem+json"
    assert two_tenants.exists(ORIGINALS, "batches/acme/shared-name/photo-1.jpg")


def test_listing_and_filters_only_show_the_callers_images(two_tenants: ApiStack) -> None:
    for query in ({}, {"batch": "shared-name"}, {"tag": "beach"}, {"status": "READY"}):
        mine = two_tenants.call("GET", "/v1/images", query=query).json["items"]
        theirs = two_tenants.call("GET", "/v1/images", key=KEY_B, query=query).json["items"]
        assert [item["image_id"] for item in mine] == ["img_acme_00001"]
        assert [item["image_id"] for item in theirs] == ["img_globex_00002"]


def test_batches_and_exports_are_per_tenant(two_tenants: ApiStack) -> None:
    # Both tenants have a batch named alike; each sees and exports only its own
    mine = two_tenants.call("POST", "/v1/batches/shared-name/export").json
    theirs = two_tenants.call("POST", "/v1/batches/shared-name/export", key=KEY_B).json
    assert mine["key"].startswith("exports/acme/") and theirs["key"].startswith("exports/globex/")
    assert mine["files"] == theirs["files"] == 1
    assert two_tenants.call("GET", "/v1/batches/shared-name", key=KEY_B).json["expected"] == 1
    assert two_tenants.call("GET", "/v1/batches/other", key=KEY_B).status == 404


def test_upload_into_another_tenants_batch_is_404(two_tenants: ApiStack) -> None:
    two_tenants.add_batch(TENANT_A, "only-acme")
    body = {"filename": "x.jpg", "content_type": "image/jpeg", "batch_id": "only-acme"}
    assert two_tenants.call("POST", "/v1/uploads", key=KEY_B, body=body).status == 404


def test_presigned_post_is_limited_and_lands_under_the_tenant(api_stack: ApiStack) -> None:
    # When tenant A asks for an upload of an exact size
    data = jpeg(3)
    reply = api_stack.call(
        "POST",
        "/v1/uploads",
        body={"filename": "My Photo.jpg", "content_type": "image/jpeg", "size": len(data)},
    )
    assert reply.status == 201
    upload = reply.json
    # Then the signed policy pins the bucket, the key, the type and the size range
    policy = json.loads(base64.b64decode(upload["fields"]["policy"]))
    conditions = policy["conditions"]
    assert {"bucket": ORIGINALS} in conditions
    assert {"key": upload["key"]} in conditions
    assert {"Content-Type": "image/jpeg"} in conditions
    assert ["content-length-range", 1, len(data)] in conditions
    assert UploadKey.parse(upload["key"]).tenant == TENANT_A
    # And a browser-style POST of the file stores it at that key
    posted = requests.post(
        upload["url"], data=upload["fields"], files={"file": ("My Photo.jpg", data)}, timeout=10
    )
    assert posted.status_code in (200, 201, 204)
    stored = api_stack.s3.get_object(Bucket=ORIGINALS, Key=upload["key"])
    assert stored["Body"].read() == data


def test_delete_removes_the_original_object(api_stack: ApiStack) -> None:
    record = api_stack.add_image(number=5, data=jpeg(5))
    reply = api_stack.call("DELETE", f"/v1/images/{record.image_id}")
    assert reply.status == 202
    assert not api_stack.exists(ORIGINALS, record.source_key)


def test_signing_keys_are_read_from_the_secret_at_cold_start(
    api_stack: ApiStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the "required" policy and the signing keys in Secrets Manager, as the stack deploys them
    secrets = boto3.client("secretsmanager", region_name=REGION)
    arn = secrets.create_secret(Name="imgpipe-signing-keys", SecretString='{"k1": "0123456789abcdef0123"}')[
        "ARN"
    ]
    monkeypatch.setenv("IMGPIPE_SIGNING_KEYS_SECRET", arn)
    monkeypatch.setenv("IMGPIPE_SIGNING_POLICY", "required")
    api_stack.add_image(number=7)
    # When a record is read
    body = api_stack.call("GET", "/v1/images/img_acme_00007").json
    # Then its delivery URLs are signed with that key
    assert body["urls"] and all("s=" in url for url in body["urls"].values())
