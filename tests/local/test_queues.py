"""Event-source-mapping semantics: a worker dying mid-batch loses nothing; failures go to the DLQ; redrive."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from imgpipe.cli import main
from imgpipe.dev.ops import queue_depths
from imgpipe.dev.poller import Handler, WorkerKilled
from tests.builders import colour_card, encode
from tests.local.conftest import MAX_RECEIVE_COUNT, VISIBILITY_TIMEOUT, LiveStack


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _depth(live: LiveStack, lane: str, queue: str = "queue") -> dict[str, int]:
    depth: dict[str, int] = queue_depths(live.stack.target())[lane][queue]
    return depth


def test_a_worker_killed_mid_batch_loses_nothing(live: LiveStack) -> None:
    stack = live.stack
    bulk = stack.pollers["bulk"]
    # Given a batch of four, waiting in the bulk lane while its worker is held back
    keys = [live.key(f"batch-{index}.jpg", batch="drill") for index in range(4)]
    stack.open_batch("local", "drill", len(keys))
    # (S3 sends each configured queue an s3:TestEvent when notifications are set: let it go by first)
    _wait(lambda: sum(_depth(live, "bulk").values()) == 0 and not bulk.busy, 30, "the bulk lane to be idle")
    bulk.pause()
    try:
        for index, key in enumerate(keys):
            stack.put_original(key, encode(colour_card(96 + index, 64), "JPEG"), "image/jpeg")
        _wait(lambda: _depth(live, "bulk")["visible"] == len(keys), 30, "the batch to reach the bulk queue")
        # And a worker that dies after doing half of its first batch (records, renditions, events written)
        original_factory = bulk.handler_factory
        died = threading.Event()

        def factory() -> Handler:
            handler = original_factory()

            def invoke(event: dict[str, Any], context: Any) -> Any:
                if not died.is_set():
                    died.set()
                    handler({"Records": event["Records"][: len(event["Records"]) // 2]}, context)
                    raise WorkerKilled
                return handler(event, context)

            return invoke

        bulk.handler_factory = factory
        bulk._handler = None
    finally:
        bulk.resume()
    # When the pipeline runs on
    records = live.wait(keys, timeout=60)
    bulk.handler_factory = original_factory
    # Then every image is READY exactly once, the batch is complete and counted once
    assert died.is_set()
    assert all(record.status == "READY" for record in records.values())
    killed = [invocation for invocation in bulk.invocations if invocation.killed]
    assert killed and killed[0].messages == len(keys)
    # (records turn READY inside the handler; the invocation is logged once its messages are deleted)
    _wait(
        lambda: any(
            max(invocation.receive_counts) >= 2 for invocation in bulk.invocations if not invocation.killed
        ),
        10,
        "the batch to come back after the visibility timeout",
    )
    assert bulk.cold_starts >= 2  # the dead environment was replaced
    batch = stack.ingest_app().service.repository.get_batch("local", "drill")
    assert batch is not None and batch.completed and (batch.done, batch.ready) == (4, 4)

    def completions() -> list[Any]:
        return [
            event
            for event in stack.events
            if event.detail_type == "Batch Completed" and event.detail.get("batch_id") == "drill"
        ]

    _wait(completions, 10, "Batch Completed")
    time.sleep(0.5)
    assert len(completions()) == 1


def test_failed_messages_come_back_then_go_to_the_dlq_and_redrive_returns_them(
    live: LiveStack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = live.stack
    resources = stack.require_resources()
    sqs = stack.session.client("sqs")  # type: ignore[union-attr]
    interactive = stack.pollers["interactive"]
    before = len(interactive.invocations)
    # Given a message ingest cannot parse (a partial batch failure every time it is received)
    poison = json.dumps({"Records": [{"bad": 1}]})
    sqs.send_message(QueueUrl=resources.interactive.queue_url, MessageBody=poison)
    # When it has been received maxReceiveCount times
    timeout = (VISIBILITY_TIMEOUT + 1) * (MAX_RECEIVE_COUNT + 2)
    _wait(lambda: _depth(live, "interactive", "dlq")["visible"] == 1, timeout, "the message to reach the DLQ")
    # Then it was left on the queue (not deleted) after each failure, with a growing receive count
    failures = [i for i in interactive.invocations[before:] if i.failed]
    assert [max(i.receive_counts) for i in failures][:MAX_RECEIVE_COUNT] == list(
        range(1, MAX_RECEIVE_COUNT + 1)
    )
    # And `imgpipe status` shows it; `imgpipe redrive` moves it back to its queue
    data = str(live.options.data_dir)
    assert main(["status", "--data", data]) == 0
    assert "1 message(s) in dead-letter queues" in capsys.readouterr().out
    interactive.pause()
    try:
        assert main(["redrive", "--lane", "interactive", "--data", data]) == 0
        assert "interactive: moved 1 message(s)" in capsys.readouterr().out
        assert _depth(live, "interactive", "dlq")["visible"] == 0
        assert _depth(live, "interactive")["visible"] == 1
        # (clean up: the poison message would only go round again)
        for message in sqs.receive_message(
            QueueUrl=resources.interactive.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", []):
            if message["Body"] == poison:
                sqs.delete_message(
                    QueueUrl=resources.interactive.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
    finally:
        interactive.resume()
