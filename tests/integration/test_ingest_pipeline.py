"""Put an object → S3 notification → SQS → the ingest handler → renditions, record and events, under moto."""

from __future__ import annotations

import io
import json
from urllib.parse import unquote_plus

import pytest
from PIL import Image

from imgpipe.core import DEFAULT_PRESETS, TransformSpec
from imgpipe.core.keys import variant_key
from imgpipe.ports import ObjectTooLarge
from imgpipe.records import ImageProcessed, ImageRejected
from infra.constants import (
    IMAGE_DELETED,
    IMAGE_PROCESSED,
    IMAGE_REJECTED,
    IMAGE_UPLOADED,
    LANE_INTERACTIVE,
    MEZZANINE_PREFIX,
    QUARANTINE_REASON_METADATA,
    STATUS_DELETED,
    STATUS_READY,
    STATUS_REJECTED,
)
from ingest.service import IMMUTABLE
from tests.builders import animated_gif, encode, photo_like
from tests.integration.ingest_stack import (
    ORIGINALS,
    TRANSFORMED,
    IngestStack,
    ingest_stack,
    small_presets,
)

__all__ = ["ingest_stack"]  # the fixture, imported so pytest finds it

PILLOW_FORMATS = {"avif": "AVIF", "webp": "WEBP", "jpeg": "JPEG", "png": "PNG", "gif": "GIF"}


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def expected_size(preset: str, source: tuple[int, int]) -> tuple[int, int]:
    """What each default preset makes of a landscape source (fit=inside scales by width, no enlargement)."""
    spec = TransformSpec.parse(f"preset={preset}", DEFAULT_PRESETS)
    width, height = source
    if spec.fit == "cover":
        assert spec.w is not None and spec.h is not None
        return (spec.w, spec.h)
    assert spec.w is not None and spec.h is None
    return (spec.w, round(height * spec.w / width))


def test_moto_delivers_s3_notifications_to_sqs_in_process(ingest_stack: IngestStack) -> None:
    # Given the notification configuration (moto sent s3:TestEvent when it was saved)
    queue = ingest_stack.lanes[LANE_INTERACTIVE].queue_url
    # When an object is put under uploads/ and another outside it
    ingest_stack.put_original("uploads/acme/my photo+1é.jpg", b"x")
    ingest_stack.put_original("elsewhere/x.jpg", b"x")
    # Then the queue holds the test event and one ObjectCreated for the upload, its key URL-encoded
    bodies = [json.loads(body) for body in ingest_stack.peek(queue)]
    assert [body.get("Event") for body in bodies] == ["s3:TestEvent", None]
    [record] = bodies[1]["Records"]
    assert record["eventName"] == "ObjectCreated:Put"
    encoded = record["s3"]["object"]["key"]
    assert encoded != "uploads/acme/my photo+1é.jpg"
    assert unquote_plus(encoded) == "uploads/acme/my photo+1é.jpg"
    # And, unlike AWS, no sequencer (ordering tests build AWS's events with tests/events.py)
    assert "sequencer" not in record["s3"]["object"]


def test_an_upload_becomes_renditions_a_record_and_events(ingest_stack: IngestStack) -> None:
    # Given a 3000x2000 photo uploaded under a tenant, with the default presets
    key = "uploads/acme/holiday/beach sunset+1.jpg"
    data = encode(photo_like(3000, 2000), "JPEG", quality=85)
    ingest_stack.put_original(key, data)
    # When the queues are drained through the handler
    ingest_stack.drain()

    # Then every preset exists in AVIF, WebP and JPEG under the key delivery reads, and decodes to its size
    record = ingest_stack.record_of(key)
    assert record.status == STATUS_READY
    assert len(record.renditions) == 3 * len(DEFAULT_PRESETS)
    for preset in DEFAULT_PRESETS:
        for fmt in ("avif", "webp", "jpeg"):
            target = variant_key(
                key, TransformSpec.parse(f"preset={preset}", DEFAULT_PRESETS).with_format(fmt)
            )
            stored = ingest_stack.get(TRANSFORMED, target)
            image = decode(stored["Data"])
            assert image.format == PILLOW_FORMATS[fmt], target
            assert image.size == expected_size(preset, (3000, 2000)), target
            assert stored["ContentType"] == f"image/{fmt}"
            assert stored["CacheControl"] == IMMUTABLE
            [rendition] = [r for r in record.renditions if r.key == target]
            assert (rendition.width, rendition.height, rendition.bytes) == (*image.size, len(stored["Data"]))
    # And the mezzanine the resize function starts from, with its sizes in S3 metadata
    mezzanine = ingest_stack.get(TRANSFORMED, f"{MEZZANINE_PREFIX}{key}")
    assert decode(mezzanine["Data"]).size == (2560, 1707)
    assert not decode(mezzanine["Data"]).info.get("progressive")  # baseline: delivery decodes it with draft
    assert mezzanine["Metadata"] == {
        "width": "2560",
        "height": "1707",
        "source-width": "3000",
        "source-height": "2000",
    }
    # And the transformed bucket holds nothing else
    assert ingest_stack.keys(TRANSFORMED) == sorted(
        [r.key for r in record.renditions] + [f"{MEZZANINE_PREFIX}{key}"]
    )

    # And the record in DynamoDB carries the facts, with the index keys of all four GSIs
    assert (record.tenant, record.source_key, record.batch_id) == ("acme", key, None)
    assert (record.format, record.width, record.height, record.frames, record.bytes) == (
        "jpeg",
        3000,
        2000,
        1,
        len(data),
    )
    assert record.sha256 and record.blurhash and record.phash and record.dominant_colour
    # The one SEO name rule (imgpipe.naming): the owner's words, no bare numbers (the export adds -2, ...)
    assert record.seo_name == "beach-sunset"
    [item] = [
        item
        for item in ingest_stack.items()
        if item["pk"]["S"] == f"IMG#{record.image_id}" and item["sk"]["S"] == "IMAGE"
    ]
    assert item["gsi1pk"]["S"] == "TENANT#acme"
    assert item["gsi3pk"]["S"] == f"SUM#acme#{record.sha256}"
    assert item["gsi4pk"]["S"] == f"SRC#{key}"
    assert "gsi2pk" not in item  # not in a batch: absent from the batch index

    # And Image Uploaded then Image Processed went through the bus (a rule with an SQS target), versioned
    events = ingest_stack.events()
    assert [event["detail-type"] for event in events] == [IMAGE_UPLOADED, IMAGE_PROCESSED]
    assert {event["source"] for event in events} == {"imgpipe"}
    [processed] = ingest_stack.details(IMAGE_PROCESSED)
    assert isinstance(processed, ImageProcessed)
    assert (processed.version, processed.image_id, processed.width) == ("1", record.image_id, 3000)
    assert processed.mezzanine_key == f"{MEZZANINE_PREFIX}{key}"
    assert len(processed.renditions) == 15


