"""A CloudFront KeyValueStore data plane on the wire, because moto does not implement it.

moto 5 models the control plane only (`cloudfront` CreateKeyValueStore/DescribeKeyValueStore); the
`cloudfront-keyvaluestore` API (the data plane: DescribeKeyValueStore with its ETag, UpdateKeys with
If-Match, GetKey) has no backend. `FakeKeyValueStore` answers that API at botocore's `before-send`
hook, so a real boto3 client serialises, **signs** and parses every call as it would against AWS, and
the adapter's error handling sees real `ClientError`s.

What it enforces, as AWS does: the request is signed with SigV4A (`AWS4-ECDSA-P256-SHA256`, which
botocore can only produce with awscrt; plain SigV4 is refused), `If-Match` must be the current ETag
(409 ConflictException otherwise) and every write makes a new ETag, UpdateKeys is all-or-nothing, key
1..512 bytes, value ≤ 1 KB, total ≤ 5 MB, the store must be READY. Stricter than AWS documents:
deleting a missing key is refused (AWS's answer is not documented; the service only deletes keys it
wrote before), and an UpdateKeys with nothing in it.

What it does not: IAM (who may call it: see the synth test of the edge-settings role), the real ETag
format, propagation to edge locations (AWS: seconds; here at once), the account/endpoint rules (any ARN
is one store), request throttling.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import boto3  # type: ignore[import-untyped]
from botocore.awsrequest import AWSResponse  # type: ignore[import-untyped]

STORE_ARN = "arn:aws:cloudfront::123456789012:key-value-store/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
SIGV4A = "AWS4-ECDSA-P256-SHA256"
MAX_KEY_BYTES, MAX_VALUE_BYTES, MAX_TOTAL_BYTES = 512, 1024, 5 * 1024 * 1024


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


@dataclass
class FakeKeyValueStore:
    arn: str = STORE_ARN
    items: dict[str, str] = field(default_factory=dict)
    status: str = "READY"
    # The next N writes find that another writer got in first (its ETag changed under them).
    concurrent_writes: int = 0
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _versions: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    etag: str = ""

    def __post_init__(self) -> None:
        self._new_etag()

    def _new_etag(self) -> None:
        self.etag = "ETVPDKIKX0DER" + hashlib.sha256(str(next(self._versions)).encode()).hexdigest()[:8]

    def _size(self) -> int:
        return sum(len(k.encode()) + len(v.encode()) for k, v in self.items.items())

    def client(self, session: Any = None) -> Any:
        """A real boto3 client of the data plane whose requests this store answers."""
        session = session or boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        )
        client = session.client("cloudfront-keyvaluestore")
        client.meta.events.register("before-send.cloudfront-keyvaluestore", self._answer)
        return client

    # The wire

    def _answer(self, request: Any, **_: Any) -> AWSResponse:
        authorization = request.headers.get("Authorization", b"")
        if isinstance(authorization, bytes):
            authorization = authorization.decode()
        if not authorization.startswith(SIGV4A):
            return self._error(403, "AccessDeniedException", "requests must be signed with SigV4A")
        path = unquote(urlsplit(request.url).path)
        prefix = "/key-value-stores/"
        if not path.startswith(prefix):
            return self._error(404, "ResourceNotFoundException", path)
        arn, _sep, key = path[len(prefix) :].partition("/keys/")
        if key and request.method == "GET":
            if arn != self.arn:
                return self._error(404, "ResourceNotFoundException", f"no store {arn}")
            self.calls.append(("GetKey", {"Key": key}))
            if key not in self.items:
                return self._error(404, "ResourceNotFoundException", f"no key {key!r}")
            payload = {"Key": key, "Value": self.items[key], "ItemCount": len(self.items)}
            return self._json(200, {**payload, "TotalSizeInBytes": self._size()}, {})
        writes = arn.endswith("/keys")
        arn = arn.removesuffix("/keys")
        if arn != self.arn:
            return self._error(404, "ResourceNotFoundException", f"no store {arn}")
        if request.method == "GET" and not writes:
            self.calls.append(("DescribeKeyValueStore", {}))
            return self._describe()
        if request.method == "POST" and writes:
            body = json.loads(request.body or b"{}")
            if_match = request.headers.get("If-Match", b"")
            if isinstance(if_match, bytes):
                if_match = if_match.decode()
            self.calls.append(("UpdateKeys", {"IfMatch": if_match, **body}))
            return self._update(if_match, body.get("Puts") or [], body.get("Deletes") or [])
        return self._error(400, "ValidationException", f"unexpected {request.method} {path}")

    def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> AWSResponse:
        data = json.dumps(payload).encode()
        return AWSResponse(self.arn, status, {"Content-Type": "application/json", **headers}, _Body(data))

    def _error(self, status: int, code: str, message: str) -> AWSResponse:
        return self._json(status, {"Message": message}, {"x-amzn-ErrorType": code})

    def _describe(self) -> AWSResponse:
        payload = {
            "KvsARN": self.arn,
            "ItemCount": len(self.items),
            "TotalSizeInBytes": self._size(),
            "Created": 1_700_000_000,
            "Status": self.status,
        }
        return self._json(200, payload, {"ETag": self.etag})

    def _update(
        self, if_match: str, puts: list[dict[str, str]], deletes: list[dict[str, str]]
    ) -> AWSResponse:
        if self.status != "READY":
            return self._error(409, "ConflictException", f"the store is {self.status}")
        if self.concurrent_writes:
            self.concurrent_writes -= 1
            self._new_etag()  # someone else wrote first
        if if_match != self.etag:
            return self._error(409, "ConflictException", "the ETag does not match the store's")
        if not puts and not deletes:
            return self._error(400, "ValidationException", "nothing to put or delete")
        after = dict(self.items)
        for entry in deletes:
            if entry["Key"] not in after:
                return self._error(400, "ValidationException", f"no key {entry['Key']!r} to delete")
            del after[entry["Key"]]
        for entry in puts:
            key, value = entry["Key"], entry["Value"]
            if not 1 <= len(key.encode()) <= MAX_KEY_BYTES or len(value.encode()) > MAX_VALUE_BYTES:
                return self._error(400, "ValidationException", f"key or value of {key[:40]!r} too large")
            after[key] = value
        if sum(len(k.encode()) + len(v.encode()) for k, v in after.items()) > MAX_TOTAL_BYTES:
            return self._error(402, "ServiceQuotaExceededException", "the store would pass 5 MB")
        self.items = after
        self._new_etag()
        payload = {"ItemCount": len(self.items), "TotalSizeInBytes": self._size()}
        return self._json(200, payload, {"ETag": self.etag})
