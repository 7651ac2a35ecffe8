"""`imgpipe dev` routes like the stack: batch members straight to the bulk lane, every delete interactive."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from imgpipe.dev.ops import queue_depths
from infra.constants import BATCHES_PREFIX, UPLOADS_PREFIX
from tests.builders import encode, photo_like
from tests.local.conftest import LiveStack


def _settle(live: LiveStack, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not live.stack.idle():
        assert time.monotonic() < deadline, "the local stack did not become idle"
        time.sleep(0.2)


def _waiting(live: LiveStack) -> dict[str, int]:
    """Messages visible on each lane's queue (SQS's approximate count; moto's is exact)."""
    return {
        lane: int((depth["queue"] or {}).get("visible", 0))
        for lane, depth in queue_depths(live.stack.target()).items()
    }


@contextmanager
def _lanes_paused(live: LiveStack) -> Iterator[None]:
    pollers = list(live.stack.pollers.values())
    for poller in pollers:
        poller.pause()
    _settle_workers(live)
    try:
        yield
    finally:
        for poller in pollers:
            poller.resume()


def _settle_workers(live: LiveStack, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while any(poller.busy for poller in live.stack.pollers.values()):
        assert time.monotonic() < deadline, "a worker stayed busy"
        time.sleep(0.1)


def test_the_embedded_bucket_notifies_the_lanes_as_the_stack_does(live: LiveStack) -> None:
    # Given the embedded originals bucket's notification configuration
    stack = live.stack
    assert stack.session is not None
    resources = stack.require_resources()
    configuration = stack.session.client("s3").get_bucket_notification_configuration(
        Bucket=resources.originals_bucket
    )
    queues = {resources.interactive.queue_arn: "interactive", resources.bulk.queue_arn: "bulk"}
    routes = {
        (event, rule["Value"], queues[queue["QueueArn"]])
        for queue in configuration["QueueConfigurations"]
        for rule in queue["Filter"]["Key"]["FilterRules"]
        for event in queue["Events"]
    }
    # Then batch members are created on the bulk lane only, and every removal is interactive
    assert routes == {
        ("s3:ObjectCreated:*", UPLOADS_PREFIX, "interactive"),
        ("s3:ObjectCreated:*", BATCHES_PREFIX, "bulk"),
        ("s3:ObjectRemoved:*", UPLOADS_PREFIX, "interactive"),
        ("s3:ObjectRemoved:*", BATCHES_PREFIX, "interactive"),
    }


def test_a_batch_member_never_touches_the_interactive_lane_and_its_delete_does(live: LiveStack) -> None:
    # Given an idle stack whose workers hold off for a moment
    _settle(live)
    key = live.key("member.jpg", batch="lanes")
    assert key.startswith(f"{BATCHES_PREFIX}local/lanes/")
    with _lanes_paused(live):
        # When a batch member is uploaded
        live.stack.put_original(key, encode(photo_like(96, 64, seed=4), "JPEG"), "image/jpeg")
        # Then its notification waits on the bulk queue, and the interactive queue holds nothing
        assert _waiting(live) == {"interactive": 0, "bulk": 1}
    record = live.wait([key])[key]
    assert (record.status, record.batch_id) == ("READY", "lanes")
    _settle(live)
    with _lanes_paused(live):
        # When it is deleted
        live.stack.delete_original(key)
        # Then the removal waits on the interactive queue, not behind the bulk lane
        assert _waiting(live) == {"interactive": 1, "bulk": 0}
    assert live.wait_status(key, "DELETED").status == "DELETED"
