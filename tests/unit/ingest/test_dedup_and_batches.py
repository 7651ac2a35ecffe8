"""Duplicate detection by checksum, and batches: counters and exactly one `Batch Completed`."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from imgpipe.ports import ConditionFailed
from imgpipe.records import EventDetail
from infra.constants import BATCH_COMPLETED, IMAGE_PROCESSED, STATUS_READY
from ingest.service import BATCH_CLAIM_SECONDS
from tests.unit.ingest.conftest import Harness, Throttled, jpeg, throttle

DATA = jpeg(320, 240)


def test_same_tenant_same_bytes_links_to_the_existing_renditions(harness: Harness) -> None:
    # Given a processed upload
    harness.upload("uploads/acme/first.jpg", DATA)
    first = harness.record_of("uploads/acme/first.jpg")
    # When the same bytes are uploaded under another name by the same tenant
    outcome = harness.upload("uploads/acme/again/second.jpg", DATA)
    # Then nothing is rendered: the renditions are server-side copies under the new key's canonical keys
    assert outcome.action == "duplicate"
    assert not [key for operation, key in harness.renditions.calls if operation == "put" and "second" in key]
    second = harness.record_of("uploads/acme/again/second.jpg")
    assert second.duplicate_of == first.image_id and second.status == STATUS_READY
    assert len(second.renditions) == len(first.renditions)
    for old, new in zip(first.renditions, second.renditions, strict=True):
        assert new.key == old.key.replace("uploads/acme/first.jpg", "uploads/acme/again/second.jpg")
        assert harness.renditions.data(new.key) == harness.renditions.data(old.key)
        copied, source = harness.renditions.objects[new.key], harness.renditions.objects[old.key]
        assert (copied.cache_control, copied.content_type) == (source.cache_control, source.content_type)
    # And the record carries the facts and its own SEO name; Image Processed names the original
    assert (second.width, second.height, second.sha256) == (first.width, first.height, first.sha256)
    assert second.seo_name == "second"
    assert harness.publisher.of_type(IMAGE_PROCESSED)[-1].model_dump()["duplicate_of"] == first.image_id


def test_another_tenant_with_the_same_bytes_is_rendered_on_its_own(harness: Harness) -> None:
    # Given one tenant's processed upload
    harness.upload("uploads/acme/first.jpg", DATA)
    # When another tenant uploads the same bytes
    outcome = harness.upload("uploads/globex/first.jpg", DATA)
    # Then it is rendered, not linked (tenants never share anything)
    assert outcome.action == "processed"
    assert harness.record_of("uploads/globex/first.jpg").duplicate_of is None


def test_a_duplicate_with_a_lying_name_is_still_rejected(harness: Harness) -> None:
    # Given a processed JPEG
    harness.upload("uploads/acme/first.jpg", DATA)
    # When the same bytes arrive named .png
    outcome = harness.upload("uploads/acme/fake.png", DATA, "application/octet-stream")
    # Then the name check applies as for any upload
    assert (outcome.action, outcome.reason) == ("rejected", "type-mismatch")


def test_deleting_the_original_leaves_the_duplicates_renditions(harness: Harness) -> None:
    # Given an original and its duplicate
    harness.upload("uploads/acme/first.jpg", DATA)
    harness.upload("uploads/acme/second.jpg", DATA)
    # When the original is deleted
    harness.delete("uploads/acme/first.jpg")
    # Then the duplicate's own renditions are still there
    assert len(harness.rendition_keys("uploads/acme/second.jpg")) == 6
    assert harness.rendition_keys("uploads/acme/first.jpg") == []


# Batches

BATCH = "uploads/acme/batches/b-1/"


def completed(harness: Harness) -> list[dict[str, object]]:
    return [detail.model_dump() for detail in harness.publisher.of_type(BATCH_COMPLETED)]


def test_a_batch_completes_once_when_all_uploads_are_accounted_for(harness: Harness) -> None:
    # Given a batch of three declared up front
    harness.service.open_batch("acme", "b-1", 3)
    # When two good files and one bad file are processed
    harness.upload(BATCH + "a.jpg", jpeg(seed=1))
    harness.upload(BATCH + "b.jpg", jpeg(seed=2))
    assert completed(harness) == []
    harness.upload(BATCH + "c.jpg", b"not an image" * 10)
    # Then Batch Completed is published once with the counts
    [detail] = completed(harness)
    assert (detail["expected"], detail["ready"], detail["rejected"], detail["deleted"]) == (3, 2, 1, 0)
    batch = harness.repository.batches[("acme", "b-1")]
    assert batch.completed and batch.done == 3
    # And the image records carry the batch id
    assert harness.record_of(BATCH + "a.jpg").batch_id == "b-1"


def test_expected_set_after_the_last_image_completes_the_batch_then(harness: Harness) -> None:
    # Given two batch uploads already processed, with no expected count yet
    harness.upload(BATCH + "a.jpg", jpeg(seed=1))
    harness.upload(BATCH + "b.jpg", jpeg(seed=2))
    assert completed(harness) == []
    # When the API declares the batch with two uploads
    batch = harness.service.open_batch("acme", "b-1", 2)
    # Then the batch completes right away, once; declaring it again changes nothing
    assert batch.completed
    harness.service.open_batch("acme", "b-1", 2)
    assert len(completed(harness)) == 1


def test_redelivered_batch_messages_do_not_count_twice(harness: Harness) -> None:
    # Given a batch of two, one processed
    harness.service.open_batch("acme", "b-1", 2)
    first = harness.put(BATCH + "a.jpg", jpeg(seed=1))
    harness.run(first)
    # When its message is delivered again and the second upload arrives
    harness.run(first)
    harness.upload(BATCH + "b.jpg", jpeg(seed=2))
    # Then the counters are exact and the batch completed once
    batch = harness.repository.batches[("acme", "b-1")]
    assert (batch.ready, batch.done) == (2, 2)
    assert len(completed(harness)) == 1


def test_a_different_expected_count_is_refused(harness: Harness) -> None:
    # Given a batch declared with 3
    harness.service.open_batch("acme", "b-1", 3)
    # When it is declared again with 4, Then it is refused
    with pytest.raises(ConditionFailed):
        harness.service.open_batch("acme", "b-1", 4)


@pytest.mark.parametrize("expected", [0, -1])
def test_a_batch_expects_at_least_one_upload(harness: Harness, expected: int) -> None:
    with pytest.raises(ValueError, match="at least one"):
        harness.service.open_batch("acme", "b-1", expected)


def test_concurrent_workers_complete_a_batch_exactly_once(harness: Harness) -> None:
    # Given a batch of 12 uploads, 6 workers, and the expected count declared while they run
    keys = [f"{BATCH}p{index}.jpg" for index in range(12)]
    events = [harness.put(key, jpeg(96, 64, seed=index)) for index, key in enumerate(keys)]
    go = threading.Event()

    def run(event: dict[str, Any]) -> str:
        go.wait()
        return harness.run(event).action

    def declare() -> None:
        go.wait()
        harness.service.open_batch("acme", "b-1", 12)

    # When they all start at once (threads share the fake table, which is atomic per call like DynamoDB)
    with ThreadPoolExecutor(max_workers=7) as pool:
        declared = pool.submit(declare)
        futures = [pool.submit(run, event) for event in events]
        go.set()
        actions = [future.result(timeout=120) for future in futures]
        declared.result(timeout=120)
    # Then every upload is READY, counted once, and Batch Completed was published exactly once
    assert actions == ["processed"] * 12
    batch = harness.repository.batches[("acme", "b-1")]
    assert (batch.ready, batch.done, batch.completed) == (12, 12, True)
    assert batch.claim_until is None
    assert len(completed(harness)) == 1


def test_the_last_two_finishers_racing_announce_once(harness: Harness) -> None:
    # Given batches of 2 whose two uploads finish at the same moment, many times over
    for round_ in range(20):
        batch_id = f"race-{round_}"
        harness.service.open_batch("acme", batch_id, 2)
        events = [
            harness.put(f"uploads/acme/batches/{batch_id}/{n}.jpg", jpeg(64, 48, seed=n)) for n in (1, 2)
        ]
        barrier = threading.Barrier(2, timeout=60)

        def run(event: dict[str, Any], barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            harness.run(event)

        threads = [threading.Thread(target=run, args=(event,)) for event in events]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    # Then each batch completed exactly once
    ids = [detail["batch_id"] for detail in completed(harness)]
    assert sorted(ids) == sorted(f"race-{n}" for n in range(20))


def test_a_failed_announcement_gives_the_claim_back_and_the_retry_announces(harness: Harness) -> None:
    # Given a batch of one whose Batch Completed cannot be published on the first try
    harness.service.open_batch("acme", "b-1", 1)
    event = harness.put(BATCH + "a.jpg", jpeg())

    def refuse_batch_event(details: Sequence[EventDetail]) -> None:
        if any(detail.DETAIL_TYPE == BATCH_COMPLETED for detail in details):
            harness.publisher.fail = None
            throttle()

    harness.publisher.fail = refuse_batch_event
    # When the message fails and is retried
    with pytest.raises(Throttled):
        harness.run(event)
    batch = harness.repository.batches[("acme", "b-1")]
    assert (batch.done, batch.completed, batch.claim_until) == (1, False, None)
    harness.run(event)
    # Then Batch Completed is published once and the batch is marked completed
    assert len(completed(harness)) == 1
    assert harness.repository.batches[("acme", "b-1")].completed


class Killed(BaseException):
    """A worker that stops dead (timeout, out of memory): no except clause of the service runs."""


def test_a_worker_killed_holding_the_claim_lets_the_lease_run_out(harness: Harness) -> None:
    # Given the last upload of a batch whose worker dies right after claiming the completion
    harness.service.open_batch("acme", "b-1", 1)
    event = harness.put(BATCH + "a.jpg", jpeg())

    def die(details: Sequence[EventDetail]) -> None:
        if any(detail.DETAIL_TYPE == BATCH_COMPLETED for detail in details):
            harness.publisher.fail = None
            raise Killed

    harness.publisher.fail = die
    with pytest.raises(Killed):
        harness.run(event)
    assert harness.repository.batches[("acme", "b-1")].claim_until is not None
    # When SQS delivers the message again after its visibility timeout (longer than the lease)
    harness.clock.now += timedelta(seconds=BATCH_CLAIM_SECONDS * 6)
    outcome = harness.run(event)
    # Then the retry takes the expired claim and announces the batch, once
    assert outcome.action == "skipped"
    assert len(completed(harness)) == 1
    assert harness.repository.batches[("acme", "b-1")].completed


def test_nobody_else_announces_while_a_claim_is_held(harness: Harness) -> None:
    # Given a complete batch whose completion another worker has claimed and not yet announced
    harness.service.open_batch("acme", "b-1", 1)
    harness.repository.fail_on["claim_batch_completion"] = lambda: None
    batch = harness.repository.batches[("acme", "b-1")]
    batch.claim_until = "2999-01-01T00:00:00.000000Z"
    # When the upload is processed (this worker sees the batch complete but the claim taken)
    harness.upload(BATCH + "a.jpg", jpeg())
    # Then it does not announce
    assert completed(harness) == []
    assert harness.repository.batches[("acme", "b-1")].done == 1
