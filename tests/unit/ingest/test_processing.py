"""Ingest of good uploads: renditions (bytes, sizes, formats, headers), the mezzanine, the record, events."""

from __future__ import annotations

from PIL import Image

from imgpipe.core import DEFAULT_PRESETS, TransformSpec
from imgpipe.core.keys import variant_key
from infra.constants import IMAGE_PROCESSED, IMAGE_UPLOADED, MEZZANINE_PREFIX, STATUS_READY
from ingest.service import IMMUTABLE, IngestConfig
from tests.builders import animated_gif, encode, photo_like, with_gps
from tests.unit.ingest.conftest import PRESETS, Harness, decode, jpeg, png_with_alpha

KEY = "uploads/acme/holiday/beach-sunset.jpg"


def preset_key(key: str, preset: str, fmt: str, presets: dict[str, str] = PRESETS) -> str:
    return variant_key(key, TransformSpec.parse(f"preset={preset}", presets).with_format(fmt))


def test_a_photo_gets_every_preset_in_every_format_the_edge_can_pick(harness: Harness) -> None:
    # Given a 300x200 JPEG uploaded under a tenant
    # When ingest handles its ObjectCreated event
    outcome = harness.upload(KEY, jpeg(300, 200))

    # Then each preset is stored in AVIF, WebP and JPEG under the key delivery reads, at the right size
    assert outcome.action == "processed"
    expected_sizes = {"thumb": (64, 64), "small": (120, 80)}
    for preset, size in expected_sizes.items():
        for fmt, pillow_format in (("avif", "AVIF"), ("webp", "WEBP"), ("jpeg", "JPEG")):
            stored = harness.renditions.objects[preset_key(KEY, preset, fmt)]
            image = decode(stored.data)
            assert (image.format, image.size) == (pillow_format, size)
            assert stored.content_type == f"image/{fmt}"
            assert stored.cache_control == IMMUTABLE
    assert len(harness.rendition_keys(KEY)) == 6
    assert outcome.renditions == 6
    assert outcome.bytes_out == sum(len(harness.renditions.data(k)) for k in harness.rendition_keys(KEY))


def test_the_record_holds_the_facts_and_the_renditions(harness: Harness) -> None:
    # Given a JPEG
    data = jpeg(300, 200)
    # When it is ingested
    harness.upload(KEY, data)

    # Then the record is READY with the facts DESIGN.md lists
    record = harness.record_of(KEY)
    assert record.status == STATUS_READY
    assert record.tenant == "acme"
    assert record.source_key == KEY
    assert record.batch_id is None
    assert (record.format, record.width, record.height, record.frames) == ("jpeg", 300, 200, 1)
    assert record.bytes == len(data)
    assert record.sha256 is not None and len(record.sha256) == 64
    assert record.blurhash and record.phash and record.dominant_colour
    assert record.focal_point is not None
    assert record.seo_name == "beach-sunset"
    assert "landscape" in record.tags
    assert record.had_gps is False
    assert record.created_at <= record.updated_at and record.processed_at is not None
    assert {r.key for r in record.renditions} == set(harness.rendition_keys(KEY))
    assert {(r.preset, r.format) for r in record.renditions} == {
        (p, f) for p in PRESETS for f in ("avif", "webp", "jpeg")
    }


def test_events_announce_upload_then_processing(harness: Harness) -> None:
    # Given / When a JPEG is ingested
    harness.upload(KEY, jpeg())

    # Then Image Uploaded and Image Processed are published once each, in that order, versioned
    assert harness.publisher.types() == [IMAGE_UPLOADED, IMAGE_PROCESSED]
    uploaded, processed = harness.publisher.published
    record = harness.record_of(KEY)
    assert uploaded.model_dump()["image_id"] == processed.model_dump()["image_id"] == record.image_id
    assert processed.version == "1"
    detail = processed.model_dump()
    assert detail["width"] == 300 and len(detail["renditions"]) == 6
    assert record.announced == [IMAGE_UPLOADED, IMAGE_PROCESSED]


def test_a_source_with_alpha_gets_png_instead_of_jpeg(harness: Harness) -> None:
    # Given a PNG with a transparent half
    key = "uploads/acme/logo.png"
    # When it is ingested
    harness.upload(key, png_with_alpha(), "image/png")

    # Then the fallback format is PNG (alpha kept), next to AVIF and WebP
    formats = {r.format for r in harness.record_of(key).renditions}
    assert formats == {"avif", "webp", "png"}
    thumb = decode(harness.renditions.data(preset_key(key, "small", "png")))
    assert thumb.mode == "RGBA" and thumb.getpixel((5, 5))[3] == 0


