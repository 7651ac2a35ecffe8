"""Fault injection: a throttle, a 5xx or a dead worker at every call site, then SQS's retries.

Each scenario is run once per call the service makes to S3, DynamoDB or EventBridge (counted in a dry run).
For every call site the fault is injected exactly there, then the message is delivered again (after the
visibility timeout) until it succeeds, up to the queue's maxReceiveCount. Afterwards every upload must be
READY or REJECTED (or DELETED when it was deleted), with its renditions or its quarantined original, once:
no record lost or doubled, batch counters exact, each event published. An event may be published twice only
where at-least-once cannot be avoided: the publish succeeded and the write recording it did not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from imgpipe.records import EventDetail
from infra.constants import (
    BATCH_COMPLETED,
    IMAGE_DELETED,
    IMAGE_PROCESSED,
    IMAGE_REJECTED,
    IMAGE_UPLOADED,
    QUARANTINE_REASON_METADATA,
    STATUS_DELETED,
    STATUS_READY,
    STATUS_REJECTED,
)
from ingest.service import IngestConfig, ScanPending
from tests.events import s3_record
from tests.fakes import FakeObjectStore
from tests.unit.ingest.conftest import Harness, Throttled, jpeg

MAX_RECEIVES = 5  # lanes.maxReceiveCount: after this many receives a message is in the DLQ
STORE_OPERATIONS = ("head", "get", "put", "delete", "tags", "move", "copy", "list")
REPOSITORY_OPERATIONS = (
    "get_source",
    "claim_source",
    "save_source",
    "get_image",
    "create_image",
    "save_image",
    "finish_image",
    "find_by_checksum",
    "get_batch",
    "set_batch_expected",
    "claim_batch_completion",
    "mark_batch_completed",
    "release_batch_claim",
)
# A fault on these may come after a successful publish whose record could not be written: the retry
# publishes again (at least once), which the assertions allow for them only.
AFTER_PUBLISH = frozenset({"repository.save_image", "repository.mark_batch_completed"})
FAST = IngestConfig(presets={"small": "w=48"}, eager_formats=("webp",))


class Killed(BaseException):
    """The worker stops dead (timeout, out of memory): no `except Exception` of the service runs."""


@dataclass
class Chaos:
    """Counts every call the service makes to a fake and raises `fault` at call number `at` (once)."""

    at: int = -1
    fault: Callable[[], BaseException] = lambda: Throttled("SlowDown (503)")
    calls: list[str] = field(default_factory=list)
    hit: str | None = None

    def __call__(self, site: str) -> None:
        self.calls.append(site)
        if len(self.calls) - 1 == self.at:
            self.hit = site
            raise self.fault()

    def install(self, harness: Harness) -> None:
        stores: tuple[tuple[str, FakeObjectStore], ...] = (
            ("originals", harness.originals),
            ("renditions", harness.renditions),
        )
        for name, store in stores:
            for operation in STORE_OPERATIONS:
                store.fail_on[operation] = lambda _key, site=f"{name}.{operation}": self(site)
        for operation in REPOSITORY_OPERATIONS:
            harness.repository.fail_on[operation] = lambda site=f"repository.{operation}": self(site)

        def publish(details: Sequence[EventDetail]) -> None:
            self("events." + ",".join(detail.DETAIL_TYPE for detail in details))

        harness.publisher.fail = publish


def deliver(harness: Harness, events: Sequence[dict[str, Any]]) -> list[int]:
    """Lambda + SQS: run each message; failed ones come back after the visibility timeout. Returns the
    indexes that would be in the DLQ."""
    pending = list(range(len(events)))
    for _ in range(MAX_RECEIVES):
        failed = []
        for index in pending:
            try:
                harness.run(events[index])
            except AssertionError:
                raise  # a fake caught a forbidden transition: a bug, not a fault to retry
            except (Exception, Killed):
                failed.append(index)
        pending = failed
        if not pending:
            break
        harness.clock.now += timedelta(minutes=10)
    return pending


@dataclass
class Scenario:
    """Given (run without faults), the events under test, and the final state they must reach."""

    name: str
    given: Callable[[Harness], list[dict[str, Any]]]
    check: Callable[[Harness, str | None], None]


def once_or_twice(harness: Harness, detail_type: str, hit: str | None, expected: int = 1) -> None:
    count = harness.publisher.types().count(detail_type)
    if hit in AFTER_PUBLISH:
        assert expected <= count <= expected * 2, (detail_type, count)
    else:
        assert count == expected, (detail_type, count, hit)


def assert_ready(harness: Harness, key: str) -> None:
    [record] = harness.records_of(key)
    assert record.status == STATUS_READY, (key, record.status, record.reason)
    assert record.renditions
    assert sorted(r.key for r in record.renditions) == harness.rendition_keys(key)


def assert_rejected(harness: Harness, key: str, reason: str) -> None:
    [record] = harness.records_of(key)
    assert (record.status, record.reason) == (STATUS_REJECTED, reason)
    assert key not in harness.originals.objects
    assert record.quarantine_key is not None
    assert harness.originals.objects[record.quarantine_key].metadata[QUARANTINE_REASON_METADATA] == reason
    assert harness.rendition_keys(key) == []


# Scenarios


def single_upload(harness: Harness) -> list[dict[str, Any]]:
    return [harness.put("uploads/acme/one.jpg", jpeg(64, 48))]


def check_single_upload(harness: Harness, hit: str | None) -> None:
    assert_ready(harness, "uploads/acme/one.jpg")
    once_or_twice(harness, IMAGE_UPLOADED, hit)
    once_or_twice(harness, IMAGE_PROCESSED, hit)


def bad_upload(harness: Harness) -> list[dict[str, Any]]:
    return [harness.put("uploads/acme/bad.jpg", b"not an image at all" * 10)]


def check_bad_upload(harness: Harness, hit: str | None) -> None:
    assert_rejected(harness, "uploads/acme/bad.jpg", "not-an-image")
    once_or_twice(harness, IMAGE_UPLOADED, hit)
    once_or_twice(harness, IMAGE_REJECTED, hit)


def duplicate_upload(harness: Harness) -> list[dict[str, Any]]:
    data = jpeg(64, 48, seed=3)
    harness.upload("uploads/acme/first.jpg", data)
    return [harness.put("uploads/acme/second.jpg", data)]


def check_duplicate_upload(harness: Harness, hit: str | None) -> None:
    assert_ready(harness, "uploads/acme/first.jpg")
    assert_ready(harness, "uploads/acme/second.jpg")
    once_or_twice(harness, IMAGE_PROCESSED, hit, expected=2)


def deletion(harness: Harness) -> list[dict[str, Any]]:
    harness.upload("uploads/acme/gone.jpg", jpeg(64, 48))
    harness.originals.objects.pop("uploads/acme/gone.jpg")
    return [s3_record("uploads/acme/gone.jpg", event_name="ObjectRemoved:Delete")]


def check_deletion(harness: Harness, hit: str | None) -> None:
    [record] = harness.records_of("uploads/acme/gone.jpg")
    assert (record.status, record.reason) == (STATUS_DELETED, "deleted")
    assert harness.rendition_keys("uploads/acme/gone.jpg") == []
    once_or_twice(harness, IMAGE_DELETED, hit)


BATCH = "uploads/acme/batches/b-9/"


def batch(harness: Harness) -> list[dict[str, Any]]:
    harness.service.open_batch("acme", "b-9", 3)
    return [
        harness.put(BATCH + "a.jpg", jpeg(64, 48, seed=1)),
        harness.put(BATCH + "b.jpg", jpeg(64, 48, seed=2)),
        harness.put(BATCH + "c.jpg", b"text, not pixels" * 10),
    ]


def check_batch(harness: Harness, hit: str | None) -> None:
    assert_ready(harness, BATCH + "a.jpg")
    assert_ready(harness, BATCH + "b.jpg")
    assert_rejected(harness, BATCH + "c.jpg", "not-an-image")
    stored = harness.repository.batches[("acme", "b-9")]
    assert (stored.ready, stored.rejected, stored.deleted, stored.done) == (2, 1, 0, 3)
    assert stored.completed and stored.claim_until is None
    count = harness.publisher.types().count(BATCH_COMPLETED)
    assert count == 1 or (hit == "repository.mark_batch_completed" and count == 2), (count, hit)
    [detail, *_] = harness.publisher.of_type(BATCH_COMPLETED)
    assert (detail.model_dump()["ready"], detail.model_dump()["rejected"]) == (2, 1)


SCENARIOS = [
    Scenario("single upload", single_upload, check_single_upload),
    Scenario("rejected upload", bad_upload, check_bad_upload),
    Scenario("duplicate upload", duplicate_upload, check_duplicate_upload),
    Scenario("deletion", deletion, check_deletion),
    Scenario("batch of three", batch, check_batch),
]
FAULTS: dict[str, Callable[[], BaseException]] = {
    "throttled": lambda: Throttled("ThrottlingException: rate exceeded"),
    "5xx": lambda: Throttled("InternalError (500): We encountered an internal error"),
    "worker killed": Killed,
}


def call_sites(scenario: Scenario) -> list[str]:
    harness = Harness(config=FAST)
    events = scenario.given(harness)
    chaos = Chaos()
    chaos.install(harness)
    assert deliver(harness, events) == []
    scenario.check(harness, None)
    return chaos.calls


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_a_fault_at_every_call_site_ends_consistent_after_retries(scenario: Scenario, fault: str) -> None:
    sites = call_sites(scenario)
    # The scenario reaches S3, DynamoDB and EventBridge (so every kind of call site is covered)
    kinds = {site.split(".")[0] for site in sites}
    assert {"repository", "events"} <= kinds and kinds & {"originals", "renditions"}
    for index, site in enumerate(sites):
        # Given the scenario with one fault injected at call number `index`
        harness = Harness(config=FAST)
        events = scenario.given(harness)
        chaos = Chaos(at=index, fault=FAULTS[fault])
        chaos.install(harness)
        # When SQS delivers until every message succeeded (or went to the DLQ)
        dead = deliver(harness, events)
        # Then nothing is in the DLQ and the state is the fault-free one
        assert chaos.hit == site, (index, chaos.hit, site)
        assert dead == [], f"{fault} at {site} (call {index}) left messages for the DLQ"
        try:
            scenario.check(harness, chaos.hit)
        except AssertionError as error:
            raise AssertionError(f"{fault} at {site} (call {index}): {error}") from error


def test_a_fault_that_never_clears_ends_in_the_dlq_with_a_consistent_record() -> None:
    # Given a bucket that throttles every read of one upload
    harness = Harness(config=FAST)
    [event] = single_upload(harness)
    harness.originals.fail_on["get"] = lambda _key: (_ for _ in ()).throw(Throttled("SlowDown"))
    # When SQS delivers it maxReceiveCount times
    dead = deliver(harness, [event])
    # Then it is left for the DLQ, and the record waits in PROCESSING (Uploaded announced once, nothing else)
    assert dead == [0]
    [record] = harness.records_of("uploads/acme/one.jpg")
    assert record.status == "PROCESSING"
    assert harness.publisher.types() == [IMAGE_UPLOADED]
    # And a redrive after the fault cleared finishes it (imgpipe redrive)
    harness.originals.fail_on.clear()
    assert deliver(harness, [event]) == []
    assert_ready(harness, "uploads/acme/one.jpg")


def test_scan_pending_is_retried_not_failed_for_good() -> None:
    # Given scanning on and the tag arriving between two receives
    harness = Harness(
        config=IngestConfig(presets={"small": "w=48"}, eager_formats=("webp",), malware_scan=True)
    )
    [event] = single_upload(harness)
    with pytest.raises(ScanPending):
        harness.run(event)
    harness.originals.objects["uploads/acme/one.jpg"].tags["GuardDutyMalwareScanStatus"] = "NO_THREATS_FOUND"
    # When it comes back, Then it is processed
    assert harness.run(event).action == "processed"
