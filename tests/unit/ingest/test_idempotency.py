"""Duplicates, redeliveries, out-of-order events, overwrites and deletions of one key."""

from __future__ import annotations

import pytest
from PIL import Image

from imgpipe.notifications import S3EventRecord, S3Notification
from infra.constants import (
    IMAGE_DELETED,
    IMAGE_PROCESSED,
    IMAGE_REJECTED,
    IMAGE_UPLOADED,
    MEZZANINE_PREFIX,
    STATUS_DELETED,
    STATUS_READY,
    STATUS_REJECTED,
)
from tests.builders import encode, photo_like
from tests.events import next_sequencer, s3_body, s3_record
from tests.unit.ingest.conftest import Harness, decode, jpeg, throttle

KEY = "uploads/acme/cat.jpg"


def solid(colour: tuple[int, int, int], size: tuple[int, int] = (200, 150)) -> bytes:
    return encode(Image.new("RGB", size, colour), "JPEG", quality=95)


def small_webp(harness: Harness, key: str = KEY) -> Image.Image:
    rendition = next(k for k in harness.rendition_keys(key) if "fm=webp" in k and "w=120" in k)
    return decode(harness.renditions.data(rendition)).convert("RGB")


def test_a_duplicate_event_does_not_reprocess_rewrite_or_reannounce(harness: Harness) -> None:
    # Given an upload that was processed
    event = harness.put(KEY, jpeg())
    harness.run(event)
    puts_before = [call for call in harness.renditions.calls if call[0] == "put"]
    record_before = harness.record_of(KEY)
    # When the very same event arrives again (SQS at-least-once)
    outcome = harness.run(event)
    # Then nothing is read, written or announced again, and the record is unchanged
    assert outcome.action == "skipped"
    assert [call for call in harness.renditions.calls if call[0] == "put"] == puts_before
    assert harness.originals.calls.count(("get", KEY)) == 1
    assert harness.publisher.types() == [IMAGE_UPLOADED, IMAGE_PROCESSED]
    assert harness.record_of(KEY) == record_before
    assert len(harness.records_of(KEY)) == 1


def test_a_redelivered_rejection_is_not_reannounced(harness: Harness) -> None:
    # Given a rejected upload
    event = harness.put(KEY, b"not a picture at all" * 10)
    harness.run(event)
    # When its event is delivered again
    outcome = harness.run(event)
    # Then it stays REJECTED with one announcement
    assert outcome.action == "skipped"
    assert harness.record_of(KEY).status == STATUS_REJECTED
    assert harness.publisher.types() == [IMAGE_UPLOADED, IMAGE_REJECTED]


def test_an_older_event_after_a_newer_overwrite_does_not_clobber_it(harness: Harness) -> None:
    # Given two uploads to one key: red first (older sequencer), blue second (newer)
    older_sequencer, newer_sequencer = next_sequencer(), next_sequencer()
    harness.originals.add(KEY, solid((20, 40, 230)))  # the bucket holds the newer (blue) object
    blue_event = s3_record(KEY, sequencer=newer_sequencer, etag=harness.originals.objects[KEY].etag)
    red_event = s3_record(KEY, sequencer=older_sequencer, etag="0" * 32)
    # When the newer event is processed first and the older one arrives afterwards
    assert harness.run(blue_event).action == "processed"
    blue = harness.record_of(KEY)
    outcome = harness.run(red_event)
    # Then the older event is stale: the pointer, the record and the renditions are the blue ones
    assert outcome.action == "stale"
    assert harness.record_of(KEY) == blue
    red, _, blue_channel = small_webp(harness).getpixel((10, 10))  # type: ignore[misc]
    assert blue_channel > 180 and red < 80
    assert harness.publisher.of_type(IMAGE_PROCESSED)[0].model_dump()["image_id"] == blue.image_id
    # And the stale version is accounted for as gone (nothing was rendered for it)
    stale = next(r for r in harness.records_of(KEY) if r.image_id != blue.image_id)
    assert (stale.status, stale.reason) == (STATUS_DELETED, "gone")


def test_a_newer_overwrite_replaces_the_older_image(harness: Harness) -> None:
    # Given a processed red upload with an extra on-demand rendition beside its eager ones
    harness.upload(KEY, solid((230, 20, 20)))
    old = harness.record_of(KEY)
    harness.renditions.put(f"{KEY}/fm=webp&w=333", b"old", content_type="image/webp")
    # When a blue object overwrites the key
    outcome = harness.upload(KEY, solid((20, 40, 230), size=(300, 150)))
    # Then the new image is READY with blue renditions, the old record is DELETED as replaced
    assert outcome.action == "processed"
    new = harness.record_of(KEY)
    assert new.image_id != old.image_id and new.replaces == old.image_id
    assert harness.repository.images[old.image_id].status == STATUS_DELETED
    assert harness.repository.images[old.image_id].reason == "replaced"
    assert small_webp(harness).getpixel((10, 10))[2] > 180  # type: ignore[index]
    # And stale on-demand renditions of the old picture are gone
    assert f"{KEY}/fm=webp&w=333" not in harness.renditions.objects
    deleted = harness.publisher.of_type(IMAGE_DELETED)
    assert [d.model_dump()["cause"] for d in deleted] == ["replaced"]
    assert deleted[0].model_dump()["image_id"] == old.image_id