def test_an_animation_keeps_moving_in_webp_and_gif(harness: Harness) -> None:
    # Given an animated GIF of 6 frames
    key = "uploads/acme/spinner.gif"
    # When it is ingested
    harness.upload(key, animated_gif(6, size=(160, 120)), "image/gif")

    # Then it has WebP and GIF renditions (what fm=auto picks for animations), both animated
    record = harness.record_of(key)
    assert {r.format for r in record.renditions} == {"webp", "gif"}
    assert record.animated is True and record.frames == 6
    for fmt in ("webp", "gif"):
        image = decode(harness.renditions.data(preset_key(key, "small", fmt)))
        assert getattr(image, "n_frames", 1) == 6
    assert record.mezzanine_key is None  # animations have no mezzanine


def test_eager_formats_can_be_narrowed(harness: Harness) -> None:
    # Given a deployment that only wants WebP eagerly (and lists GIF, which a still never gets)
    harness.config = IngestConfig(presets=PRESETS, eager_formats=("webp", "gif"))
    # When a JPEG is ingested
    harness.upload(KEY, jpeg())
    # Then only WebP renditions exist
    assert {r.format for r in harness.record_of(KEY).renditions} == {"webp"}
    assert len(harness.rendition_keys(KEY)) == 2


def test_a_large_photo_gets_a_mezzanine_with_its_sizes_in_metadata(harness: Harness) -> None:
    # Given a 3000x2000 photo (over the mezzanine's 2560 px side)
    data = encode(photo_like(3000, 2000), "JPEG", quality=80)
    # When it is ingested
    harness.upload(KEY, data)

    # Then a JPEG mezzanine of 2560x1707 sits in the transformed bucket with the sizes resize reads
    mezzanine = harness.renditions.objects[f"{MEZZANINE_PREFIX}{KEY}"]
    image = decode(mezzanine.data)
    assert (image.format, image.size) == ("JPEG", (2560, 1707))
    assert mezzanine.metadata == {
        "width": "2560",
        "height": "1707",
        "source-width": "3000",
        "source-height": "2000",
    }
    assert harness.record_of(KEY).mezzanine_key == f"{MEZZANINE_PREFIX}{KEY}"


def test_a_small_photo_has_no_mezzanine(harness: Harness) -> None:
    # Given / When a 300x200 photo is ingested
    harness.upload(KEY, jpeg())
    # Then no mezzanine is written (the original is small enough to start from)
    assert f"{MEZZANINE_PREFIX}{KEY}" not in harness.renditions.objects
    assert harness.record_of(KEY).mezzanine_key is None


def test_default_presets_cover_every_default_preset_name() -> None:
    # Given the default configuration and a photo
    harness = Harness(config=IngestConfig())
    # When it is ingested
    harness.upload(KEY, jpeg(1800, 1200))
    # Then every default preset exists in three formats, and `og` is exactly 1200x630
    record = harness.record_of(KEY)
    assert {r.preset for r in record.renditions} == set(DEFAULT_PRESETS)
    assert len(record.renditions) == 3 * len(DEFAULT_PRESETS)
    og = decode(harness.renditions.data(preset_key(KEY, "og", "webp", DEFAULT_PRESETS)))
    assert og.size == (1200, 630)


def test_outputs_carry_no_gps_even_when_the_source_had_it(harness: Harness) -> None:
    # Given a JPEG with GPS in its EXIF
    data = with_gps(photo_like(300, 200))
    # When it is ingested
    harness.upload(KEY, data)
    # Then the record says the source had GPS and no JPEG rendition carries GPS
    assert harness.record_of(KEY).had_gps is True
    image = decode(harness.renditions.data(preset_key(KEY, "small", "jpeg")))
    assert 0x8825 not in image.getexif()


def test_rendition_pixels_come_from_the_source(harness: Harness) -> None:
    # Given a solid green picture
    data = encode(Image.new("RGB", (200, 200), (20, 200, 40)), "JPEG", quality=95)
    # When it is ingested
    harness.upload(KEY, data)
    # Then the WebP rendition is green too (re-encoded from pixels, not a placeholder)
    image = decode(harness.renditions.data(preset_key(KEY, "small", "webp"))).convert("RGB")
    red, green, blue = image.getpixel((60, 60))  # type: ignore[misc]
    assert green > 150 and red < 80 and blue < 90


def test_a_preset_that_fixes_its_format_is_rendered_in_that_format_only(harness: Harness) -> None:
    # Given presets where one fixes fm=png
    presets = {"small": "w=120", "icon": "w=32&h=32&fit=cover&fm=png"}
    harness.config = IngestConfig(presets=presets)
    # When a JPEG is ingested
    harness.upload(KEY, jpeg())
    # Then the fixed preset has exactly one rendition (PNG), the other all three negotiable formats
    formats = sorted((r.preset or "", r.format) for r in harness.record_of(KEY).renditions)
    assert formats == [("icon", "png"), ("small", "avif"), ("small", "jpeg"), ("small", "webp")]
    icon = decode(harness.renditions.data(preset_key(KEY, "icon", "png", presets)))
    assert (icon.format, icon.size) == ("PNG", (32, 32))
