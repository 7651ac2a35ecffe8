"""Ingest names what an image shows; a remote tagger's outage never fails an upload."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from imgpipe.tagging import CircuitBreaker, ResilientTagger, TaggerUnavailable, TagInput, TagResult
from tests.builders import encode, photo_like
from tests.unit.ingest.conftest import Harness


class DownRemoteTagger:
    """A remote tagger whose service is down: every call fails."""

    name = "rekognition"

    def __init__(self) -> None:
        self.calls = 0

    def tag(self, image: TagInput) -> TagResult:
        self.calls += 1
        raise TaggerUnavailable("throttled")


class LabellingRemoteTagger:
    name = "rekognition"

    def __init__(self) -> None:
        self.seen: list[TagInput] = []

    def tag(self, image: TagInput) -> TagResult:
        self.seen.append(image)
        return TagResult(tags=["harbour", "boat"], source=self.name)


def test_the_offline_tagger_names_colours_and_shape_by_default(harness: Harness) -> None:
    # Given the default tagger and a landscape photo
    key = "uploads/acme/dusk.jpg"
    # When it is ingested
    assert harness.upload(key, encode(photo_like(900, 600))).action == "processed"
    # Then the record carries the offline tagger's words first, then the facts', without repeats
    record = harness.record_of(key)
    assert record.tags_source == "offline"
    assert not record.tags_refresh
    assert "landscape" in record.tags
    assert len(record.tags) == len(set(record.tags))
    assert record.tags.index("landscape") < record.tags.index("jpeg")


def test_a_remote_tagger_gets_a_small_jpeg_and_its_labels_lead(harness: Harness) -> None:
    # Given a working remote tagger
    remote = LabellingRemoteTagger()
    harness.tagger = ResilientTagger(remote, CircuitBreaker())
    key = "uploads/acme/harbour.jpg"
    # When a 3000 px photo is ingested
    assert harness.upload(key, encode(photo_like(3000, 2000))).action == "processed"
    # Then the tagger saw a JPEG no larger than 1024 px, never the original, and its labels come first
    (sent,) = remote.seen
    with Image.open(io.BytesIO(sent.data)) as picture:
        assert picture.format == "JPEG"
        assert max(picture.size) <= 1024
        assert picture.width / picture.height == pytest.approx(1.5, rel=0.01)  # the whole picture
    assert (sent.width, sent.height) == (3000, 2000)
    record = harness.record_of(key)
    assert record.tags[:2] == ["harbour", "boat"]
    assert (record.tags_source, record.tags_refresh) == ("rekognition", False)


def test_a_remote_outage_falls_back_offline_marks_for_refresh_and_opens_the_breaker(harness: Harness) -> None:
    # Given a remote tagger that is down, behind a breaker that opens after 2 failures
    remote = DownRemoteTagger()
    breaker = CircuitBreaker(failures=2, window=60, cooldown=30)
    harness.tagger = ResilientTagger(remote, breaker)
    # When three photos are ingested
    keys = [f"uploads/acme/p{number}.jpg" for number in range(3)]
    outcomes = [harness.upload(key, encode(photo_like(640, 480 + number))) for number, key in enumerate(keys)]
    # Then every upload is READY, tagged offline and marked for a refresh
    assert [outcome.action for outcome in outcomes] == ["processed"] * 3
    for key in keys:
        record = harness.record_of(key)
        assert (record.tags_source, record.tags_refresh) == ("offline", True)
        assert "landscape" in record.tags
    # And the breaker stopped calling the remote after its second failure
    assert remote.calls == 2
    assert breaker.state == "open"
