"""Batches and lanes under moto: S3 routes batch members to the bulk lane, counters, one `Batch Completed`."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote_plus

import pytest
from moto.core.botocore_stubber import BotocoreStubber

from imgpipe.records import BatchCompleted
from infra.constants import (
    BATCH_COMPLETED,
    LANE_BULK,
    LANE_INTERACTIVE,
    STATUS_DELETED,
    STATUS_READY,
    STATUS_REJECTED,
)
from tests.builders import encode, photo_like
from tests.integration.ingest_stack import (
    ORIGINALS,
    IngestStack,
    ingest_stack,
    lambda_record,
    small_presets,
)

__all__ = ["ingest_stack"]

BATCH = "batches/acme/b-7/"


def test_batch_uploads_go_to_the_bulk_lane_and_complete_once(ingest_stack: IngestStack) -> None:
    # Given a batch of three declared up front (as the API does), and one interactive upload beside it
    small_presets(ingest_stack)
    service = ingest_stack.app(LANE_BULK).service
    service.open_batch("acme", "b-7", 3)
    for index in range(2):
        ingest_stack.put_original(f"{BATCH}p{index}.jpg", encode(photo_like(160, 120, seed=index), "JPEG"))
    ingest_stack.put_original(f"{BATCH}bad.jpg", b"not a picture" * 30)
    ingest_stack.put_original("uploads/acme/single.jpg", encode(photo_like(160, 120, seed=9), "JPEG"))
    # Then S3 itself notified the bulk queue of the batch members, and the interactive queue of none
    assert not any("batches" in key for key in _notified_keys(ingest_stack, LANE_INTERACTIVE))
    assert _notified_keys(ingest_stack, LANE_BULK) == {f"{BATCH}p0.jpg", f"{BATCH}p1.jpg", f"{BATCH}bad.jpg"}
    # When only the interactive lane runs
    while ingest_stack.poll(LANE_INTERACTIVE):
        pass
    # Then the single upload is READY, and no batch key was read or handed anywhere by it
    assert ingest_stack.record_of("uploads/acme/single.jpg").status == STATUS_READY
    assert len(_notified_keys(ingest_stack, LANE_BULK)) == 3
    read = [call for call in ingest_stack.calls if call in ("s3.GetObject", "s3.HeadObject")]
    assert len(read) == 1  # the single upload's GetObject; no batch key was read
    assert "sqs.SendMessage" not in ingest_stack.calls and "sqs.SendMessageBatch" not in ingest_stack.calls
    assert ingest_stack.repository.get_source(f"{BATCH}p0.jpg") is None
    # When the bulk lane runs
    ingest_stack.drain()
    # Then the batch's images are recorded with the batch id, counted, and completed exactly once
    for index in range(2):
        record = ingest_stack.record_of(f"{BATCH}p{index}.jpg")
        assert (record.status, record.batch_id) == (STATUS_READY, "b-7")
    assert ingest_stack.record_of(f"{BATCH}bad.jpg").status == STATUS_REJECTED
    batch = ingest_stack.repository.get_batch("acme", "b-7")
    assert batch is not None
    assert (batch.expected, batch.ready, batch.rejected, batch.done, batch.completed) == (3, 2, 1, 3, True)
    assert batch.claim_until is None
    [completed] = ingest_stack.details(BATCH_COMPLETED)
    assert isinstance(completed, BatchCompleted)
    assert (completed.ready, completed.rejected, completed.completed_at) == (2, 1, batch.completed_at)
    # And the batch index lists its images
    listed = ingest_stack.dynamodb.query(
        TableName="ingest-images",
        IndexName="gsi2",
        KeyConditionExpression="gsi2pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "BATCH#acme#b-7"}},
    )["Items"]
    assert len(listed) == 3


def _notified_keys(stack: IngestStack, lane: str, event: str = "ObjectCreated") -> set[str]:
    """The keys of the S3 records of `event` waiting on `lane`'s queue (left there; the test event aside)."""
    bodies = [json.loads(body) for body in stack.peek(stack.lanes[lane].queue_url)]
    return {
        unquote_plus(record["s3"]["object"]["key"])
        for body in bodies
        for record in body.get("Records", [])
        if record["eventName"].startswith(event)
    }


