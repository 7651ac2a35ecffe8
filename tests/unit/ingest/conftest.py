"""A service wired to in-memory fakes, plus helpers that upload, delete and run the handler."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PIL import Image

from imgpipe.notifications import S3Notification
from imgpipe.records import ImageRecord
from ingest.handler import IngestApp
from ingest.service import IngestConfig, IngestService, Outcome
from ingest.settings import IngestSettings
from tests.builders import encode, photo_like
from tests.events import next_sequencer, s3_body, s3_record
from tests.fakes import (
    FakeEventPublisher,
    FakeMetadataRepository,
    FakeObjectStore,
)

# Small presets keep unit tests fast; the default preset set is exercised by the integration tests.
PRESETS = {"thumb": "w=64&h=64&fit=cover", "small": "w=120"}


class Throttled(Exception):
    """Stands in for a throttling or 5xx error from AWS (what botocore raises after its own retries)."""


def throttle(*_: object) -> None:
    raise Throttled("SlowDown: please reduce your request rate")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


def jpeg(width: int = 300, height: int = 200, seed: int = 7) -> bytes:
    return encode(photo_like(width, height, seed), "JPEG", quality=85)


def png_with_alpha(width: int = 160, height: int = 120) -> bytes:
    image = Image.new("RGBA", (width, height), (200, 30, 30, 255))
    image.paste((20, 40, 230, 0), (0, 0, width // 2, height))
    return encode(image, "PNG")


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@dataclass
class Harness:
    originals: FakeObjectStore = field(default_factory=lambda: FakeObjectStore("imgpipe-originals"))
    renditions: FakeObjectStore = field(default_factory=lambda: FakeObjectStore("imgpipe-transformed"))
    repository: FakeMetadataRepository = field(default_factory=FakeMetadataRepository)
    publisher: FakeEventPublisher = field(default_factory=FakeEventPublisher)
    clock: Clock = field(default_factory=Clock)
    config: IngestConfig = field(default_factory=lambda: IngestConfig(presets=PRESETS))
    quota: Any = None
    tagger: Any = None

    @property
    def service(self) -> IngestService:
        return IngestService(
            originals=self.originals,
            renditions=self.renditions,
            repository=self.repository,
            publisher=self.publisher,
            config=self.config,
            quota=self.quota,
            tagger=self.tagger,
            clock=self.clock,
        )

    def app(self, lane: str = "interactive") -> IngestApp:
        settings = IngestSettings(
            originals_bucket="imgpipe-originals",
            transformed_bucket="imgpipe-transformed",
            images_table="imgpipe-images",
            event_bus="imgpipe",
            lane=lane,  # type: ignore[arg-type]
            presets=dict(self.config.presets),
        )
        return IngestApp(settings=settings, service=self.service)

    def put(self, key: str, data: bytes, content_type: str = "image/jpeg", **options: Any) -> dict[str, Any]:
        """Store an original and return the S3 record S3 would send for it (with a fresh sequencer)."""
        self.originals.add(key, data, content_type=content_type, **options)
        return s3_record(key, size=len(data), etag=self.originals.objects[key].etag)

    def run(self, record: dict[str, Any]) -> Outcome:
        notification = S3Notification.model_validate_json(s3_body(record))
        return self.service.handle(notification.records[0])

    def upload(self, key: str, data: bytes, content_type: str = "image/jpeg", **options: Any) -> Outcome:
        return self.run(self.put(key, data, content_type, **options))

    def delete(self, key: str, sequencer: str | None = None) -> Outcome:
        self.originals.objects.pop(key, None)
        return self.run(
            s3_record(key, event_name="ObjectRemoved:Delete", sequencer=sequencer or next_sequencer())
        )

    def record_of(self, key: str) -> ImageRecord:
        pointer = self.repository.sources[key]
        assert pointer.image_id is not None
        return self.repository.images[pointer.image_id]

    def records_of(self, key: str) -> list[ImageRecord]:
        return [record for record in self.repository.images.values() if record.source_key == key]

    def rendition_keys(self, key: str) -> list[str]:
        return [item for item in self.renditions.keys() if item.startswith(key + "/")]  # noqa: SIM118


@pytest.fixture
def harness() -> Harness:
    return Harness()
