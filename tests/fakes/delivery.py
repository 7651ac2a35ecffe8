"""Delivery test doubles: CloudFront in front of a transformed bucket and the resize function.

`CloudFront` runs what the distribution does with a viewer request: the edge (`imgpipe.delivery.at_edge`,
the Python twin of the CloudFront Function, kept equal to it by the shared vectors), the transformed
bucket as primary origin, and on a miss the resize function's Function URL as the failover origin, called
with the exact event shape. Unit tests give it in-memory stores, integration tests the S3 adapter under
moto. `DeliveryHarness` wires the resize service to `FakeObjectStore`s.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from imgpipe.core import DEFAULT_PRESETS
from imgpipe.core.keys import canonical_path, source_key_from_path
from imgpipe.core.signing import sign
from imgpipe.core.spec import TransformSpec
from imgpipe.delivery import (
    DEFAULT_SIGNING_POLICY,
    Refused,
    SigningPolicy,
    at_edge,
    origin_event,
    parse_signing_keys,
)
from imgpipe.ports import ObjectNotFound, ObjectStore
from resize.handler import ResizeApp
from resize.service import ResizeConfig, ResizeService
from resize.settings import ResizeSettings
from tests.events import FakeLambdaContext
from tests.fakes.object_store import FakeObjectStore

NOW = 1_700_000_000
KEYS = {
    "k1": "imgpipe-test-key-one-0123456789abcdef",
    "k2": "imgpipe-test-key-two-0123456789abcdef",
}
RETIRED_KEY = "imgpipe-retired-key-0123456789abcdef"
SECRETS = parse_signing_keys(KEYS)

Origin = Callable[[dict[str, Any]], dict[str, Any]]


def signed(path: str, query: str, secret: str = KEYS["k1"], presets: Mapping[str, str] | None = None) -> str:
    """`path?query&s=…` signed over the canonical form of `query` (path as the viewer writes it)."""
    spec = TransformSpec.parse(query, presets)
    signature = sign(canonical_path(source_key_from_path(path)), spec.canonical(), secret.encode("ascii"))
    return f"{path}?{query}&s={signature}" if query else f"{path}?s={signature}"


@dataclass(frozen=True)
class Answer:
    """What a viewer gets back, and which part of the distribution answered."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    served_by: Literal["edge", "bucket", "function"]

    @property
    def problem(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.body)
        return document


def decode_response(response: Mapping[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """A Function URL response → (status, headers, body)."""
    body = response.get("body") or ""
    data = base64.b64decode(body) if response.get("isBase64Encoded") else str(body).encode("utf-8")
    return int(response["statusCode"]), dict(response.get("headers") or {}), data


@dataclass
class CloudFront:
    """The distribution's request path, with the edge settings of the KeyValueStore."""

    renditions: ObjectStore
    origin: Origin
    policy: SigningPolicy = DEFAULT_SIGNING_POLICY
    secrets: Sequence[bytes] = SECRETS
    presets: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_PRESETS))
    now: float = NOW
    origin_calls: int = 0

    def get(self, target: str, accept: str | None = None, method: str = "GET") -> Answer:
        path, _, query = target.partition("?")
        try:
            delivery = at_edge(
                path,
                query,
                accept,
                policy=self.policy,
                secrets=self.secrets,
                presets=self.presets,
                now=self.now,
            )
        except Refused as refusal:
            problem = refusal.problem
            headers = {"content-type": "application/problem+json", "cache-control": problem.cache_control}
            return Answer(problem.status, headers, problem.body(), "edge")
        try:
            stored = self.renditions.get(delivery.object_key)
        except ObjectNotFound:
            self.origin_calls += 1
            status, headers, body = decode_response(self.origin(origin_event(delivery, method=method)))
            return Answer(status, headers, body, "function")
        head = stored.head
        headers = {"content-type": head.content_type or "", "etag": f'"{head.etag}"'}
        return Answer(200, headers, stored.data, "bucket")


def md5_etag(data: bytes) -> str:
    return '"' + hashlib.md5(data, usedforsecurity=False).hexdigest() + '"'


@dataclass
class DeliveryHarness:
    """The resize service on fakes, its handler, and CloudFront in front of them."""

    originals: FakeObjectStore = field(default_factory=lambda: FakeObjectStore("originals"))
    renditions: FakeObjectStore = field(default_factory=lambda: FakeObjectStore("transformed"))
    config: ResizeConfig = field(default_factory=ResizeConfig)
    focal_points: dict[str, tuple[float, float]] = field(default_factory=dict)
    now: float = NOW
    secrets: Sequence[bytes] = SECRETS

    def service(self) -> ResizeService:
        harness = self

        class Focal:
            def focal_point(self, source_key: str) -> tuple[float, float] | None:
                return harness.focal_points.get(source_key)

        return ResizeService(
            originals=self.originals,
            renditions=self.renditions,
            config=self.config,
            signing_keys=lambda: self.secrets,
            focal_points=Focal(),
            clock=lambda: self.now,
        )

    def app(self) -> ResizeApp:
        settings = ResizeSettings(
            originals_bucket="originals",
            transformed_bucket="transformed",
            presets=dict(self.config.presets),
            signing_policy=self.config.policy,
        )
        return ResizeApp(settings=settings, service=self.service())

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        """The handler as Lambda calls it (Powertools decorators included)."""
        from resize import handler as module  # noqa: PLC0415

        app = self.app()
        previous = module.app
        module.app = lambda: app  # type: ignore[assignment]
        try:
            return module.handler(event, FakeLambdaContext())  # type: ignore[arg-type]
        finally:
            module.app = previous  # type: ignore[assignment]

    def cloudfront(self, **edge: Any) -> CloudFront:
        settings: dict[str, Any] = {
            "policy": self.config.policy,
            "secrets": self.secrets,
            "presets": dict(self.config.presets),
            "now": self.now,
        }
        settings.update(edge)
        return CloudFront(renditions=self.renditions, origin=self.invoke, **settings)

    def originals_read(self) -> list[str]:
        return [key for operation, key in self.originals.calls if operation == "get"]

    def renditions_written(self) -> list[str]:
        return [key for operation, key in self.renditions.calls if operation == "put"]
