"""Delivery under moto: the buckets, the signing-key secret and the resize function on real boto3 adapters.

Fixtures for tests/integration/test_delivery_*.py (imported there; this folder has no conftest.py of ours).
`DeliveryStack.cloudfront()` is the distribution's request path (edge twin → transformed bucket → the
resize handler with a Function URL event), as in the unit tests but with `S3ObjectStore` everywhere.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from imgpipe.adapters.s3 import S3ObjectStore
from infra.constants import (
    ENV_MAX_INLINE_BYTES,
    ENV_ORIGINALS_BUCKET,
    ENV_SIGNING_KEYS_SECRET,
    ENV_TRANSFORMED_BUCKET,
)
from resize import handler as resize_handler
from resize.handler import ResizeApp
from resize.settings import ResizeSettings
from tests.events import FakeLambdaContext
from tests.fakes.delivery import KEYS, NOW, CloudFront

REGION = "us-east-1"
ORIGINALS = "delivery-originals"
TRANSFORMED = "delivery-transformed"


@dataclass
class DeliveryStack:
    session: Any
    s3: Any
    originals: S3ObjectStore
    renditions: S3ObjectStore
    secret_arn: str
    environment: dict[str, str]
    invocations: int = 0

    def app(self) -> ResizeApp:
        return ResizeApp.from_settings(ResizeSettings.from_env(self.environment), self.session)

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        """The deployed entry point `resize.handler.handler`, with settings from `environment`."""
        self.invocations += 1
        app = self.app()
        previous = resize_handler.app
        resize_handler.app = lambda: app  # type: ignore[assignment]
        try:
            return resize_handler.handler(event, FakeLambdaContext())  # type: ignore[arg-type]
        finally:
            resize_handler.app = previous  # type: ignore[assignment]

    def cloudfront(self) -> CloudFront:
        # The edge's clock is the real one here: the secret's keys sign, and expiry is not under test.
        return CloudFront(renditions=self.renditions, origin=self.invoke, now=NOW)

    def put_original(self, key: str, data: bytes, content_type: str = "image/jpeg") -> None:
        self.s3.put_object(Bucket=ORIGINALS, Key=key, Body=data, ContentType=content_type)

    def stored(self, key: str) -> dict[str, Any]:
        response: dict[str, Any] = self.s3.get_object(Bucket=TRANSFORMED, Key=key)
        response["Data"] = response.pop("Body").read()
        return response


@pytest.fixture
def delivery_stack() -> Iterator[DeliveryStack]:
    saved = {
        name: os.environ.get(name)
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")
    }
    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
    )
    try:
        with mock_aws():
            session = boto3.session.Session(region_name=REGION)
            s3 = session.client("s3")
            for bucket in (ORIGINALS, TRANSFORMED):
                s3.create_bucket(Bucket=bucket)
            secret = session.client("secretsmanager").create_secret(
                Name="imgpipe-signing-keys", SecretString=json.dumps(KEYS)
            )
            environment = {
                ENV_ORIGINALS_BUCKET: ORIGINALS,
                ENV_TRANSFORMED_BUCKET: TRANSFORMED,
                ENV_SIGNING_KEYS_SECRET: secret["ARN"],
            }
            yield DeliveryStack(
                session=session,
                s3=s3,
                originals=S3ObjectStore(s3, ORIGINALS),
                renditions=S3ObjectStore(s3, TRANSFORMED),
                secret_arn=secret["ARN"],
                environment=environment,
            )
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def small_inline_limit(stack: DeliveryStack, limit: int = 2_000) -> None:
    stack.environment[ENV_MAX_INLINE_BYTES] = str(limit)
