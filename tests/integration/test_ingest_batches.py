"""Batches and lanes under moto: forwarding to the bulk lane, counters, and one `Batch Completed`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from moto.core.botocore_stubber import BotocoreStubber

from imgpipe.records import BatchCompleted
from infra.constants import BATCH_COMPLETED, LANE_BULK, LANE_INTERACTIVE, STATUS_READY, STATUS_REJECTED
from tests.builders import encode, photo_like
from tests.integration.ingest_stack import (
    ORIGINALS,
    IngestStack,
    ingest_stack,
    lambda_record,
    small_presets,
)

__all__ = ["ingest_stack"]

BATCH = "uploads/acme/batches/b-7/"


def test_batch_uploads_go_to_the_bulk_lane_and_complete_once(ingest_stack: IngestStack) -> None:
    # Given a batch of three declared up front (as the API does), and one interactive upload beside it
    small_presets(ingest_stack)
    service = ingest_stack.app(LANE_BULK).service
    service.open_batch("acme", "b-7", 3)
    for index in range(2):
        ingest_stack.put_original(f"{BATCH}p{index}.jpg", encode(photo_like(160, 120, seed=index), "JPEG"))
    ingest_stack.put_original(f"{BATCH}bad.jpg", b"not a picture" * 30)
    ingest_stack.put_original("uploads/acme/single.jpg", encode(photo_like(160, 120, seed=9), "JPEG"))
    interactive, bulk = ingest_stack.lanes[LANE_INTERACTIVE], ingest_stack.lanes[LANE_BULK]
    notified = {body for body in ingest_stack.peek(interactive.queue_url) if "batches" in body}
    # When only the interactive lane runs
    while ingest_stack.poll(LANE_INTERACTIVE):
        pass
    # Then the single upload is READY, and the batch messages sit in the bulk queue unchanged, unread
    assert ingest_stack.record_of("uploads/acme/single.jpg").status == STATUS_READY
    assert set(ingest_stack.peek(bulk.queue_url)) == notified and len(notified) == 3
    read = [call for call in ingest_stack.calls if call in ("s3.GetObject", "s3.HeadObject")]
    assert len(read) == 1  # the single upload's GetObject; no batch key was read
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
    # Given a batch of 12 forwarded to the bulk queue, with the expected count not yet declared
    small_presets(ingest_stack)
    for index in range(12):
        ingest_stack.put_original(f"{BATCH}p{index:02}.jpg", encode(photo_like(96, 64, seed=index), "JPEG"))
    while ingest_stack.poll(LANE_INTERACTIVE):
        pass
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
