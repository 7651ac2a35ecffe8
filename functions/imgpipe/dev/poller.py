"""A queue poller with the semantics of Lambda's SQS event source mapping, one worker per lane.

- Batch size and batching window: messages are gathered until the batch is full or the window has
  passed since the first one arrived (window 0: whatever one receive returns).
- The handler gets the SQS event Lambda sends (`Records` with `messageId`, `receiptHandle`, `body`,
  `attributes`, `eventSourceARN`, ...) and a Lambda-like context.
- Partial batch failures (`ReportBatchItemFailures`): messages named in `batchItemFailures` are not
  deleted, so they become visible again after the queue's visibility timeout; a response naming an
  unknown id fails the whole batch, as Lambda does.
- A handler that raises fails the whole batch. A handler that dies (`WorkerKilled` or any other
  BaseException, standing in for a timeout or an out-of-memory kill) loses its execution environment:
  nothing is deleted and the next batch starts from a new environment (a cold start).
- `maxReceiveCount` → DLQ is SQS's own redrive policy (moto applies it on the next receive).

Short polling (WaitTimeSeconds=0) with a short sleep: moto's long poll spins while messages are in flight.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_log = logging.getLogger("imgpipe-dev")

Handler = Callable[[dict[str, Any], Any], Any]
MAX_RECEIVE = 10  # SQS returns at most ten messages per ReceiveMessage
IDLE_SLEEP_SECONDS = 0.2


class WorkerKilled(BaseException):
    """Raised inside a handler to stand for the execution environment dying mid-batch (tests, drills)."""


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that Powertools and handlers read."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


@dataclass(frozen=True)
class Invocation:
    """What one invocation came to (for the console, `status` and tests)."""

    lane: str
    messages: int
    failed: int  # left on the queue: visible again after the visibility timeout
    duration_ms: float
    receive_counts: tuple[int, ...]
    error: str | None = None  # the handler raised (whole batch failed)
    killed: bool = False  # the worker died mid-batch (whole batch left in flight)


@dataclass(frozen=True)
class LaneSettings:
    lane: str
    function_name: str
    batch_size: int
    batching_window_seconds: float
    timeout_seconds: int
    memory_mb: int


class LanePoller:
    """Drains one queue into one handler on one daemon thread, as the event source mapping would."""

    def __init__(
        self,
        settings: LaneSettings,
        *,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        handler_factory: Callable[[], Handler],
        on_invocation: Callable[[Invocation], None] | None = None,
    ) -> None:
        self.settings = settings
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.handler_factory = handler_factory
        self.on_invocation = on_invocation
        self._handler: Handler | None = None
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._thread: threading.Thread | None = None
        self.invocations: list[Invocation] = []
        self.cold_starts = 0
        self.busy = False

    # Lifecycle

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"imgpipe-{self.settings.lane}-worker", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def pause(self) -> None:
        """Stop taking new batches (the batch in hand finishes); for drills and tests."""
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # The loop

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._paused.is_set():
                self._stop.wait(IDLE_SLEEP_SECONDS)
                continue
            try:
                messages = self._gather()
            except Exception:
                _log.exception("%s lane: receiving from the queue failed", self.settings.lane)
                self._stop.wait(1.0)
                continue
            if not messages:
                self._stop.wait(IDLE_SLEEP_SECONDS)
                continue
            self._invoke(messages)

    def _receive(self, count: int) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=max(1, min(MAX_RECEIVE, count)),
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        return messages

    def _gather(self) -> list[dict[str, Any]]:
        size = self.settings.batch_size
        messages = self._receive(size)
        if not messages or len(messages) >= size or self.settings.batching_window_seconds <= 0:
            return messages
        deadline = time.monotonic() + self.settings.batching_window_seconds
        while len(messages) < size and not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            more = self._receive(size - len(messages))
            messages.extend(more)
            if not more:
                self._stop.wait(min(IDLE_SLEEP_SECONDS, remaining))
        return messages

    def _event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        records = []
        for message in messages:
            attributes = message.get("Attributes", {})
            records.append(
                {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "attributes": {
                        "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
                        "SentTimestamp": attributes.get("SentTimestamp", "0"),
                        "SenderId": attributes.get("SenderId", "local"),
                        "ApproximateFirstReceiveTimestamp": attributes.get(
                            "ApproximateFirstReceiveTimestamp", "0"
                        ),
                    },
                    "messageAttributes": message.get("MessageAttributes", {}),
                    "md5OfBody": message.get("MD5OfBody", ""),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue_arn,
                    "awsRegion": self.queue_arn.split(":")[3],
                }
            )
        return {"Records": records}

    def _invoke(self, messages: list[dict[str, Any]]) -> None:
        settings = self.settings
        if self._handler is None:
            self._handler = self.handler_factory()
            self.cold_starts += 1
        context = LambdaContext(
            function_name=settings.function_name,
            memory_limit_in_mb=settings.memory_mb,
            timeout_seconds=settings.timeout_seconds,
        )
        counts = tuple(int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1")) for m in messages)
        started = time.perf_counter()
        error: str | None = None
        killed = False
        failed_ids: set[str] = set()
        ids = [m["MessageId"] for m in messages]
        self.busy = True
        try:
            response = self._handler(self._event(messages), context)
            failed_ids = _failed_ids(response, set(ids))
        except Exception as raised:  # a function error: the whole batch is retried
            error = f"{type(raised).__name__}: {raised}"
            failed_ids = set(ids)
        except BaseException as raised:  # the environment died: nothing is acknowledged
            killed = True
            error = f"worker died mid-batch ({type(raised).__name__})"
            failed_ids = set(ids)
            self._handler = None
        finally:
            self.busy = False
        duration_ms = (time.perf_counter() - started) * 1000
        if duration_ms > settings.timeout_seconds * 1000:
            _log.warning(
                "%s lane: invocation took %.1f s, longer than the function timeout (%d s)",
                settings.lane,
                duration_ms / 1000,
                settings.timeout_seconds,
            )
        done = [m for m in messages if m["MessageId"] not in failed_ids]
        for start in range(0, len(done), MAX_RECEIVE):
            chunk = done[start : start + MAX_RECEIVE]
            try:
                self.sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)
                    ],
                )
            except Exception:  # not deleted: SQS delivers them again, and ingest is idempotent
                _log.exception("%s lane: deleting processed messages failed", settings.lane)
        invocation = Invocation(
            lane=settings.lane,
            messages=len(messages),
            failed=len(failed_ids),
            duration_ms=duration_ms,
            receive_counts=counts,
            error=error,
            killed=killed,
        )
        self.invocations.append(invocation)
        if self.on_invocation is not None:
            try:
                self.on_invocation(invocation)
            except Exception:
                _log.exception("invocation callback failed")


def _failed_ids(response: Any, batch: set[str]) -> set[str]:
    """The ids to leave on the queue, read as Lambda reads a ReportBatchItemFailures response."""
    if response is None:
        return set()
    if not isinstance(response, dict):
        return set()
    failures = response.get("batchItemFailures")
    if not failures:
        return set()
    failed: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in batch:
            return set(batch)  # an invalid response fails the whole batch
        failed.add(str(identifier))
    return failed
