"""Every way an upload is refused: quarantined with its reason, recorded, announced, never retried."""

from __future__ import annotations

import pytest

from imgpipe.core import Limits
from infra.constants import (
    IMAGE_REJECTED,
    IMAGE_UPLOADED,
    MALWARE_SCAN_TAG,
    QUARANTINE_REASON_METADATA,
    STATUS_REJECTED,
)
from ingest.service import IngestConfig
from tests.builders import encode, photo_like, png_header_only
from tests.events import next_sequencer, s3_body, sqs_event, sqs_record
from tests.fakes import FakeQuota
from tests.unit.ingest.conftest import PRESETS, Harness, Throttled, jpeg, throttle

TRUNCATED_JPEG = jpeg(400, 300)[:1500]
PNG_BYTES = encode(photo_like(120, 80), "PNG")


@pytest.mark.parametrize(
    ("name", "data", "content_type", "reason"),
    [
        ("empty.jpg", b"", "image/jpeg", "empty"),
        ("notes.jpg", b"these are my holiday notes, not a picture" * 10, "image/jpeg", "not-an-image"),
        ("cut.jpg", TRUNCATED_JPEG, "image/jpeg", "truncated"),
        ("named-wrong.jpg", PNG_BYTES, "application/octet-stream", "type-mismatch"),
        ("declared-wrong.png", PNG_BYTES, "image/jpeg", "type-mismatch"),
        ("bomb.png", png_header_only(60_000, 60_000), "image/png", "bomb"),
    ],
)
def test_a_bad_file_is_quarantined_with_its_reason(
    harness: Harness, name: str, data: bytes, content_type: str, reason: str
) -> None:
    # Given a file that is not a processable image
    key = f"uploads/acme/{name}"
    # When ingest handles it
    outcome = harness.upload(key, data, content_type)

    # Then it is moved (bytes intact) to quarantine/ with the reason in its metadata
    assert outcome.action == "rejected" and outcome.reason == reason
    assert key not in harness.originals.objects
    quarantined = harness.originals.objects[f"quarantine/acme/{name}"]
    assert quarantined.data == data
    assert quarantined.metadata[QUARANTINE_REASON_METADATA] == reason
    # And the record is REJECTED with that reason, no rendition exists, and Image Rejected is announced
    record = harness.record_of(key)
    assert (record.status, record.reason) == (STATUS_REJECTED, reason)
    assert record.reason_message
    assert record.quarantine_key == f"quarantine/acme/{name}"
    assert harness.rendition_keys(key) == []
    assert harness.publisher.types() == [IMAGE_UPLOADED, IMAGE_REJECTED]
    assert harness.publisher.published[-1].model_dump()["reason"] == reason


def test_an_original_over_the_byte_limit_is_refused_before_its_body_is_read(harness: Harness) -> None:
    # Given a deployment that accepts at most 10 kB and a 40 kB upload
    harness.config = IngestConfig(presets=PRESETS, limits=Limits(max_source_bytes=10_000))
    data = jpeg(600, 400)
    assert len(data) > 10_000
    key = "uploads/acme/big.jpg"
    # When ingest handles it
    outcome = harness.upload(key, data)
    # Then it is rejected as too large on the size in the S3 event: its body was never requested
    assert (outcome.action, outcome.reason) == ("rejected", "too-large")
    assert ("get", key) not in harness.originals.calls
    assert harness.record_of(key).reason == "too-large"
    assert "quarantine/acme/big.jpg" in harness.originals.objects


def test_without_a_size_in_the_event_the_head_decides_before_the_body(harness: Harness) -> None:
    # Given a 10 kB limit and an event that carries no size
    harness.config = IngestConfig(presets=PRESETS, limits=Limits(max_source_bytes=10_000))
    key = "uploads/acme/big.jpg"
    event = harness.put(key, jpeg(600, 400))
    del event["s3"]["object"]["size"]
    # When ingest handles it
    outcome = harness.run(event)
    # Then HEAD gave the size and the body was never requested
    assert (outcome.action, outcome.reason) == ("rejected", "too-large")
    assert ("head", key) in harness.originals.calls and ("get", key) not in harness.originals.calls


def test_a_newer_upload_is_never_quarantined_for_an_older_one(harness: Harness) -> None:
    # Given a too-large upload whose key was overwritten by a good picture before ingest got to it
    harness.config = IngestConfig(presets=PRESETS, limits=Limits(max_source_bytes=10_000))
    key = "uploads/acme/photo.jpg"
    old_event = harness.put(key, jpeg(600, 400))
    new_event = harness.put(key, jpeg(60, 40))
    # When the older event is handled first
    outcome = harness.run(old_event)
    # Then the older version is rejected, but the object at the key (the newer one) stays where it is
    assert (outcome.action, outcome.reason) == ("rejected", "too-large")
    assert key in harness.originals.objects
    # And the newer event processes it
    assert harness.run(new_event).action == "processed"
    assert harness.record_of(key).status == "READY"


def test_a_key_without_a_tenant_is_quarantined(harness: Harness) -> None:
    # Given an upload straight under uploads/ (no tenant segment)
    # When ingest handles it
    outcome = harness.upload("uploads/loose.jpg", jpeg())
    # Then it is rejected as an invalid key and never rendered
    assert (outcome.action, outcome.reason) == ("rejected", "invalid-key")
    assert "quarantine/loose.jpg" in harness.originals.objects
    assert harness.renditions.keys() == []


