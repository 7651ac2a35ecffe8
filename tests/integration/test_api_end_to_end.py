"""The whole path under moto: batch and presigned uploads through the API, ingest on the S3 events (with the
quota gate wired in), then records, progress, delete and export through the API again."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
import requests
from PIL import Image

from api import handler as api_handler
from imgpipe.adapters.api_dynamodb import DynamoQuotaGate
from imgpipe.adapters.dynamodb import DynamoMetadataRepository
from imgpipe.adapters.s3 import S3ObjectStore
from imgpipe.notifications import S3Notification
from imgpipe.plans import default_plans, plans_from_json, quota_limits
from imgpipe.records import ImageProcessed
from infra.constants import ENV_EVENT_BUS
from ingest.service import IngestConfig, IngestService
from tests.builders import encode, photo_like
from tests.events import s3_body, s3_record
from tests.fakes import FakeEventPublisher
from tests.integration.api_stack import (
    KEY_B,
    ORIGINALS,
    REGION,
    TABLE,
    TENANT_B,
    TRANSFORMED,
    ApiStack,
    api_stack,
)

__all__ = ["api_stack"]
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics")


def ingest_service(stack: ApiStack, plans_json: str | None = None) -> IngestService:
    plans = plans_from_json(plans_json) if plans_json else default_plans()
    return IngestService(
        originals=S3ObjectStore(stack.s3, ORIGINALS),
        renditions=S3ObjectStore(stack.s3, TRANSFORMED),
        repository=DynamoMetadataRepository(stack.dynamodb, TABLE),
        publisher=FakeEventPublisher(),
        # One small preset in one format keeps the engine's share of this test small.
        config=IngestConfig(presets={"thumb": "w=48&h=48&fit=cover"}, eager_formats=("jpeg",)),
        quota=DynamoQuotaGate(stack.dynamodb, TABLE, limits=quota_limits(plans, "free")),
    )


def ingest(stack: ApiStack, service: IngestService, key: str) -> Any:
    head = stack.s3.head_object(Bucket=ORIGINALS, Key=key)
    record = s3_record(key, bucket=ORIGINALS, size=head["ContentLength"], etag=head["ETag"].strip('"'))
    (event,) = S3Notification.model_validate_json(s3_body(record)).records
    return service.handle(event)


def upload(stack: ApiStack, filename: str, data: bytes, *, key: str, batch_id: str | None = None) -> str:
    body: dict[str, Any] = {"filename": filename, "content_type": "image/jpeg", "size": len(data)}
    if batch_id:
        body["batch_id"] = batch_id
    reply = stack.call("POST", "/v1/uploads", key=key, body=body)
    assert reply.status == 201, reply.body
    presigned = reply.json
    posted = requests.post(
        presigned["url"], data=presigned["fields"], files={"file": (filename, data)}, timeout=10
    )
    assert posted.status_code in (200, 201, 204)
    return str(presigned["key"])


def test_batch_upload_ingest_progress_export_and_delete(api_stack: ApiStack) -> None:
    service = ingest_service(api_stack)
    # Given a batch of two created through the API, and two photos uploaded by presigned POST
    assert (
        api_stack.call("POST", "/v1/batches", key=KEY_B, body={"batch_id": "harbour", "expected": 2}).status
        == 201
    )
    keys = [
        upload(
            api_stack,
            f"harbour {n}.jpg",
            encode(photo_like(96, 64, n), "JPEG"),
            key=KEY_B,
            batch_id="harbour",
        )
        for n in (1, 2)
    ]
    # When ingest processes the S3 events
    outcomes = [ingest(api_stack, service, key) for key in keys]
    assert [outcome.action for outcome in outcomes] == ["processed", "processed"]
    # Then the API lists both as READY, with renditions and delivery URLs, and the batch as complete
    listed = api_stack.call("GET", "/v1/images", key=KEY_B, query={"batch": "harbour"}).json["items"]
    assert {item["status"] for item in listed} == {"READY"} and len(listed) == 2
    image = api_stack.call("GET", f"/v1/images/{listed[0]['image_id']}", key=KEY_B).json
    assert image["renditions"] and all(
        r["url"].startswith("https://img.example/") for r in image["renditions"]
    )
    assert image["urls"]["thumb"].endswith("?preset=thumb")
    # And the record says what ingest found: frames, orientation, profile, hashes, focal point, GPS
    assert (image["frames"], image["animated"], image["orientation"], image["had_gps"]) == (
        1,
        False,
        1,
        False,
    )
    assert len(image["phash"]) == 16 and len(image["focal_point"]) == 2
    assert "colour_profile" in image and image["seo_name"] == "harbour"
    batch = api_stack.call("GET", "/v1/batches/harbour", key=KEY_B).json
    assert (batch["done"], batch["progress"], batch["completed"]) == (2, 1.0, True)
    # And the export holds both pictures, decodable, under unique names: the records' SEO names (the
    # ones their `Image Processed` events carry) with the extension, `-2` for the second of a name
    export = api_stack.call("POST", "/v1/batches/harbour/export", key=KEY_B).json
    archive = zipfile.ZipFile(io.BytesIO(requests.get(export["url"], timeout=10).content))
    pictures = [name for name in archive.namelist() if name != "names.csv"]
    assert len(pictures) == len(set(pictures)) == 2
    records = [api_stack.call("GET", f"/v1/images/{item['image_id']}", key=KEY_B).json for item in listed]
    assert [record["seo_name"] for record in records] == ["harbour", "harbour"]
    assert sorted(pictures) == ["harbour-2.jpg", "harbour.jpg"]
    published = service.publisher.published  # type: ignore[attr-defined]
    assert {event.seo_name for event in published if isinstance(event, ImageProcessed)} == {"harbour"}
    for name in pictures:
        with Image.open(io.BytesIO(archive.read(name))) as decoded:
            assert decoded.size == (96, 64)
    # And deleting one through the API removes its original, which ingest then records as deleted
    assert api_stack.call("DELETE", f"/v1/images/{listed[0]['image_id']}", key=KEY_B).status == 202
    assert not api_stack.exists(ORIGINALS, listed[0]["source_key"])


def test_upload_over_the_monthly_quota_is_rejected_at_ingest_with_reason_quota(api_stack: ApiStack) -> None:
    # Given tenant B on a pro plan that accepts one image a month
    service = ingest_service(api_stack, '{"pro": {"monthly_images": 1}}')
    first = upload(api_stack, "one.jpg", encode(photo_like(40, 30, 1), "JPEG"), key=KEY_B)
    assert ingest(api_stack, service, first).action == "processed"
    # When a second original arrives directly in the bucket (no presign to stop it)
    second = f"uploads/{TENANT_B}/direct/two.jpg"
    api_stack.s3.put_object(Bucket=ORIGINALS, Key=second, Body=encode(photo_like(40, 30, 2), "JPEG"))
    outcome = ingest(api_stack, service, second)
    # Then ingest rejects it with reason `quota`, and the API shows that
    assert (outcome.action, outcome.reason) == ("rejected", "quota")
    rejected = api_stack.call("GET", "/v1/images", key=KEY_B, query={"status": "REJECTED"}).json["items"]
    assert [item["source_key"] for item in rejected] == [second]
    assert api_stack.call("GET", f"/v1/images/{rejected[0]['image_id']}", key=KEY_B).json["reason"] == "quota"


def test_deleting_a_rejected_upload_removes_its_quarantined_original_and_announces_it(
    api_stack: ApiStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the stage's event bus, with a rule that copies every event to a queue the test reads
    events, sqs = boto3.client("events", region_name=REGION), boto3.client("sqs", region_name=REGION)
    events.create_event_bus(Name="imgpipe-test")
    queue = sqs.create_queue(QueueName="seen")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all", EventBusName="imgpipe-test", EventPattern=json.dumps({"source": ["imgpipe"]}))
    events.put_targets(Rule="all", EventBusName="imgpipe-test", Targets=[{"Id": "seen", "Arn": arn}])
    monkeypatch.setenv(ENV_EVENT_BUS, "imgpipe-test")
    api_handler._service_from_env.cache_clear()
    # And an upload that ingest rejected (not an image: moved to quarantine/)
    key = upload(api_stack, "notes.jpg", b"these are notes, not a picture", key=KEY_B)
    outcome = ingest(api_stack, ingest_service(api_stack), key)
    assert outcome.action == "rejected"
    image_id = outcome.image_id
    quarantined = api_stack.call("GET", f"/v1/images/{image_id}", key=KEY_B).json
    assert quarantined["status"] == "REJECTED"
    quarantine_key = "quarantine/" + key.removeprefix("uploads/")
    assert api_stack.exists(ORIGINALS, quarantine_key)
    # When its tenant deletes it through the API
    reply = api_stack.call("DELETE", f"/v1/images/{image_id}", key=KEY_B)
    # Then the quarantined bytes are gone and the record is DELETED at once
    assert (reply.status, reply.json["status"]) == (202, "DELETED")
    assert not api_stack.exists(ORIGINALS, quarantine_key)
    assert api_stack.call("GET", f"/v1/images/{image_id}", key=KEY_B).json["status"] == "DELETED"
    # And `Image Deleted` is on the bus
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    announced = [json.loads(message["Body"]) for message in received.get("Messages", [])]
    assert [(event["detail-type"], event["detail"]["image_id"]) for event in announced] == [
        ("Image Deleted", image_id)
    ]
