"""The management API under moto: buckets, the images table (as infra/metadata.py builds it), API keys,
and the deployed entry point `api.handler.handler` with its service built from the environment.

Fixtures for tests/integration/test_api_*.py (imported there; this folder has no conftest.py of ours).
`wsgi_app` turns the handler into a WSGI application (HTTP request → API Gateway REST proxy event →
handler → HTTP response) so schemathesis can call it in-process, with moto in the same thread.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

import boto3  # type: ignore[import-untyped]
import pytest
from moto import mock_aws

from api import handler as api_handler
from api.ports import ApiKeyBinding
from imgpipe.adapters.api_dynamodb import DynamoApiRepository
from imgpipe.adapters.dynamodb import DynamoMetadataRepository
from imgpipe.dev.aws import create_images_table
from imgpipe.records import BatchRecord, ImageRecord, utc_now_text
from infra.constants import (
    ENV_DELIVERY_BASE_URL,
    ENV_IMAGES_TABLE,
    ENV_ORIGINALS_BUCKET,
    ENV_TRANSFORMED_BUCKET,
)
from tests.fakes.api import Reply, invoke, rest_event

REGION = "us-east-1"
ORIGINALS = "api-originals"
TRANSFORMED = "api-transformed"
TABLE = "api-images"
KEY_A, KEY_B = "key-acme", "key-globex"
TENANT_A, TENANT_B = "acme", "globex"
START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@dataclass
class ApiStack:
    s3: Any
    dynamodb: Any
    records: DynamoMetadataRepository
    repository: DynamoApiRepository

    def call(
        self,
        method: str,
        path: str,
        *,
        key: str | None = KEY_A,
        body: Any = None,
        query: dict[str, str] | None = None,
    ) -> Reply:
        text = body if isinstance(body, str) or body is None else json.dumps(body)
        return invoke(rest_event(method, path, body=text, query=query, api_key_id=key))

    def add_image(
        self,
        tenant: str = TENANT_A,
        *,
        number: int = 0,
        status: str = "READY",
        batch_id: str | None = None,
        data: bytes | None = None,
        name: str | None = None,
        source_key: str | None = None,
        **fields: Any,
    ) -> ImageRecord:
        """A record as ingest writes it (through ingest's own adapter), and its original when given.
        The key is `uploads/{tenant}/{name}`, or `batches/{tenant}/{batch}/{name}` in a batch, unless
        `source_key` names another (the older batch form, say)."""
        created = utc_now_text(START + timedelta(seconds=number))
        folder = f"batches/{tenant}/{batch_id}/" if batch_id else f"uploads/{tenant}/"
        source_key = source_key or folder + (name or f"photo-{number}.jpg")
        record = ImageRecord.model_validate(
            {
                "image_id": f"img_{tenant}_{number:05d}",
                "tenant": tenant,
                "source_key": source_key,
                "sequencer": f"{number:032X}",
                "status": status,
                "batch_id": batch_id,
                "format": "jpeg",
                "media_type": "image/jpeg",
                "width": 64,
                "height": 48,
                "bytes": len(data) if data else 1000,
                "created_at": created,
                "updated_at": created,
                **fields,
            }
        )
        self.records.create_image(record)
        if data is not None:
            self.s3.put_object(Bucket=ORIGINALS, Key=source_key, Body=data, ContentType="image/jpeg")
        return record

    def add_batch(self, tenant: str = TENANT_A, batch_id: str = "b1", **fields: Any) -> BatchRecord:
        batch = BatchRecord(tenant=tenant, batch_id=batch_id, created_at=utc_now_text(START), **fields)
        self.repository.create_batch(batch)
        return batch

    def exists(self, bucket: str, key: str) -> bool:
        listed = self.s3.list_objects_v2(Bucket=bucket, Prefix=key)
        return any(item["Key"] == key for item in listed.get("Contents", []))


@pytest.fixture
def api_stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiStack]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        ENV_ORIGINALS_BUCKET: ORIGINALS,
        ENV_TRANSFORMED_BUCKET: TRANSFORMED,
        ENV_IMAGES_TABLE: TABLE,
        ENV_DELIVERY_BASE_URL: "https://img.example",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        for bucket in (ORIGINALS, TRANSFORMED):
            s3.create_bucket(Bucket=bucket)
        create_images_table(dynamodb, TABLE)
        repository = DynamoApiRepository(dynamodb, TABLE)
        repository.put_api_key(ApiKeyBinding(api_key_id=KEY_A, tenant=TENANT_A, plan="pro"))
        repository.put_api_key(ApiKeyBinding(api_key_id=KEY_B, tenant=TENANT_B))
        repository.put_tenant(TENANT_B, "pro")
        api_handler.use_service(None)
        api_handler._service_from_env.cache_clear()
        try:
            yield ApiStack(
                s3=s3,
                dynamodb=dynamodb,
                records=DynamoMetadataRepository(dynamodb, TABLE),
                repository=repository,
            )
        finally:
            api_handler._service_from_env.cache_clear()


# WSGI shim: what API Gateway does between an HTTP client and the function.

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw_body = environ["wsgi.input"].read(length) if length else b""
    headers = {
        name[5:].replace("_", "-").lower(): str(value)
        for name, value in environ.items()
        if name.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    # API Gateway reports the key's id; here the key value is its own id (seeded so in `api_stack`).
    api_key = headers.get("x-api-key")
    pairs = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    query = dict(pairs)
    try:
        body: str | None = raw_body.decode("utf-8") if raw_body else None
        encoded = False
    except UnicodeDecodeError:
        body, encoded = base64.b64encode(raw_body).decode("ascii"), True
    # A REST API passes the path as the client sent it, still percent-encoded (PATH_INFO is decoded).
    raw_path = str(environ.get("RAW_URI") or environ.get("REQUEST_URI") or "").split("?", 1)[0]
    event = rest_event(
        environ["REQUEST_METHOD"],
        raw_path or environ.get("PATH_INFO") or "/",
        body=body,
        query=query or None,
        api_key_id=api_key,
        headers=headers,
        base64_body=encoded,
    )
    if pairs:  # every value of a repeated parameter, as API Gateway lists them
        multi: dict[str, list[str]] = {}
        for name, value in pairs:
            multi.setdefault(name, []).append(value)
        event["multiValueQueryStringParameters"] = multi
    reply = invoke(event)
    status = HTTPStatus(reply.status)
    start_response(f"{status.value} {status.phrase}", list(reply.headers.items()))
    return [reply.body.encode("utf-8")]
