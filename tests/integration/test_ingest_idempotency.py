"""Redelivery, out-of-order events, failures and the DLQ, under moto with the real adapters."""

from __future__ import annotations

import io
import json

from PIL import Image

from infra.constants import (
    ENV_MALWARE_SCAN,
    IMAGE_PROCESSED,
    IMAGE_REJECTED,
    IMAGE_UPLOADED,
    LANE_INTERACTIVE,
    MALWARE_SCAN_TAG,
    QUARANTINE_REASON_METADATA,
    STATUS_DELETED,
    STATUS_READY,
    STATUS_REJECTED,
)
from tests.builders import encode, photo_like
from tests.events import next_sequencer, s3_body, s3_record, s3_test_event_body
from tests.integration.ingest_stack import (
    MAX_RECEIVE_COUNT,
    ORIGINALS,
    TRANSFORMED,
    IngestStack,
    ingest_stack,
    small_presets,
)

__all__ = ["ingest_stack"]

WRITES = frozenset(
    {
        "s3.PutObject",
        "s3.CopyObject",
        "s3.DeleteObject",
        "s3.DeleteObjects",
        "events.PutEvents",
        "dynamodb.TransactWriteItems",
        "dynamodb.UpdateItem",
    }
)


def solid(colour: tuple[int, int, int]) -> bytes:
    return encode(Image.new("RGB", (200, 150), colour), "JPEG", quality=95)


def test_redelivering_every_message_changes_nothing(ingest_stack: IngestStack) -> None:
    # Given a good upload, a rejected upload and a deletion, all processed
    small_presets(ingest_stack)
    ingest_stack.put_original("uploads/acme/good.jpg", encode(photo_like(300, 200), "JPEG"))
    ingest_stack.put_original("uploads/acme/bad.jpg", b"no pixels" * 40)
    ingest_stack.put_original("uploads/acme/gone.jpg", encode(photo_like(200, 200, seed=2), "JPEG"))
    ingest_stack.drain()
    ingest_stack.s3.delete_object(Bucket=ORIGINALS, Key="uploads/acme/gone.jpg")
    ingest_stack.drain()
    before = ingest_stack.snapshot()
    events_before = ingest_stack.events()
    assert [e["detail-type"] for e in events_before].count(IMAGE_UPLOADED) == 3
    calls_before = len(ingest_stack.calls)
    # When SQS delivers every one of those messages again (at-least-once, or a DLQ redrive)
    ingest_stack.redeliver()
    ingest_stack.drain()
    # Then no object, item or event changed or was added, and nothing was written
    assert ingest_stack.snapshot() == before
    assert ingest_stack.events() == events_before
    written = [call for call in ingest_stack.calls[calls_before:] if call in WRITES]
    assert written == []
    assert all(response["batchItemFailures"] == [] for response in ingest_stack.responses)


def test_an_older_event_after_a_newer_overwrite_does_not_clobber_it(ingest_stack: IngestStack) -> None:
    # Given two uploads to one key, red then blue; the bucket holds blue. S3's events carry sequencers
    # (moto's do not, so they are built exactly as AWS sends them and put on the queue)
    small_presets(ingest_stack)
    key = "uploads/acme/cat.jpg"
    older, newer = next_sequencer(), next_sequencer()
    ingest_stack.put_original(key, solid((20, 40, 230)))
    ingest_stack.drain()  # moto's own event for the put (no sequencer): processed as one upload
    assert ingest_stack.peek(ingest_stack.lanes[LANE_INTERACTIVE].queue_url) == []
    blue_etag = ingest_stack.s3.head_object(Bucket=ORIGINALS, Key=key)["ETag"].strip('"')
    # When the newer (blue) event is handled, and then the older (red) one arrives
    ingest_stack.send(
        LANE_INTERACTIVE, s3_body(s3_record(key, sequencer=newer, etag=blue_etag, bucket=ORIGINALS))
    )
    ingest_stack.drain()
    blue = ingest_stack.record_of(key)
    renditions = {k: ingest_stack.get(TRANSFORMED, k)["ETag"] for k in ingest_stack.keys(TRANSFORMED)}
    ingest_stack.send(
        LANE_INTERACTIVE, s3_body(s3_record(key, sequencer=older, etag="0" * 32, bucket=ORIGINALS))
    )
    ingest_stack.drain()
    # Then the pointer, the record and the renditions are still the blue ones
    assert ingest_stack.record_of(key) == blue and blue.status == STATUS_READY
    assert {k: ingest_stack.get(TRANSFORMED, k)["ETag"] for k in ingest_stack.keys(TRANSFORMED)} == renditions
    processed = [d.model_dump()["image_id"] for d in ingest_stack.details(IMAGE_PROCESSED)]
    assert processed[-1] == blue.image_id


