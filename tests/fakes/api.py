"""In-memory fakes of the management API's ports (api.ports): the repository, the signer, the export store."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from api import handler as api_handler
from api.ports import ApiKeyBinding, ImageListing, ImageSlice, order_key
from imgpipe.plans import Usage
from imgpipe.ports import ConditionFailed
from imgpipe.records import BatchRecord, ImageRecord
from tests.events import FakeLambdaContext


class FakeApiRepository:
    """The API's reads over dicts; listing follows the index order (newest first by order key)."""

    def __init__(self) -> None:
        self.keys: dict[str, ApiKeyBinding] = {}
        self.plans: dict[str, str] = {}
        self.usages: dict[tuple[str, str], Usage] = {}
        self.images: dict[str, ImageRecord] = {}
        self.batches: dict[tuple[str, str], BatchRecord] = {}
        self.key_reads = 0
        self._lock = threading.Lock()

    # Seeding

    def add_key(self, api_key_id: str, tenant: str, plan: str | None = None) -> None:
        self.keys[api_key_id] = ApiKeyBinding(api_key_id=api_key_id, tenant=tenant, plan=plan)

    def add_image(self, record: ImageRecord) -> None:
        with self._lock:
            self.images[record.image_id] = record.model_copy(deep=True)

    # Port

    def api_key(self, api_key_id: str) -> ApiKeyBinding | None:
        self.key_reads += 1
        return self.keys.get(api_key_id)

    def tenant_plan(self, tenant: str) -> str | None:
        return self.plans.get(tenant)

    def usage(self, tenant: str, month: str) -> Usage:
        return self.usages.get((tenant, month), Usage(month=month))

    def get_image(self, image_id: str) -> ImageRecord | None:
        found = self.images.get(image_id)
        return found.model_copy(deep=True) if found else None

    def save_image(self, record: ImageRecord, *, expected_status: str) -> None:
        with self._lock:
            stored = self.images.get(record.image_id)
            if stored is None or stored.status != expected_status:
                raise ConditionFailed(record.image_id)
            self.images[record.image_id] = record.model_copy(deep=True)

    def list_images(self, listing: ImageListing) -> ImageSlice:
        with self._lock:
            records = sorted(
                (
                    record
                    for record in self.images.values()
                    if record.tenant == listing.tenant
                    and (listing.batch_id is None or record.batch_id == listing.batch_id)
                ),
                key=order_key,
                reverse=True,
            )
        matches = [
            record
            for record in records
            if (listing.before is None or order_key(record) < listing.before)
            and (listing.since is None or order_key(record) >= listing.since)
            and (listing.status is None or record.status == listing.status)
            and (listing.exclude_status is None or record.status != listing.exclude_status)
            and (listing.tag is None or listing.tag in record.tags)
        ]
        page = matches[: listing.limit]
        more = len(matches) > listing.limit
        return ImageSlice(items=page, next_before=order_key(page[-1]) if more else None)

    def batch_images(self, tenant: str, batch_id: str) -> Iterator[ImageRecord]:
        records = [r for r in self.images.values() if r.tenant == tenant and r.batch_id == batch_id]
        yield from sorted(records, key=order_key)

    def get_batch(self, tenant: str, batch_id: str) -> BatchRecord | None:
        return self.batches.get((tenant, batch_id))

    def create_batch(self, batch: BatchRecord) -> None:
        with self._lock:
            if (batch.tenant, batch.batch_id) in self.batches:
                raise ConditionFailed(batch.batch_id)
            self.batches[(batch.tenant, batch.batch_id)] = batch


@dataclass
class SignedPost:
    key: str
    content_type: str
    max_bytes: int
    expires_in: int


class FakeUploadSigner:
    """Remembers what it signed; the URL and fields are placeholders (moto tests check real policies)."""

    def __init__(self) -> None:
        self.posts: list[SignedPost] = []
        self.gets: list[tuple[str, str]] = []

    def presign_post(
        self, key: str, *, content_type: str, max_bytes: int, expires_in: int
    ) -> tuple[str, dict[str, str]]:
        self.posts.append(SignedPost(key, content_type, max_bytes, expires_in))
        return "https://uploads.example/", {"key": key, "Content-Type": content_type, "policy": "fake"}

    def presign_get(self, key: str, *, filename: str, expires_in: int) -> str:
        self.gets.append((key, filename))
        return f"https://downloads.example/{key}?filename={filename}"


@dataclass
class FakeSink:
    key: str
    store: FakeExportStore
    chunks: list[bytes] = field(default_factory=list)

    def write(self, data: bytes) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def close(self) -> None:
        self.store.objects[self.key] = b"".join(self.chunks)

    def abort(self) -> None:
        self.store.aborted.append(self.key)


class FakeExportStore:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.aborted: list[str] = []

    def open(self, key: str, *, content_type: str) -> FakeSink:
        return FakeSink(key=key, store=self)


def rest_event(
    method: str,
    path: str,
    *,
    body: str | None = None,
    query: dict[str, str] | None = None,
    base64_body: bool = False,
    api_key_id: str | None = None,
    claims: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, object]:
    """An API Gateway REST proxy event as the stage sends it (what `imgpipe dev` builds too)."""
    all_headers = {"Host": "api.example", **({"Content-Type": "application/json"} if body else {})}
    all_headers.update(headers or {})
    context: dict[str, object] = {
        "resourcePath": "/v1/{proxy+}",
        "httpMethod": method,
        "path": f"/dev{path}",
        "stage": "dev",
        "requestId": "req-1",
        "identity": {"apiKeyId": api_key_id, "sourceIp": "127.0.0.1"},
    }
    if claims is not None:
        context["authorizer"] = {"claims": claims}
    return {
        "resource": "/v1/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {name: [value] for name, value in all_headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {name: [value] for name, value in query.items()}
        if query
        else None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": context,
        "body": body,
        "isBase64Encoded": base64_body,
    }


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: str

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")


def invoke(event: dict[str, object]) -> Reply:
    """`api.handler.handler` as API Gateway calls it; the reply with headers folded to one value each."""
    raw = api_handler.handler(event, FakeLambdaContext())
    headers = {name: str(value) for name, value in (raw.get("headers") or {}).items()}
    for name, values in (raw.get("multiValueHeaders") or {}).items():
        headers.setdefault(name, ", ".join(str(value) for value in values))
    body = raw.get("body") or ""
    if raw.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8", errors="replace")
    return Reply(status=int(raw["statusCode"]), headers=headers, body=body)