def test_deleting_an_original_deletes_its_renditions_and_marks_the_record(harness: Harness) -> None:
    # Given a processed image with a mezzanine, an on-demand rendition, and a neighbour whose key extends it
    harness.upload(KEY, encode(photo_like(2800, 1800), "JPEG", quality=80))
    harness.renditions.put(f"{KEY}/fm=avif&w=333", b"x", content_type="image/avif")
    neighbour = f"{KEY}/kitten.png"  # a different source whose renditions share the listing prefix
    harness.renditions.put(f"{neighbour}/fm=webp&w=120", b"n", content_type="image/webp")
    image = harness.record_of(KEY)
    eager = len(image.renditions)
    # When S3 reports the original's deletion
    outcome = harness.delete(KEY)
    # Then its renditions and mezzanine are gone, the neighbour's remain
    assert outcome.action == "deleted"
    assert harness.rendition_keys(KEY) == [f"{neighbour}/fm=webp&w=120"]
    assert f"{MEZZANINE_PREFIX}{KEY}" not in harness.renditions.objects
    # And the record is DELETED and Image Deleted says how many renditions went
    record = harness.repository.images[image.image_id]
    assert (record.status, record.reason) == (STATUS_DELETED, "deleted")
    assert record.deleted_at is not None
    detail = harness.publisher.of_type(IMAGE_DELETED)[0].model_dump()
    assert (detail["cause"], detail["renditions_deleted"]) == ("deleted", eager + 1)


def test_a_repeated_delete_event_announces_once(harness: Harness) -> None:
    # Given a deleted image
    harness.upload(KEY, jpeg())
    sequencer = next_sequencer()
    harness.delete(KEY, sequencer)
    # When the same delete event arrives again
    outcome = harness.delete(KEY, sequencer)
    # Then nothing more happens
    assert outcome.action == "skipped"
    assert harness.publisher.types().count(IMAGE_DELETED) == 1


def test_a_delete_older_than_the_upload_is_ignored(harness: Harness) -> None:
    # Given a delete whose sequencer is older than the upload that followed it
    delete_sequencer = next_sequencer()
    harness.upload(KEY, jpeg())
    # When the (older) delete event arrives late
    outcome = harness.delete(KEY, delete_sequencer)
    # Then the image stays READY with its renditions
    assert outcome.action == "stale"
    assert harness.record_of(KEY).status == STATUS_READY
    assert len(harness.rendition_keys(KEY)) == 6


def test_an_upload_older_than_a_delete_is_not_resurrected(harness: Harness) -> None:
    # Given the delete of a key was seen before the (older) upload's event
    upload_sequencer = next_sequencer()
    harness.delete(KEY)
    harness.originals.add(KEY, jpeg())  # would only be readable if S3 served a deleted object
    # When the older upload event arrives
    outcome = harness.run(s3_record(KEY, sequencer=upload_sequencer))
    # Then nothing is rendered for it
    assert outcome.action == "stale"
    assert harness.rendition_keys(KEY) == []


def test_the_quarantine_moves_own_delete_event_is_ignored(harness: Harness) -> None:
    # Given a rejected upload (moving it to quarantine deleted it under uploads/)
    harness.upload(KEY, b"definitely not an image" * 5)
    # When S3's ObjectRemoved for that move arrives
    outcome = harness.delete(KEY)
    # Then the record stays REJECTED, not DELETED
    assert outcome.action == "ignored"
    assert harness.record_of(KEY).status == STATUS_REJECTED
    assert IMAGE_DELETED not in harness.publisher.types()


def test_an_object_deleted_before_processing_is_recorded_as_gone(harness: Harness) -> None:
    # Given an upload event whose object was deleted before ingest read it
    event = s3_record(KEY)
    # When ingest handles it
    outcome = harness.run(event)
    # Then the record is DELETED (gone) and announced; the message succeeds
    assert outcome.action == "gone"
    record = harness.record_of(KEY)
    assert (record.status, record.reason) == (STATUS_DELETED, "gone")
    assert harness.publisher.types() == [IMAGE_UPLOADED, IMAGE_DELETED]


