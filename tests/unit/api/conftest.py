"""The API handler wired to in-memory fakes, called with API Gateway REST events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api import handler as api_handler
from api.service import ApiService
from api.settings import ApiSettings
from imgpipe.records import BatchRecord, ImageRecord, Rendition, utc_now_text
from tests.fakes import FakeObjectStore
from tests.fakes.api import FakeApiRepository, FakeExportStore, FakeUploadSigner, Reply, invoke, rest_event
from tests.fakes.messaging import FakeEventPublisher

KEY_A, KEY_B = "key-a", "key-b"
TENANT_A, TENANT_B = "acme", "globex"
START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


class Ticks:
    """A monotonic clock the test moves: the rate limiter's view of time."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Api:
    repository: FakeApiRepository
    signer: FakeUploadSigner
    exports: FakeExportStore
    originals: FakeObjectStore
    service: ApiService
    ticks: Ticks
    publisher: FakeEventPublisher
    created: list[str] = field(default_factory=list)

    def call(
        self,
        method: str,
        path: str,
        *,
        key: str | None = KEY_A,
        body: Any = None,
        query: dict[str, str] | None = None,
        claims: dict[str, str] | None = None,
    ) -> Reply:
        text = body if isinstance(body, str) or body is None else json.dumps(body)
        return invoke(rest_event(method, path, body=text, query=query, api_key_id=key, claims=claims))

    def add_image(
        self,
        tenant: str = TENANT_A,
        *,
        number: int = 0,
        status: str = "READY",
        batch_id: str | None = None,
        tags: list[str] | None = None,
        data: bytes | None = None,
        name: str | None = None,
        **fields: Any,
    ) -> ImageRecord:
        created = utc_now_text(START + timedelta(seconds=number))
        folder = f"batches/{tenant}/{batch_id}/" if batch_id else f"uploads/{tenant}/"
        source_key = folder + (name or f"photo-{number}.jpg")
        record = ImageRecord(
            image_id=f"img_{tenant}_{number:04d}",
            tenant=tenant,
            source_key=source_key,
            sequencer=f"{number:032X}",
            status=status,
            batch_id=batch_id,
            tags=tags or [],
            format="jpeg",
            media_type="image/jpeg",
            width=64,
            height=48,
            bytes=len(data) if data else 1000,
            created_at=created,
            updated_at=created,
            renditions=[
                Rendition(
                    key=f"{source_key}/w=200&fm=webp",
                    query="w=200&fm=webp",
                    preset="thumb",
                    format="webp",
                    media_type="image/webp",
                    width=200,
                    height=150,
                    bytes=900,
                )
            ],
            **fields,
        )
        self.repository.add_image(record)
        if data is not None:
            self.originals.put(source_key, data, content_type="image/jpeg")
        return record

    def reconfigure(self, **overrides: Any) -> None:
        """A fresh service (a new cold start) with other settings over the same fakes."""
        self.service = ApiService(
            settings(**overrides),
            repository=self.repository,
            originals=self.originals,
            signer=self.signer,
            exports=self.exports,
            publisher=self.publisher,
            clock=lambda: START,
            ticks=self.ticks,
        )
        api_handler.use_service(self.service)

    def add_batch(self, tenant: str = TENANT_A, batch_id: str = "b1", **fields: Any) -> BatchRecord:
        batch = BatchRecord(tenant=tenant, batch_id=batch_id, created_at=utc_now_text(START), **fields)
        self.repository.create_batch(batch)
        return batch


def settings(**overrides: Any) -> ApiSettings:
    values: dict[str, Any] = {
        "originals_bucket": "originals",
        "transformed_bucket": "transformed",
        "images_table": "images",
        "delivery_base_url": "https://img.example",
        "presets": {"thumb": "w=200&h=200&fit=cover", "small": "w=400"},
    }
    values.update(overrides)
    return ApiSettings.model_validate(values)


def build_api(**overrides: Any) -> Api:
    repository = FakeApiRepository()
    repository.add_key(KEY_A, TENANT_A, "pro")
    repository.add_key(KEY_B, TENANT_B, "pro")
    signer, exports, originals, ticks = FakeUploadSigner(), FakeExportStore(), FakeObjectStore(), Ticks()
    publisher = FakeEventPublisher()
    service = ApiService(
        settings(**overrides),
        repository=repository,
        originals=originals,
        signer=signer,
        exports=exports,
        publisher=publisher,
        clock=lambda: START,
        ticks=ticks,
    )
    return Api(repository, signer, exports, originals, service, ticks, publisher)


@pytest.fixture
def api() -> Iterator[Api]:
    built = build_api()
    api_handler.use_service(built.service)
    yield built
    api_handler.use_service(None)


def assert_problem(reply: Reply, status: int, code: str | None = None) -> dict[str, Any]:
    assert reply.status == status, reply.body
    assert reply.content_type == "application/problem+json"
    body: dict[str, Any] = reply.json
    assert body["status"] == status
    assert body["type"].startswith("urn:imgpipe:problem:")
    if code is not None:
        assert body["type"] == f"urn:imgpipe:problem:{code}"
    return body


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Powertools warns when an invocation added no metric: most API calls add none, by design.
    here = __file__.rsplit("/", 1)[0]
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.filterwarnings("ignore:No application metrics"))
