"""SEO names: ASCII slugs of the best tags, no stop words, the date, ≤ 60 characters, unique in a batch."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from imgpipe.naming import MAX_NAME, BatchNames, base_name, seo_filename, seo_name


def test_name_from_tags_drops_stop_words_and_folds_accents() -> None:
    assert seo_filename(["The Café", "on the beach", "image", "jpeg"], "jpeg") == "cafe-beach.jpg"


def test_date_is_appended_when_known_and_valid() -> None:
    assert base_name(["dog"], taken_at="2026-02-03T10:00:00Z") == "dog-2026-02-03"
    assert base_name(["dog"], taken_at="2026-02-31T10:00:00Z") == "dog"


def test_fallback_when_no_tag_survives() -> None:
    assert base_name(["the", "a"]) == "image"
    assert base_name([], fallback="Sommer in Köln") == "sommer-koln"


def test_extension_follows_the_output_format() -> None:
    assert seo_filename(["x1"], "webp").endswith(".webp")
    assert seo_filename(["x1"], "png").endswith(".png")
    assert seo_filename(["x1"], "jpeg").endswith(".jpg")


def test_long_tag_lists_keep_whole_words_within_the_limit() -> None:
    tags = ["extraordinarily", "magnificent", "snowcapped", "mountains", "reflecting", "crystal", "lake"]
    name = seo_filename(tags, "avif", taken_at="2026-01-01")
    assert len(name) <= MAX_NAME
    assert name.endswith("-2026-01-01.avif")
    assert all(part in tags or part.isdigit() for part in name.removesuffix(".avif").split("-")[:-3])


def test_batch_names_are_unique_case_insensitively_and_stay_short() -> None:
    names = BatchNames()
    long_base = "a" * 70
    claimed = [names.claim("beach", "jpeg") for _ in range(3)] + [
        names.claim(long_base, "jpeg") for _ in range(12)
    ]
    assert claimed[:3] == ["beach.jpg", "beach-2.jpg", "beach-3.jpg"]
    assert len({name.lower() for name in claimed}) == len(claimed)
    assert all(len(name) <= MAX_NAME for name in claimed)


@given(st.lists(st.text(max_size=40), max_size=8), st.sampled_from(["jpeg", "png", "webp", "avif", "gif"]))
def test_any_tags_give_a_safe_name(tags: list[str], fmt: str) -> None:
    names = BatchNames()
    first = names.claim(base_name(tags), fmt)
    second = names.claim(base_name(tags), fmt)
    for name in (first, second):
        assert len(name) <= MAX_NAME
        assert name.isascii() and name == name.lower()
        stem = name.rpartition(".")[0]
        assert stem and all(part.isalnum() for part in stem.split("-"))
    assert first != second


def test_the_record_event_and_export_share_one_seo_name_rule() -> None:
    # An upload named by its owner keeps its own words; a camera counter takes the tags; both get the date
    assert seo_name(["orange", "sky"], upload_name="up_1/Harbour at Dusk.jpg") == "harbour-dusk"
    assert seo_name(["orange", "sky"], upload_name="IMG_0042.JPG", taken_at="2026-07-01T18:00:00Z") == (
        "orange-sky-2026-07-01"
    )
    assert seo_name([], upload_name="DSC01234.jpg") == "image"
