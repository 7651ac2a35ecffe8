"""The function's deadline: an animation whose renditions would not be done in time is rendered from its first
frame (and the record says so), or the message is given back, never stopped halfway by the timeout."""

from __future__ import annotations

import io
import time
from dataclasses import replace
from typing import Any

import pytest
from PIL import Image

from imgpipe.notifications import S3EventRecord, S3Notification
from infra.constants import STATUS_PROCESSING, STATUS_READY
from ingest.service import DeadlineNear
from tests.builders import animated_gif
from tests.events import FakeLambdaContext, s3_body, sqs_event, sqs_record
from tests.unit.ingest.conftest import Harness

KEY = "uploads/acme/spinner.gif"


class Remaining(FakeLambdaContext):
    def __init__(self, milliseconds: int) -> None:
        self.milliseconds = milliseconds

    def get_remaining_time_in_millis(self) -> int:
        return self.milliseconds


def in_seconds(seconds: float) -> float:
    """A deadline on the service's default clock (time.monotonic), as the handler computes it."""
    return time.monotonic() + seconds


def event(record: dict[str, Any]) -> S3EventRecord:
    return S3Notification.model_validate_json(s3_body(record)).records[0]


def frames_of(data: bytes) -> int:
    return getattr(Image.open(io.BytesIO(data)), "n_frames", 1)


def stored_frames(harness: Harness) -> dict[str, int]:
    record = harness.record_of(KEY)
    return {
        rendition.key: frames_of(harness.renditions.objects[rendition.key].data)
        for rendition in record.renditions
    }


def test_with_time_to_spare_every_animated_rendition_keeps_its_frames(harness: Harness) -> None:
    # Given an 8-frame GIF and a deadline a minute away
    record = harness.put(KEY, animated_gif(8, (90, 60)), content_type="image/gif")
    # When it is ingested
    harness.service.handle(event(record), deadline=in_seconds(60))
    # Then it is READY with animated GIF and WebP renditions, and no fallback is recorded
    stored = harness.record_of(KEY)
    assert stored.status == STATUS_READY and stored.animation_fallback is None
    assert {rendition.format for rendition in stored.renditions} == {"gif", "webp"}
    assert set(stored_frames(harness).values()) == {8}


def test_an_animation_that_would_overrun_the_deadline_is_rendered_from_its_first_frame(
    harness: Harness,
) -> None:
    # Given an animation whose renditions are estimated at far more than the 20 s left after the margin
    harness.config = replace(harness.config, animation_seconds_per_megapixel=1_000_000.0)
    record = harness.put(KEY, animated_gif(8, (90, 60)), content_type="image/gif")
    # When it is ingested with 25 s to go
    harness.service.handle(event(record), deadline=in_seconds(25))
    # Then it is READY, every rendition under its usual key holds one frame, and the record says why
    stored = harness.record_of(KEY)
    assert stored.status == STATUS_READY
    assert stored.animation_fallback is not None and "deadline" in stored.animation_fallback
    assert "s were left" in stored.animation_fallback
    frames = stored_frames(harness)
    assert len(frames) == 4 and set(frames.values()) == {1}
    assert all(key.startswith(KEY + "/") for key in frames)


def test_with_no_time_left_the_message_is_given_back_untouched(harness: Harness) -> None:
    # Given an animation and a deadline closer than the margin kept for the writes
    record = harness.put(KEY, animated_gif(8, (90, 60)), content_type="image/gif")
    # When it is ingested / Then the service refuses to start rendering, and nothing is stored
    with pytest.raises(DeadlineNear):
        harness.service.handle(event(record), deadline=in_seconds(2))
    assert harness.record_of(KEY).status == STATUS_PROCESSING
    assert harness.rendition_keys(KEY) == []
    # And the retry, with a whole invocation's time, finishes it with every frame
    harness.service.handle(event(record), deadline=in_seconds(60))
    assert harness.record_of(KEY).status == STATUS_READY
    assert set(stored_frames(harness).values()) == {8}


def test_the_handler_takes_the_deadline_from_the_lambda_context(harness: Harness) -> None:
    # Given two messages for animations, handled in invocations with 2 s and 60 s left
    late = sqs_record(s3_body(harness.put(KEY, animated_gif(8, (90, 60)), content_type="image/gif")))
    other = "uploads/acme/other.gif"
    timely = sqs_record(s3_body(harness.put(other, animated_gif(6, (90, 60)), content_type="image/gif")))
    # When the handler processes each
    short = harness.app().handle(sqs_event([late]), Remaining(2_000))  # type: ignore[arg-type]
    long = harness.app().handle(sqs_event([timely]), Remaining(60_000))  # type: ignore[arg-type]
    # Then the first message is handed back to SQS before any rendering, the second is done animated
    assert short == {"batchItemFailures": [{"itemIdentifier": late["messageId"]}]}
    assert harness.record_of(KEY).status == STATUS_PROCESSING
    assert long == {"batchItemFailures": []}
    assert harness.record_of(other).status == STATUS_READY
    assert harness.record_of(other).animation_fallback is None