@pytest.fixture
def atomic_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto computes a response in the calling thread without a lock; DynamoDB applies each request
    atomically. One lock around each moto request gives threads that model (the workers' own steps, the
    renders included, still interleave freely between requests)."""
    lock = threading.RLock()
    original: Callable[..., Any] = BotocoreStubber.__call__

    def atomic(self: BotocoreStubber, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return original(self, *args, **kwargs)

    monkeypatch.setattr(BotocoreStubber, "__call__", atomic)


@pytest.mark.usefixtures("atomic_requests")
def test_concurrent_bulk_workers_announce_the_batch_exactly_once(ingest_stack: IngestStack) -> None:
    # Given a batch of 12 on the bulk queue, with the expected count not yet declared
    small_presets(ingest_stack)
    for index in range(12):
        ingest_stack.put_original(f"{BATCH}p{index:02}.jpg", encode(photo_like(96, 64, seed=index), "JPEG"))
    bulk = ingest_stack.lanes[LANE_BULK]
    messages: list[dict[str, Any]] = []
    while len(messages) < 12:
        messages += ingest_stack.sqs.receive_message(
            QueueUrl=bulk.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
        )["Messages"]
    go = threading.Event()

    def worker(message: dict[str, Any]) -> dict[str, Any]:
        go.wait()
        return ingest_stack.invoke(LANE_BULK, [lambda_record(message, bulk.queue_arn)])

    def declare() -> None:
        go.wait()
        ingest_stack.app(LANE_BULK).service.open_batch("acme", "b-7", 12)

    # When six workers process one message each at a time, and the API declares the batch meanwhile
    ingest_stack.app(LANE_BULK)  # built once, shared by the workers (one function, many environments)
    with ThreadPoolExecutor(max_workers=7) as pool:
        declared = pool.submit(declare)
        futures = [pool.submit(worker, message) for message in messages]
        go.set()
        responses = [future.result(timeout=300) for future in futures]
        declared.result(timeout=300)
    # Then every message succeeded, every image is counted once, and Batch Completed went out once
    assert all(response["batchItemFailures"] == [] for response in responses)
    batch = ingest_stack.repository.get_batch("acme", "b-7")
    assert batch is not None and (batch.ready, batch.done, batch.completed) == (12, 12, True)
    assert len(ingest_stack.details(BATCH_COMPLETED)) == 1
    assert len(ingest_stack.keys(ORIGINALS, BATCH)) == 12


def test_a_delete_of_a_batch_image_arrives_on_the_interactive_queue(ingest_stack: IngestStack) -> None:
    # Given a processed batch member, and a batch still waiting on the bulk queue
    small_presets(ingest_stack)
    ingest_stack.put_original(f"{BATCH}gone.jpg", encode(photo_like(96, 64, seed=1), "JPEG"))
    ingest_stack.drain()
    assert ingest_stack.record_of(f"{BATCH}gone.jpg").status == STATUS_READY
    for index in range(5):
        ingest_stack.put_original(f"{BATCH}w{index}.jpg", encode(photo_like(96, 64, seed=index), "JPEG"))
    # When the tenant deletes the processed one
    ingest_stack.s3.delete_object(Bucket=ORIGINALS, Key=f"{BATCH}gone.jpg")
    # Then the removal is on the interactive queue (not behind the batch), and the interactive lane alone
    # marks the image DELETED while the batch still waits
    assert _notified_keys(ingest_stack, LANE_INTERACTIVE, "ObjectRemoved") == {f"{BATCH}gone.jpg"}
    while ingest_stack.poll(LANE_INTERACTIVE):
        pass
    assert ingest_stack.record_of(f"{BATCH}gone.jpg").status == STATUS_DELETED
    assert len(_notified_keys(ingest_stack, LANE_BULK)) == 5


def test_an_interactive_upload_is_ready_while_a_large_batch_is_still_queued(
    ingest_stack: IngestStack,
) -> None:
    # Given a batch of 40 on its way, uploaded before a single interactive upload
    small_presets(ingest_stack)
    for index in range(40):
        ingest_stack.put_original(f"{BATCH}q{index:02}.jpg", encode(photo_like(64, 48, seed=index), "JPEG"))
    ingest_stack.put_original("uploads/acme/now.jpg", encode(photo_like(96, 64, seed=99), "JPEG"))
    # When the interactive lane runs until its queue is empty (batch size 1: one invocation a message)
    invocations = 0
    while ingest_stack.poll(LANE_INTERACTIVE):
        invocations += 1
    # Then it took two invocations (S3's test event, the upload), not one per batch member, and the
    # upload is READY with not one batch member done before it
    assert invocations == 2
    assert ingest_stack.record_of("uploads/acme/now.jpg").status == STATUS_READY
    assert len(_notified_keys(ingest_stack, LANE_BULK)) == 40
    assert ingest_stack.repository.get_batch("acme", "b-7") is None


def test_the_older_batch_form_is_processed_by_the_interactive_lane_as_a_batch_member(
    ingest_stack: IngestStack,
) -> None:
    # Given an upload in the older form uploads/{tenant}/batches/{batch}/ (S3 cannot route it to bulk)
    small_presets(ingest_stack)
    key = "uploads/acme/batches/old/p.jpg"
    ingest_stack.put_original(key, encode(photo_like(96, 64, seed=3), "JPEG"))
    # When only the interactive lane runs
    while ingest_stack.poll(LANE_INTERACTIVE):
        pass
    # Then it is processed there, still as a member of its batch, and nothing went to the bulk queue
    record = ingest_stack.record_of(key)
    assert (record.status, record.batch_id) == (STATUS_READY, "old")
    assert _notified_keys(ingest_stack, LANE_BULK) == set()