def test_a_png_with_alpha_and_an_animation_get_the_formats_the_edge_can_pick(
    ingest_stack: IngestStack,
) -> None:
    # Given a transparent PNG and an animated GIF
    small_presets(ingest_stack)
    logo = Image.new("RGBA", (160, 120), (200, 30, 30, 255))
    logo.paste((20, 40, 230, 0), (0, 0, 80, 120))
    ingest_stack.put_original("uploads/acme/logo.png", encode(logo, "PNG"), "image/png")
    ingest_stack.put_original("uploads/acme/spinner.gif", animated_gif(4, size=(90, 60)), "image/gif")
    # When ingested
    ingest_stack.drain()
    # Then the PNG has AVIF, WebP and PNG (alpha kept), the GIF animated WebP and GIF
    logo_record = ingest_stack.record_of("uploads/acme/logo.png")
    assert {r.format for r in logo_record.renditions} == {"avif", "webp", "png"}
    png = next(r for r in logo_record.renditions if r.format == "png" and r.preset == "small")
    assert decode(ingest_stack.get(TRANSFORMED, png.key)["Data"]).mode == "RGBA"
    spinner = ingest_stack.record_of("uploads/acme/spinner.gif")
    assert {r.format for r in spinner.renditions} == {"webp", "gif"}
    for rendition in spinner.renditions:
        image = decode(ingest_stack.get(TRANSFORMED, rendition.key)["Data"])
        assert (image.format, getattr(image, "n_frames", 1)) == (PILLOW_FORMATS[rendition.format], 4)
        assert image.size == (rendition.width, rendition.height)


@pytest.mark.parametrize(
    "name",
    ["my photo+1é.jpg", "100% real (final).jpg", "日本/写真 2.jpg", "a+b=c&d;e,f.jpg", "tab\tname.jpg"],
)
def test_keys_with_spaces_plus_percent_and_unicode(ingest_stack: IngestStack, name: str) -> None:
    # Given an upload whose name S3 URL-encodes in the notification
    small_presets(ingest_stack)
    key = f"uploads/acme/{name}"
    ingest_stack.put_original(key, encode(photo_like(120, 80), "JPEG"))
    # When ingested
    ingest_stack.drain()
    # Then the record names the decoded key, and the renditions live under it
    record = ingest_stack.record_of(key)
    if "\t" in name:  # a control character: not a key delivery could ever serve
        assert (record.status, record.reason) == (STATUS_REJECTED, "invalid-key")
        return
    assert (record.source_key, record.status) == (key, STATUS_READY)
    assert ingest_stack.keys(TRANSFORMED, key + "/") == sorted(r.key for r in record.renditions)