def test_an_object_overwritten_before_processing_is_left_to_the_newer_event(harness: Harness) -> None:
    # Given an event whose ETag no longer matches the object in the bucket
    harness.originals.add(KEY, jpeg(seed=1))
    event = s3_record(KEY, etag="0123456789abcdef0123456789abcdef")
    # When ingest handles it
    outcome = harness.run(event)
    # Then it renders nothing: the newer object's own event will
    assert outcome.action == "gone"
    assert harness.rendition_keys(KEY) == []


def test_a_delete_during_processing_leaves_no_renditions(harness: Harness) -> None:
    # Given an upload that is deleted while its renditions are being written
    event = harness.put(KEY, jpeg())
    service = harness.service
    state = {"deleted": False}

    def delete_midway(key: str) -> None:
        if not state["deleted"]:
            state["deleted"] = True
            harness.originals.objects.pop(KEY, None)
            harness.renditions.fail_on.pop("put")
            service.remove(KEY, sequencer=next_sequencer(), event_time=None)

    harness.renditions.fail_on["put"] = delete_midway
    # When ingest finishes its work after the delete was handled
    outcome = harness.run(event)
    # Then its late writes are removed, the record is DELETED and it never announced Processed
    assert outcome.action == "superseded"
    assert harness.rendition_keys(KEY) == []
    assert harness.record_of(KEY).status == STATUS_DELETED
    assert IMAGE_PROCESSED not in harness.publisher.types()


def test_a_retry_after_a_crash_finishes_without_duplicates(harness: Harness) -> None:
    # Given an attempt that stops (throttled) after writing some renditions
    event = harness.put(KEY, jpeg())
    writes = {"count": 0}

    def fail_third(key: str) -> None:
        writes["count"] += 1
        if writes["count"] == 3:
            throttle()

    harness.renditions.fail_on["put"] = fail_third
    try:
        harness.run(event)
    except Exception as error:  # the handler reports this message as failed
        assert "SlowDown" in str(error)
    else:
        raise AssertionError("the throttled attempt should have raised")
    # Then the record is left consistent: PROCESSING, Uploaded announced once, no terminal event
    assert harness.record_of(KEY).status == "PROCESSING"
    assert harness.publisher.types() == [IMAGE_UPLOADED]
    # When SQS redelivers the message
    outcome = harness.run(event)
    # Then it completes: READY, all renditions, one record, one Uploaded and one Processed
    assert outcome.action == "processed"
    assert harness.record_of(KEY).status == STATUS_READY
    assert len(harness.rendition_keys(KEY)) == 6
    assert len(harness.records_of(KEY)) == 1
    assert harness.publisher.types() == [IMAGE_UPLOADED, IMAGE_PROCESSED]


def test_the_pointer_of_a_deleted_key_expires(harness: Harness) -> None:
    # Given / When an image is deleted
    harness.upload(KEY, jpeg())
    harness.delete(KEY)
    # Then the source pointer records the delete with a TTL 30 days out (nothing older can arrive then)
    pointer = harness.repository.sources[KEY]
    assert pointer.deleted and pointer.ttl is not None
    assert 29 * 86400 < pointer.ttl - harness.clock.now.timestamp() <= 30 * 86400
    # And a new upload to the key clears it
    harness.upload(KEY, jpeg(seed=3))
    assert harness.repository.sources[KEY].ttl is None


class Killed(BaseException):
    pass


def test_a_worker_that_died_after_being_replaced_has_its_late_writes_cleared(harness: Harness) -> None:
    # Given a red upload whose worker is slow: it writes its renditions after a blue overwrite was processed
    red_event = harness.put(KEY, solid((230, 20, 20)))
    red_data = harness.originals.objects[KEY].data
    service = harness.service
    state = {"done": False}

    def overwrite_then_die(_key: str) -> None:
        if not state["done"]:
            state["done"] = True
            harness.renditions.fail_on.pop("put")
            blue_event = harness.put(KEY, solid((20, 40, 230)))
            assert service.handle(_parse(blue_event)).action == "processed"
            # the red worker still writes its (red) renditions over the blue ones, then dies
            for key in harness.rendition_keys(KEY):
                harness.renditions.put(key, red_data, content_type="image/webp")
            raise Killed

    harness.renditions.fail_on["put"] = overwrite_then_die
    with pytest.raises(Killed):
        harness.run(red_event)
    # When the red message is delivered again
    outcome = harness.run(red_event)
    # Then it is stale, and the renditions it may have overwritten are cleared (delivery renders them
    # again from the blue original); the blue record stays READY
    assert outcome.action == "stale"
    assert harness.rendition_keys(KEY) == []
    assert harness.record_of(KEY).status == STATUS_READY


def _parse(record: dict[str, object]) -> S3EventRecord:
    return S3Notification.model_validate_json(s3_body(record)).records[0]