def test_an_admitted_upload_is_counted_once_across_retries(harness: Harness) -> None:
    # Given a quota gate that counts bytes, and an upload whose first attempt fails after it was admitted
    harness.quota = FakeQuota(limit=10_000_000)
    data = jpeg()
    event = harness.put("uploads/acme/retried.jpg", data)
    harness.renditions.fail_on["put"] = throttle
    with pytest.raises(Throttled):
        harness.run(event)
    # When SQS delivers it again and it succeeds
    harness.renditions.fail_on.clear()
    assert harness.run(event).action == "processed"
    # Then the tenant was charged once
    assert harness.quota.used == {"acme": len(data)}


def test_quota_refusal_is_a_rejection_with_reason_quota(harness: Harness) -> None:
    # Given a tenant whose quota admits 1 kB in total
    harness.quota = FakeQuota(limit=1_000)
    key = "uploads/acme/over.jpg"
    # When an upload larger than that arrives
    outcome = harness.upload(key, jpeg())
    # Then it is rejected with reason `quota` and quarantined
    assert (outcome.action, outcome.reason) == ("rejected", "quota")
    assert harness.record_of(key).reason == "quota"
    assert "quarantine/acme/over.jpg" in harness.originals.objects


@pytest.mark.parametrize(
    ("verdict", "reason"),
    [
        ("THREATS_FOUND", "malware"),
        ("FAILED", "malware-scan-failed"),
        ("ACCESS_DENIED", "malware-scan-failed"),
    ],
)
def test_a_malware_verdict_quarantines_the_object(harness: Harness, verdict: str, reason: str) -> None:
    # Given scanning is on and GuardDuty tagged the object
    harness.config = IngestConfig(presets=PRESETS, malware_scan=True)
    key = "uploads/acme/evil.jpg"
    # When ingest handles it
    outcome = harness.upload(key, jpeg(), tags={MALWARE_SCAN_TAG: verdict})
    # Then it is quarantined with the reason, and its bytes were never read for decoding
    assert (outcome.action, outcome.reason) == ("rejected", reason)
    assert ("get", key) not in harness.originals.calls
    assert (
        harness.originals.objects["quarantine/acme/evil.jpg"].metadata[QUARANTINE_REASON_METADATA] == reason
    )


@pytest.mark.parametrize("verdict", ["NO_THREATS_FOUND", "UNSUPPORTED"])
def test_a_clean_or_unscannable_verdict_lets_the_engine_decide(harness: Harness, verdict: str) -> None:
    # Given scanning is on and the scan found nothing (or could not scan the type)
    harness.config = IngestConfig(presets=PRESETS, malware_scan=True)
    key = "uploads/acme/fine.jpg"
    # When ingest handles it
    outcome = harness.upload(key, jpeg(), tags={MALWARE_SCAN_TAG: verdict})
    # Then it is processed
    assert outcome.action == "processed"


def test_no_scan_result_yet_fails_the_message_for_a_later_retry(harness: Harness) -> None:
    # Given scanning is on and the object has no scan tag yet
    harness.config = IngestConfig(presets=PRESETS, malware_scan=True)
    key = "uploads/acme/early.jpg"
    record = harness.put(key, jpeg())
    message = sqs_record(s3_body(record))
    # When the handler gets the message
    response = harness.app().handle(sqs_event([message]), None)
    # Then the message fails (SQS retries it), nothing was read, moved or rendered, the record waits
    assert response == {"batchItemFailures": [{"itemIdentifier": message["messageId"]}]}
    assert key in harness.originals.objects
    assert ("get", key) not in harness.originals.calls
    assert harness.renditions.keys() == []
    assert harness.record_of(key).status == "PROCESSING"
    # When GuardDuty tags it clean and the message comes back
    harness.originals.objects[key].tags[MALWARE_SCAN_TAG] = "NO_THREATS_FOUND"
    response = harness.app().handle(sqs_event([message]), None)
    # Then it is processed, announced once
    assert response == {"batchItemFailures": []}
    assert harness.record_of(key).status == "READY"
    assert harness.publisher.types().count(IMAGE_UPLOADED) == 1


def test_a_rejected_message_is_not_retried(harness: Harness) -> None:
    # Given a message for a file that is not an image
    record = harness.put("uploads/acme/notes.jpg", b"plain text, no pixels" * 20)
    message = sqs_record(s3_body(record))
    # When the handler gets it
    response = harness.app().handle(sqs_event([message]), None)
    # Then the message succeeds (deleted from the queue): a rejection is final, not a failure
    assert response == {"batchItemFailures": []}
    assert harness.record_of("uploads/acme/notes.jpg").status == STATUS_REJECTED


def test_a_rejected_upload_gives_its_bytes_back_to_the_quota(harness: Harness) -> None:
    # Given a quota gate that counts bytes
    harness.quota = FakeQuota(limit=10_000_000)
    # When an upload is admitted and then rejected as truncated
    outcome = harness.upload("uploads/acme/cut.jpg", TRUNCATED_JPEG)
    # Then the tenant's storage is back where it was
    assert (outcome.action, outcome.reason) == ("rejected", "truncated")
    assert harness.quota.used == {"acme": 0}


def test_deleting_a_ready_image_gives_its_bytes_back_once(harness: Harness) -> None:
    # Given a ready image counted against the tenant's quota
    harness.quota = FakeQuota(limit=10_000_000)
    data = jpeg()
    key = "uploads/acme/kept.jpg"
    assert harness.upload(key, data).action == "processed"
    assert harness.quota.used == {"acme": len(data)}
    # When its original is deleted, and the delete event is delivered twice
    sequencer = next_sequencer()
    harness.delete(key, sequencer=sequencer)
    harness.delete(key, sequencer=sequencer)
    # Then the bytes were given back exactly once
    assert harness.quota.used == {"acme": 0}
