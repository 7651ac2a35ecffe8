"""Routes of the dev server's one port.

- `/` and `/_dev/static/*`: the gallery (static HTML/JS/CSS from `static/`).
- `/_dev/*`: small JSON endpoints the gallery polls and posts to (local only, not a product API):
  `config`, `snapshot` (images with renditions and metadata, batches, queue depths, events),
  `uploads` (a presigned POST), `s3/{bucket}` (the POST target, checked like S3), `batches`, `url`
  (signed delivery URLs for the playground), `delete`, `redrive`.
- `/v1/*`: the management API behind a local API Gateway (`gateway.LocalApiGateway`): the API key
  checked, a REST proxy event, `api.handler`'s resolver. 501 with a problem document while it cannot load.
- anything else: an image, `/{key}?{params}`, answered as CloudFront would (`cdn.LocalCdn`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from imgpipe.core.errors import SpecError
from imgpipe.delivery import Problem
from imgpipe.dev import ops
from imgpipe.dev.cdn import HttpAnswer, problem_answer
from imgpipe.dev.gateway import is_api_path
from imgpipe.dev.presign import (
    GENERIC_CONTENT_TYPE,
    PostRefused,
    check_post,
    parse_multipart,
    presigned_post,
    presigning_client,
)
from imgpipe.dev.urls import build_url
from imgpipe.records import ImageRecord
from imgpipe.uploads import InvalidUploadKey
from infra.constants import SOURCE_PREFIXES, STATUS_DELETED

if TYPE_CHECKING:
    from imgpipe.dev.stack import DevStack

STATIC_DIR = Path(__file__).with_name("static")
_STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_BATCH_ID = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        media_type = self.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type != "application/json":
            # A cross-site page can POST text/plain or a form without asking; JSON needs a CORS preflight,
            # which this server never grants.
            raise BadRequest("send the body as application/json", status=415, code="unsupported-media-type")
        try:
            document = json.loads(self.body or b"{}")
        except ValueError:
            raise BadRequest("the body is not JSON") from None
        if not isinstance(document, dict):
            raise BadRequest("the body is not a JSON object")
        return document

    def param(self, name: str, default: str | None = None) -> str | None:
        values = parse_qs(self.query).get(name)
        return values[0] if values else default


class BadRequest(Exception):
    def __init__(self, detail: str, param: str | None = None, status: int = 400, code: str = "bad-request"):
        super().__init__(detail)
        self.problem = Problem(status, code, detail, param)


def json_answer(payload: Any, status: int = 200) -> HttpAnswer:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return HttpAnswer(status, {"content-type": "application/json", "cache-control": "no-store"}, body)


def batch_id_from(name: str) -> str:
    batch_id = _BATCH_ID.sub("-", name.strip()).strip("-.")[:128]
    if not batch_id:
        raise BadRequest("a batch needs a name of letters, digits, '.', '_' or '-'", "name")
    return batch_id


class DevWeb:
    def __init__(self, stack: DevStack) -> None:
        self.stack = stack
        self.max_body_bytes = stack.ingest_app().settings.limits.max_source_bytes
        self._routes: dict[tuple[str, str], Callable[[Request], HttpAnswer]] = {
            ("GET", "/_dev/config"): self.config,
            ("GET", "/_dev/snapshot"): self.snapshot,
            ("GET", "/_dev/health"): lambda _: json_answer({"ok": True}),
            ("POST", "/_dev/uploads"): self.presign,
            ("POST", "/_dev/batches"): self.open_batch,
            ("POST", "/_dev/url"): self.url,
            ("POST", "/_dev/delete"): self.delete,
            ("POST", "/_dev/redrive"): self.redrive,
        }

    # Entry

    def handle(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        client_ip: str = "127.0.0.1",
    ) -> HttpAnswer:
        request = Request(method, path, query, headers, body)
        try:
            if is_api_path(path):
                return self.api(request, client_ip)
            return self._route(request)
        except BadRequest as error:
            return problem_answer(error.problem, "dev")

    def allowed_hosts(self) -> frozenset[str]:
        """Host header values this server answers `/_dev/*` for: loopback names and the bound address, on
        its port. Anything else is a DNS-rebinding page talking to it under a name of its own."""
        port = self.stack.url.rsplit(":", 1)[-1]
        names = {"127.0.0.1", "localhost", "[::1]", self.stack.options.host}
        return frozenset(f"{name}:{port}" for name in names) | frozenset(names if port == "80" else ())

    def _refuse_foreign(self, request: Request) -> None:
        """`/_dev/*` answers its own pages and local tools only (it deletes, redrives and signs)."""
        host = request.headers.get("host", "").strip().lower()
        allowed = self.allowed_hosts()
        if host not in allowed:
            raise BadRequest(
                f"the dev server does not answer for host {host!r}", status=403, code="forbidden"
            )
        origin = request.headers.get("origin")
        if origin is not None and origin.removeprefix("http://").lower() not in allowed:
            raise BadRequest(f"cross-origin request from {origin!r} refused", status=403, code="forbidden")
        fetch_site = request.headers.get("sec-fetch-site")
        if fetch_site is not None and fetch_site not in ("same-origin", "none"):
            raise BadRequest(f"a {fetch_site} request is refused", status=403, code="forbidden")

    def _route(self, request: Request) -> HttpAnswer:
        path, method = request.path, request.method
        if path.startswith("/_dev/") or path in ("/", "/index.html"):
            self._refuse_foreign(request)
        if path in ("/", "/index.html") and method in ("GET", "HEAD"):
            return self.static("index.html")
        if path.startswith("/_dev/static/") and method in ("GET", "HEAD"):
            return self.static(path.removeprefix("/_dev/static/"))
        if path.startswith("/_dev/s3/") and method == "POST":
            return self.s3_post(request)
        if path.startswith("/_dev/"):
            route = self._routes.get((method, path))
            if route is None:
                return problem_answer(Problem(404, "not-found", f"no local endpoint {method} {path}"), "dev")
            if method == "POST":
                request.json()  # every POST is JSON, also those that read no field (redrive)
            return route(request)
        if method == "OPTIONS":
            return HttpAnswer(
                204,
                {
                    "access-control-allow-origin": "*",
                    "access-control-allow-methods": "GET, HEAD, OPTIONS",
                    "access-control-allow-headers": "*",
                    "access-control-max-age": "600",
                },
            )
        if method not in ("GET", "HEAD"):
            return problem_answer(
                Problem(405, "method-not-allowed", "images answer GET and HEAD only"),
                "edge",
                method == "HEAD",
            )
        assert self.stack.cdn is not None
        return self.stack.cdn.answer(method, path, request.query, request.headers)

    def too_large(self, length: int) -> HttpAnswer:
        refused = PostRefused(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
        if length < 0:
            refused = PostRefused(
                400, "MissingContentLength", "You must provide the Content-Length HTTP header."
            )
        return HttpAnswer(
            refused.status, {"content-type": "application/xml", "connection": "close"}, refused.xml()
        )

    def api(self, request: Request, client_ip: str) -> HttpAnswer:
        gateway = self.stack.api
        if gateway is None:
            return problem_answer(Problem(503, "not-started", "the local stack is not started"), "dev")
        return gateway.answer(
            request.method, request.path, request.query, request.headers, request.body, source_ip=client_ip
        )

    def internal_error(self) -> HttpAnswer:
        return problem_answer(Problem(500, "internal-error", "the dev server failed; see its console"), "dev")

    # Static files

    def static(self, name: str) -> HttpAnswer:
        if "/" in name or name.startswith(".") or Path(name).suffix not in _STATIC_TYPES:
            return problem_answer(Problem(404, "not-found", "no such file"), "dev")
        file = STATIC_DIR / name
        if not file.is_file():
            return problem_answer(Problem(404, "not-found", "no such file"), "dev")
        return HttpAnswer(
            200, {"content-type": _STATIC_TYPES[file.suffix], "cache-control": "no-cache"}, file.read_bytes()
        )

    # JSON endpoints

    def config(self, _: Request) -> HttpAnswer:
        stack = self.stack
        resize = stack.resize
        config = stack.config
        return json_answer(
            {
                "tenant": stack.options.tenant,
                "presets": config.presets,
                "signing_policy": config.signing_policy,
                "max_upload_bytes": self.max_body_bytes,
                "delivery": {
                    "available": bool(resize and resize.available),
                    "reason": resize.unavailable_reason if resize else None,
                },
                # The key itself is not handed out here: it is in the data directory and on the console.
                "api": {
                    "available": bool(stack.api and stack.api.available),
                    "reason": stack.api.unavailable_reason if stack.api else "not started",
                    "url": "/v1",
                    "docs": "/v1/docs",
                    "keys_file": str(stack.data.api_keys_file),
                },
                "aws_endpoint": stack.endpoint,
                "data_dir": str(stack.data.path),
                "lanes": {
                    "interactive": config.lanes.interactive.model_dump(mode="json"),
                    "bulk": config.lanes.bulk.model_dump(mode="json"),
                    "max_receive_count": config.lanes.max_receive_count,
                    "visibility_timeout": stack.options.visibility_timeout,
                },
            }
        )

    def _image_json(self, record: ImageRecord) -> dict[str, Any]:
        stack = self.stack
        data = record.model_dump(mode="json")
        urls: dict[str, str] = {}
        if record.status != STATUS_DELETED and record.source_key.startswith(SOURCE_PREFIXES):
            secret = stack.secrets()[0]
            for preset in stack.config.presets:
                built = build_url(
                    record.source_key,
                    f"preset={preset}",
                    presets=stack.config.presets,
                    policy=stack.signing_policy,
                    secret=secret,
                )
                urls[preset] = built.path_and_query
        data["urls"] = urls
        return data

    def snapshot(self, request: Request) -> HttpAnswer:
        stack = self.stack
        target = stack.target()
        include_deleted = request.param("deleted") == "1"
        records = ops.images(target)
        current = ops.current_records(records)
        shown = [
            record
            for record in records
            if (include_deleted or record.status != STATUS_DELETED)
            and current.get(record.source_key) is record
        ]
        after = int(request.param("events_after") or 0)
        events = [
            {"number": event.number, "time": event.time, "type": event.detail_type, "detail": event.detail}
            for event in stack.events
            if event.number > after
        ]
        return json_answer(
            {
                "images": [self._image_json(record) for record in shown[:500]],
                "counts": ops.counts_by_status(records),
                "batches": [batch.model_dump(mode="json") for batch in ops.batches(target)],
                "queues": ops.queue_depths(target),
                "events": events[-100:],
                "delivery_available": bool(stack.resize and stack.resize.available),
            }
        )

    def presign(self, request: Request) -> HttpAnswer:
        stack = self.stack
        document = request.json()
        name = str(document.get("name") or "")
        content_type = str(document.get("type") or "") or GENERIC_CONTENT_TYPE
        tenant = str(document.get("tenant") or stack.options.tenant)
        batch = document.get("batch")
        size = int(document.get("size") or 0)
        if size > self.max_body_bytes:
            raise BadRequest(
                f"{size:,} bytes is over the upload limit of {self.max_body_bytes:,}",
                "size",
                413,
                "too-large",
            )
        try:
            key = ops.upload_key(tenant, name, str(batch) if batch else None)
        except InvalidUploadKey as error:
            raise BadRequest(str(error), "name") from None
        resources = stack.require_resources()
        assert stack.session is not None
        post = presigned_post(
            presigning_client(stack.session),
            resources.originals_bucket,
            key,
            content_type=content_type,
            max_bytes=self.max_body_bytes,
        )
        # The browser posts to this server, which checks the policy as S3 would (moto does not).
        post["url"] = f"/_dev/s3/{resources.originals_bucket}"
        return json_answer({"key": key, **post, "max_bytes": self.max_body_bytes})

    def s3_post(self, request: Request) -> HttpAnswer:
        """The presigned POST's target: the policy checked as S3 checks it, then the object written."""
        stack = self.stack
        resources = stack.require_resources()
        bucket = request.path.removeprefix("/_dev/s3/").strip("/")
        try:
            if bucket != resources.originals_bucket:
                raise PostRefused(404, "NoSuchBucket", "The specified bucket does not exist")
            parts = parse_multipart(request.headers.get("content-type", ""), request.body)
            fields = {part.name: part.data.decode("utf-8") for part in parts if part.name != "file"}
            files = [part for part in parts if part.name == "file"]
            if len(files) != 1:
                raise PostRefused(
                    400, "InvalidArgument", "POST requires exactly one file upload per request."
                )
            assert stack.session is not None
            check_post(fields, len(files[0].data), bucket=bucket, secret_key=stack.session.secret_key)
        except PostRefused as refused:
            return HttpAnswer(refused.status, {"content-type": "application/xml"}, refused.xml())
        form = {name.lower(): value for name, value in fields.items()}
        stack.put_original(form["key"], files[0].data, form.get("content-type"))
        status = int(form.get("success_action_status") or 204)
        return HttpAnswer(status if status in (200, 201, 204) else 204, {})

    def open_batch(self, request: Request) -> HttpAnswer:
        document = request.json()
        batch_id = batch_id_from(str(document.get("name") or ""))
        expected = int(document.get("expected") or 0)
        if expected < 1:
            raise BadRequest("a batch expects at least one upload", "expected")
        tenant = str(document.get("tenant") or self.stack.options.tenant)
        try:
            batch = self.stack.open_batch(tenant, batch_id, expected)
        except (ValueError, InvalidUploadKey) as error:
            raise BadRequest(str(error), "name") from None
        return json_answer({"batch_id": batch_id, "tenant": tenant, "batch": batch.model_dump(mode="json")})

    def url(self, request: Request) -> HttpAnswer:
        stack = self.stack
        document = request.json()
        key = str(document.get("key") or "")
        query = str(document.get("query") or "")
        try:
            built = build_url(
                key,
                query,
                presets=stack.config.presets,
                policy=stack.signing_policy,
                secret=stack.secrets()[0],
                sign_always=bool(document.get("sign")),
                expires_at=int(document["expires_at"]) if document.get("expires_at") else None,
            )
        except SpecError as error:
            raise BadRequest(error.message, error.param) from None
        return json_answer(
            {
                "url": built.path_and_query,
                "absolute": stack.url + built.path_and_query,
                "canonical": built.canonical_query,
                "signed": built.signed,
                "needs_signature": built.needs_signature,
            }
        )

    def delete(self, request: Request) -> HttpAnswer:
        key = str(request.json().get("key") or "")
        if not key.startswith(SOURCE_PREFIXES):
            where = " or ".join(SOURCE_PREFIXES)
            raise BadRequest(f"only originals under {where} can be deleted here", "key")
        self.stack.delete_original(key)
        return json_answer({"deleted": key})

    def redrive(self, _: Request) -> HttpAnswer:
        return json_answer({"moved": ops.redrive(self.stack.target())})
