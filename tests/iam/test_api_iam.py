"""The management API as its synthesised role: every route, an export missing an original, a failed export."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from botocore.exceptions import EndpointConnectionError  # type: ignore[import-untyped]

from api import handler as api_handler
from imgpipe.uploads import quarantine_key
from infra.constants import ENV_EVENT_BUS
from tests.builders import encode, photo_like
from tests.iam.conftest import Enforced
from tests.iam.policy import (
    REGION,
    Policy,
    Resolver,
    Unused,
    bucket,
    event_bus,
    function_policy,
    requests_for,
    table,
    unexplained,
)
from tests.integration.api_stack import ORIGINALS, TABLE, TRANSFORMED, ApiStack, api_stack

__all__ = ["api_stack"]  # the fixture, imported so pytest finds it
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics")

FUNCTION = "api"
BUS = "api-bus"
NOT_EXERCISED = (
    Unused("logs:*", "*Logs.Arn", "The Lambda service writes the function's log stream, not its code."),
    Unused("xray:*", "*", "The runtime's X-Ray daemon sends trace segments (tracing is on), not boto3."),
)


def test_every_route_makes_only_calls_the_api_role_allows_and_uses_every_grant(
    api_stack: ApiStack, enforced: Enforced, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = api_stack
    names = Resolver(
        enforced.template,
        {
            ("AWS::S3::Bucket", "/Storage/Originals/"): bucket(ORIGINALS),
            ("AWS::S3::Bucket", "/Storage/Transformed/"): bucket(TRANSFORMED),
            ("AWS::DynamoDB::Table", "/Metadata/Images/"): table(TABLE),
            ("AWS::Events::EventBus", "/Events/Bus/"): event_bus(BUS),
        },
    )
    boto3.client("events", region_name=REGION).create_event_bus(Name=BUS)
    monkeypatch.setenv(ENV_EVENT_BUS, BUS)
    # Given the API function's own wiring (api.handler) on its role's credentials
    session = enforced.role_session(FUNCTION, "/Api/Handler/", names)
    # (api.handler builds its service from `boto3.session.Session()`, as Lambda's credentials give it)
    monkeypatch.setattr(
        api_handler, "boto3", SimpleNamespace(session=SimpleNamespace(Session=lambda: session))
    )
    api_handler._service_from_env.cache_clear()
    # And a batch of two ready images, one of whose originals is gone
    stack.add_batch(batch_id="trip", expected=2)
    kept = stack.add_image(number=1, batch_id="trip", data=encode(photo_like(64, 48, 1), "JPEG"))
    stack.add_image(number=2, batch_id="trip")  # no original: deleted since
    # (and a member of the older batch form, whose original is under uploads/)
    old_form = "uploads/acme/batches/trip/older.jpg"
    stack.add_image(
        number=5, batch_id="trip", source_key=old_form, data=encode(photo_like(64, 48, 5), "JPEG")
    )
    # And a single upload, not in any batch
    single = stack.add_image(number=6, data=encode(photo_like(64, 48, 6), "JPEG"))
    # And two rejected uploads, one still in quarantine/ and one whose quarantined copy has expired
    rejected = [
        stack.add_image(
            number=n, status="REJECTED", quarantine_key=quarantine_key(f"uploads/acme/bad-{n}.jpg")
        )
        for n in (3, 4)
    ]
    assert rejected[0].quarantine_key is not None
    stack.s3.put_object(Bucket=ORIGINALS, Key=rejected[0].quarantine_key, Body=b"not an image")
    with enforced.on():
        # When every route is called
        assert stack.call("GET", "/v1/health", key=None).status == 200
        assert stack.call("GET", "/v1/openapi.json", key=None).status == 200
        assert stack.call("GET", "/v1/docs", key=None).status == 200
        body = {"filename": "boat.jpg", "content_type": "image/jpeg", "size": 1000}
        upload = stack.call("POST", "/v1/uploads", body=body)
        assert upload.status == 201, upload.body
        enforced.recorder.posted(FUNCTION, ORIGINALS, upload.json["fields"]["key"])
        batch_upload = stack.call("POST", "/v1/uploads", body={**body, "batch_id": "trip"})
        assert batch_upload.status == 201, batch_upload.body
        enforced.recorder.posted(FUNCTION, ORIGINALS, batch_upload.json["fields"]["key"])
        assert stack.call("GET", "/v1/images").status == 200
        assert stack.call("GET", "/v1/images", query={"batch": "trip"}).status == 200
        assert stack.call("GET", f"/v1/images/{kept.image_id}").status == 200
        assert stack.call("POST", "/v1/batches", body={"batch_id": "later", "expected": 1}).status == 201
        assert stack.call("GET", "/v1/batches/trip").status == 200
        # Then the export skips the missing original (a 404 from S3, not a 403) and holds the other
        export = stack.call("POST", "/v1/batches/trip/export")
        assert export.status == 201, export.body
        assert (export.json["files"], export.json["skipped"]) == (2, 1)

        # When an export fails half way (the connection drops before the upload completes)
        def drop(**_: Any) -> None:
            raise EndpointConnectionError(endpoint_url="https://s3.amazonaws.com")

        s3_events = api_handler._service_from_env().exports._client.meta.events  # type: ignore[attr-defined]
        s3_events.register_first("before-call.s3.CompleteMultipartUpload", drop)
        failed = stack.call("POST", "/v1/batches/trip/export")
        s3_events.unregister("before-call.s3.CompleteMultipartUpload", drop)
        # Then it answers 500 and its multipart upload was aborted, nothing left behind
        assert failed.status == 500
        assert not stack.s3.list_multipart_uploads(Bucket=TRANSFORMED).get("Uploads")
        # And deleting an image removes its original, a batch member's (batches/) and a single upload's
        for image in (kept, single):
            assert stack.call("DELETE", f"/v1/images/{image.image_id}").status == 202
            assert not stack.exists(ORIGINALS, image.source_key)
        # And deleting a rejected upload removes its quarantined copy (or finds it gone: 404, not 403)
        for record in rejected:
            deleted = stack.call("DELETE", f"/v1/images/{record.image_id}")
            assert (deleted.status, deleted.json["status"]) == (202, "DELETED"), deleted.body
        assert not stack.exists(ORIGINALS, str(rejected[0].quarantine_key))
        assert not enforced.recorder.refused(), "\n".join(enforced.recorder.refused())

    # And our evaluator allows every call (presigned ones too), and every grant was used or has its reason
    denied, used = enforced.recorder.verdicts()
    assert not denied, "\n".join(denied)
    missing = unexplained(enforced.recorder.policies[FUNCTION], used[FUNCTION], NOT_EXERCISED)
    assert not missing, "grants no scenario used:\n" + "\n".join(map(str, missing))


@pytest.mark.parametrize(
    "key",
    ["APIKEY#key-acme", "TENANT#acme"],
    ids=["api-key binding", "tenant plan or usage"],
)
def test_the_api_role_may_not_write_api_keys_plans_or_usage(
    api_stack: ApiStack, enforced: Enforced, key: str
) -> None:
    # Given the API's synthesised policy
    names = Resolver(enforced.template, {("AWS::DynamoDB::Table", "/Metadata/Images/"): table(TABLE)})
    policy = Policy(FUNCTION, function_policy(enforced.template, "/Api/Handler/", names))
    item = {"pk": {"S": key}, "sk": {"S": "APIKEY"}, "tenant": {"S": "acme"}, "plan": {"S": "enterprise"}}
    # When a request of the function would rebind an API key or change a tenant's plan or counters
    for request in requests_for("dynamodb", "PutItem", {"TableName": TABLE, "Item": item}) + requests_for(
        "dynamodb", "UpdateItem", {"TableName": TABLE, "Key": {"pk": item["pk"], "sk": item["sk"]}}
    ):
        # Then IAM refuses it, while reads of the same item stay allowed
        assert policy.evaluate(request) is None, request
    assert policy.evaluate(requests_for("dynamodb", "GetItem", {"TableName": TABLE, "Key": item})[0])


def test_no_url_the_api_presigns_can_fetch_a_quarantined_file(
    api_stack: ApiStack, enforced: Enforced
) -> None:
    # Given the API's synthesised policy, which reads quarantine/ to delete a rejected upload's copy
    names = Resolver(enforced.template, {("AWS::S3::Bucket", "/Storage/Originals/"): bucket(ORIGINALS)})
    policy = Policy(FUNCTION, function_policy(enforced.template, "/Api/Handler/", names))
    params = {"Bucket": ORIGINALS, "Key": quarantine_key("uploads/acme/malware.jpg")}
    # Then the role's own read is allowed, and the same read through a URL it presigned is not
    assert policy.evaluate(requests_for("s3", "HeadObject", params)[0])
    assert policy.evaluate(requests_for("s3", "GetObject", params, presigned=True)[0]) is None