def test_a_delete_older_than_the_upload_is_ignored(ingest_stack: IngestStack) -> None:
    # Given an upload processed from an AWS-shaped event, and a delete whose sequencer is older
    small_presets(ingest_stack)
    key = "uploads/acme/dog.jpg"
    delete_sequencer, upload_sequencer = next_sequencer(), next_sequencer()
    ingest_stack.put_original(key, solid((200, 200, 20)))
    etag = ingest_stack.s3.head_object(Bucket=ORIGINALS, Key=key)["ETag"].strip('"')
    ingest_stack.sqs.purge_queue(QueueUrl=ingest_stack.lanes[LANE_INTERACTIVE].queue_url)
    ingest_stack.send(LANE_INTERACTIVE, s3_body(s3_record(key, sequencer=upload_sequencer, etag=etag)))
    ingest_stack.drain()
    # When the older delete arrives late
    late = s3_record(key, event_name="ObjectRemoved:Delete", sequencer=delete_sequencer)
    ingest_stack.send(LANE_INTERACTIVE, s3_body(late))
    ingest_stack.drain()
    # Then the image stays READY with its renditions
    record = ingest_stack.record_of(key)
    assert record.status == STATUS_READY
    assert ingest_stack.keys(TRANSFORMED, key + "/") == sorted(r.key for r in record.renditions)


def test_an_overwrite_replaces_the_previous_image(ingest_stack: IngestStack) -> None:
    # Given a processed red upload
    small_presets(ingest_stack)
    key = "uploads/acme/swap.jpg"
    ingest_stack.put_original(key, solid((230, 20, 20)))
    ingest_stack.drain()
    red = ingest_stack.record_of(key)
    # When blue overwrites it (moto's events: ordered by event time and ETag)
    ingest_stack.put_original(key, solid((20, 40, 230)))
    ingest_stack.drain()
    # Then the new record is READY with blue renditions and the red one DELETED as replaced
    blue = ingest_stack.record_of(key)
    assert blue.image_id != red.image_id and blue.replaces == red.image_id
    old = ingest_stack.repository.get_image(red.image_id)
    assert old is not None and (old.status, old.reason) == (STATUS_DELETED, "replaced")
    webp = next(r for r in blue.renditions if r.format == "webp" and r.preset == "small")
    pixel = Image.open(io.BytesIO(ingest_stack.get(TRANSFORMED, webp.key)["Data"]))
    assert pixel.convert("RGB").getpixel((10, 10))[2] > 180  # type: ignore[index]


def test_the_s3_test_event_and_keys_outside_uploads_are_ignored(ingest_stack: IngestStack) -> None:
    # Given a test event and an (AWS-shaped) event for a key outside uploads/
    ingest_stack.send(LANE_INTERACTIVE, s3_test_event_body(ORIGINALS))
    ingest_stack.send(LANE_INTERACTIVE, s3_body(s3_record("quarantine/acme/x.jpg", bucket=ORIGINALS)))
    before = len(ingest_stack.calls)
    # When they are handled
    ingest_stack.drain()
    # Then both succeed without a single call to S3, DynamoDB or EventBridge
    assert all(response["batchItemFailures"] == [] for response in ingest_stack.responses)
    assert [c for c in ingest_stack.calls[before:] if not c.startswith("sqs.")] == []


