"""Uploads go through the real pipeline: S3 → SQS (moto) → poller → ingest handler → table, bucket, bus."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from tests.builders import colour_card, encode, photo_like
from tests.local.conftest import LiveStack


def _png_with_alpha() -> bytes:
    card = colour_card(240, 160).convert("RGBA")
    card.putalpha(128)
    return encode(card, "PNG")


def test_uploads_become_ready_with_facts_and_eager_renditions(live: LiveStack) -> None:
    # Given a JPEG photo and a PNG with alpha, uploaded to the originals bucket
    photo, logo = live.key("harbour.jpg"), live.key("logo.png")
    live.stack.put_original(photo, encode(photo_like(480, 320), "JPEG", quality=90), "image/jpeg")
    live.stack.put_original(logo, _png_with_alpha(), "image/png")
    # When the pipeline has run
    records = live.wait([photo, logo])
    # Then both are READY with their facts and the presets rendered in every format fm=auto can pick
    jpeg, png = records[photo], records[logo]
    assert jpeg.status == "READY" and (jpeg.width, jpeg.height, jpeg.format) == (480, 320, "jpeg")
    assert jpeg.blurhash and jpeg.dominant_colour and jpeg.seo_name == jpeg.seo_name
    presets = set(live.stack.config.presets)
    assert {rendition.preset for rendition in jpeg.renditions} == presets
    assert {rendition.format for rendition in jpeg.renditions} == {"avif", "webp", "jpeg"}
    assert png.status == "READY" and png.has_alpha
    assert {rendition.format for rendition in png.renditions} == {"avif", "webp", "png"}
    # And the events went out on the bus
    published = {(event.detail_type, event.detail.get("source_key")) for event in live.stack.events}
    assert ("Image Processed", photo) in published


def test_every_event_carries_a_synthesised_sequencer(live: LiveStack) -> None:
    # moto sends no sequencer; the local runtime adds S3's (hex), so ordering uses it, not the event time
    key = live.key("ordered.jpg")
    live.stack.put_original(key, encode(colour_card(64, 48), "JPEG"), "image/jpeg")
    record = live.wait([key])[key]
    assert "-" not in record.sequencer  # order_token's fallback (time + ETag) would carry "-{etag}"
    int(record.sequencer, 16)


def test_a_hostile_file_ends_rejected_with_its_reason_and_in_quarantine(live: LiveStack) -> None:
    # Given a JPEG cut off half way and a text file named .png
    whole = encode(photo_like(320, 240), "JPEG")
    truncated, liar = live.key("cut.jpg"), live.key("notes.png")
    live.stack.put_original(truncated, whole[: len(whole) // 2], "image/jpeg")
    live.stack.put_original(liar, b"just some text, not pixels\n" * 10, "image/png")
    # When processed
    records = live.wait([truncated, liar])
    # Then both are REJECTED with a machine reason and a message, and moved to quarantine/
    assert records[truncated].status == "REJECTED" and records[truncated].reason == "truncated"
    assert records[liar].status == "REJECTED" and records[liar].reason == "not-an-image"
    assert all(record.reason_message for record in records.values())
    s3 = live.stack.session.client("s3")  # type: ignore[union-attr]
    bucket = live.stack.require_resources().originals_bucket
    for record in records.values():
        assert record.quarantine_key and record.quarantine_key.startswith("quarantine/")
        s3.head_object(Bucket=bucket, Key=record.quarantine_key)
    # And the rejection is announced: the record is written first, the event follows, so wait for it
    deadline = time.monotonic() + 15
    while not [
        event
        for event in list(live.stack.events)
        if event.detail_type == "Image Rejected" and event.detail.get("source_key") == truncated
    ]:
        assert time.monotonic() < deadline, "no Image Rejected event within 15 s of the REJECTED record"
        time.sleep(0.1)


def test_deleting_an_original_removes_its_renditions_and_marks_the_record(live: LiveStack) -> None:
    # Given a READY image
    key = live.key("short-lived.jpg")
    live.stack.put_original(key, encode(colour_card(200, 100), "JPEG"), "image/jpeg")
    assert live.wait([key])[key].status == "READY"
    # When its original is deleted (a delete marker: moto sends nothing, the shim sends what S3 sends)
    live.stack.delete_original(key)
    # Then the record is DELETED and no rendition is left
    record = live.wait_status(key, "DELETED")
    assert record.reason == "deleted"
    s3 = live.stack.session.client("s3")  # type: ignore[union-attr]
    listed = s3.list_objects_v2(Bucket=live.stack.require_resources().transformed_bucket, Prefix=key + "/")
    assert listed.get("KeyCount", 0) == 0


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_other_formats_go_through(live: LiveStack, fmt: str) -> None:
    out = io.BytesIO()
    frames = [colour_card(80, 60), colour_card(80, 60).transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    frames[0].save(out, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    key = live.key(f"anim.{fmt.lower()}")
    live.stack.put_original(key, out.getvalue(), f"image/{fmt.lower()}")
    record = live.wait([key])[key]
    assert record.status == "READY" and record.animated and record.frames == 2