def test_a_bad_file_is_quarantined_recorded_and_announced(ingest_stack: IngestStack) -> None:
    # Given a text file named .jpg
    small_presets(ingest_stack)
    key = "uploads/acme/notes.jpg"
    data = b"my holiday notes, not a picture\n" * 20
    ingest_stack.put_original(key, data, "image/jpeg")
    # When ingested (the move to quarantine deletes the upload, which notifies ObjectRemoved too)
    ingest_stack.drain()
    # Then it is under quarantine/ with the reason in its metadata, bytes intact, and gone from uploads/
    assert ingest_stack.keys(ORIGINALS) == ["quarantine/acme/notes.jpg"]
    quarantined = ingest_stack.get(ORIGINALS, "quarantine/acme/notes.jpg")
    assert quarantined["Data"] == data
    assert quarantined["Metadata"][QUARANTINE_REASON_METADATA] == "not-an-image"
    assert quarantined["ContentType"] == "image/jpeg"
    # And the record is REJECTED with the reason (the ObjectRemoved of the move did not make it DELETED)
    record = ingest_stack.record_of(key)
    assert (record.status, record.reason, record.quarantine_key) == (
        STATUS_REJECTED,
        "not-an-image",
        "quarantine/acme/notes.jpg",
    )
    removed = [
        r
        for r in ingest_stack.received
        if "ObjectRemoved" in r["body"] and "notes.jpg" in unquote_plus(r["body"])
    ]
    assert len(removed) == 1
    # And Image Rejected was announced once; no rendition exists; no message failed
    [rejected] = ingest_stack.details(IMAGE_REJECTED)
    assert isinstance(rejected, ImageRejected)
    assert (rejected.reason, rejected.quarantine_key) == ("not-an-image", "quarantine/acme/notes.jpg")
    assert IMAGE_DELETED not in [event["detail-type"] for event in ingest_stack.events()]
    assert ingest_stack.keys(TRANSFORMED) == []
    assert all(response["batchItemFailures"] == [] for response in ingest_stack.responses)


def test_deleting_an_original_deletes_its_renditions_and_marks_the_record(ingest_stack: IngestStack) -> None:
    # Given a processed upload with an on-demand rendition stored beside the eager ones
    small_presets(ingest_stack)
    key = "uploads/acme/cat.jpg"
    ingest_stack.put_original(key, encode(photo_like(300, 200), "JPEG"))
    ingest_stack.drain()
    ingest_stack.s3.put_object(Bucket=TRANSFORMED, Key=f"{key}/fm=webp&w=333", Body=b"x")
    image_id = ingest_stack.record_of(key).image_id
    # When the original is deleted (moto notifies ObjectRemoved:Delete)
    ingest_stack.s3.delete_object(Bucket=ORIGINALS, Key=key)
    ingest_stack.drain()
    # Then its renditions are gone, the record is DELETED and Image Deleted was announced
    assert ingest_stack.keys(TRANSFORMED) == []
    record = ingest_stack.repository.get_image(image_id)
    assert record is not None and (record.status, record.reason) == (STATUS_DELETED, "deleted")
    [deleted] = ingest_stack.details(IMAGE_DELETED)
    assert deleted.model_dump()["renditions_deleted"] == 7
    # And the deleted key's pointer carries a TTL for DynamoDB to expire
    pointer = ingest_stack.repository.get_source(key)
    assert pointer is not None and pointer.deleted and pointer.ttl


def test_the_same_bytes_twice_link_to_the_first_renditions(ingest_stack: IngestStack) -> None:
    # Given a processed upload
    small_presets(ingest_stack)
    data = encode(photo_like(300, 200, seed=4), "JPEG")
    ingest_stack.put_original("uploads/acme/first.jpg", data)
    ingest_stack.drain()
    first = ingest_stack.record_of("uploads/acme/first.jpg")
    # When the same tenant uploads the same bytes again (the checksum index finds the first)
    ingest_stack.put_original("uploads/acme/copy.jpg", data)
    ingest_stack.drain()
    # Then the renditions are server-side copies under the new key (no render), the record links the first
    second = ingest_stack.record_of("uploads/acme/copy.jpg")
    assert (second.status, second.duplicate_of, second.sha256) == (STATUS_READY, first.image_id, first.sha256)
    for old, new in zip(first.renditions, second.renditions, strict=True):
        assert new.key == old.key.replace("first.jpg", "copy.jpg")
        assert (
            ingest_stack.get(TRANSFORMED, new.key)["Data"] == ingest_stack.get(TRANSFORMED, old.key)["Data"]
        )
    assert "s3.CopyObject" in ingest_stack.calls


def test_an_original_over_the_limit_is_refused_before_its_body_is_read(ingest_stack: IngestStack) -> None:
    # Given an upload larger than the source limit (50 MiB by default; 2 kB here through the adapter)
    small_presets(ingest_stack)
    key = "uploads/acme/huge.jpg"
    ingest_stack.put_original(key, encode(photo_like(300, 200), "JPEG"))
    store = ingest_stack.app(LANE_INTERACTIVE).service.originals
    # When the S3 adapter is asked for it with a smaller limit
    before = len(ingest_stack.calls)
    with pytest.raises(ObjectTooLarge):
        store.get(key, max_bytes=2_000)
    # Then it refused on GetObject's Content-Length (and closed the body unread)
    assert ingest_stack.calls[before:] == ["s3.GetObject"]