def test_a_message_that_always_fails_ends_in_the_dlq(ingest_stack: IngestStack) -> None:
    # Given a message ingest cannot parse, next to a good upload
    small_presets(ingest_stack)
    lane = ingest_stack.lanes[LANE_INTERACTIVE]
    ingest_stack.send(LANE_INTERACTIVE, json.dumps({"Records": [{"eventName": "ObjectCreated:Put"}]}))
    ingest_stack.put_original("uploads/acme/ok.jpg", encode(photo_like(120, 80), "JPEG"))
    # When the lane is drained (each failure is received again, up to maxReceiveCount)
    ingest_stack.drain()
    # Then the bad message is in the dead-letter queue after maxReceiveCount failures, the good one done
    assert len(ingest_stack.peek(lane.dlq_url)) == 1
    failures = [r for r in ingest_stack.responses if r["batchItemFailures"]]
    assert len(failures) == MAX_RECEIVE_COUNT
    assert ingest_stack.record_of("uploads/acme/ok.jpg").status == STATUS_READY


def test_malware_scanning_waits_for_the_tag_then_quarantines_threats(ingest_stack: IngestStack) -> None:
    # Given scanning is on; one upload has no scan result yet, one was found infected, one is clean
    small_presets(ingest_stack)
    ingest_stack.reconfigure(**{ENV_MALWARE_SCAN: "true"})
    data = encode(photo_like(120, 80), "JPEG")
    ingest_stack.put_original("uploads/acme/early.jpg", data)
    ingest_stack.put_original("uploads/acme/evil.jpg", data + b"x", tags={MALWARE_SCAN_TAG: "THREATS_FOUND"})
    ingest_stack.put_original(
        "uploads/acme/clean.jpg", data + b"yz", tags={MALWARE_SCAN_TAG: "NO_THREATS_FOUND"}
    )
    # When every message has been received once
    lane = ingest_stack.lanes[LANE_INTERACTIVE]
    while ingest_stack.poll(LANE_INTERACTIVE, retry_at_once=False):
        pass
    # Then the infected file is quarantined as malware, the clean one READY, the untagged one waits
    assert ingest_stack.record_of("uploads/acme/evil.jpg").reason == "malware"
    quarantined = ingest_stack.get(ORIGINALS, "quarantine/acme/evil.jpg")
    assert quarantined["Metadata"][QUARANTINE_REASON_METADATA] == "malware"
    assert ingest_stack.record_of("uploads/acme/clean.jpg").status == STATUS_READY
    assert ingest_stack.record_of("uploads/acme/early.jpg").status == "PROCESSING"
    assert ingest_stack.keys(TRANSFORMED, "uploads/acme/early.jpg/") == []
    assert ingest_stack.queue_depth(lane.queue_url) == 1  # its message failed and will come back
    # When GuardDuty tags it clean and the message comes back after the visibility timeout
    ingest_stack.s3.put_object_tagging(
        Bucket=ORIGINALS,
        Key="uploads/acme/early.jpg",
        Tagging={"TagSet": [{"Key": MALWARE_SCAN_TAG, "Value": "NO_THREATS_FOUND"}]},
    )
    ingest_stack.visibility_timeout_passes()
    ingest_stack.drain()
    # Then it is processed, and announced once
    assert ingest_stack.record_of("uploads/acme/early.jpg").status == STATUS_READY
    types = [e["detail-type"] for e in ingest_stack.events()]
    assert types.count(IMAGE_UPLOADED) == 3 and types.count(IMAGE_REJECTED) == 1
    assert ingest_stack.record_of("uploads/acme/evil.jpg").status == STATUS_REJECTED
