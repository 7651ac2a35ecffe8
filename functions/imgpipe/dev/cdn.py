"""The CloudFront behaviour for images, locally: `/{key}?{params}` as the distribution answers it.

1. Viewer request: `imgpipe.delivery.at_edge`, the Python twin of the CloudFront Function (same
   canonicalisation, same signature check, same refusals with the same problem documents).
2. The transformed bucket first (the origin group's primary): a stored rendition is answered as is.
3. On a miss (403/404 there) the resize handler, called with a Function URL (payload 2.0) event for the
   URI the edge rewrote the request to. Only what CloudFront forwards reaches it: no viewer headers
   (the cache policy forwards none), so the format is the one the edge chose.
4. Its answer goes back to the viewer as CloudFront passes it: a 307 for an oversized rendition is not
   followed here but by the client, whose second request is a hit in the bucket.
5. Viewer response: the twin of `functions/edge/viewer_response.js` adds `Vary: Accept` when the viewer's
   query left the format to `Accept` (`imgpipe.delivery.negotiated_by_query`). S3 cannot store `Vary`, so
   this is what gives a bucket hit the header a miss already has from the resize handler.

The response headers policy's CORS and security headers are added to every answer.
"""

from __future__ import annotations

import base64
import importlib
import importlib.util
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from imgpipe.delivery import (
    Delivery,
    Problem,
    Refused,
    SigningPolicy,
    at_edge,
    negotiated_by_query,
    vary_with_accept,
)

_log = logging.getLogger("imgpipe-dev")

# infra/delivery.py: the distribution's response headers policy.
RESPONSE_POLICY_HEADERS = {
    "access-control-allow-origin": "*",
    "access-control-expose-headers": "ETag,Server-Timing",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "strict-origin-when-cross-origin",
    "strict-transport-security": "max-age=63072000; includeSubDomains",
}
# Which origin answered: a local diagnostic, in the spirit of CloudFront's `X-Cache`.
ORIGIN_HEADER = "x-imgpipe-origin"
RESIZE_TIMEOUT_SECONDS = 25  # infra/delivery.py RESIZE_TIMEOUT
RESIZE_MEMORY_MB = 3008
RETRY_LOAD_SECONDS = 5.0
_FAILOVER_CODES = ("NoSuchKey", "404", "NotFound", "403", "AccessDenied")


@dataclass
class HttpAnswer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def problem_answer(problem: Problem, origin: str, head: bool = False) -> HttpAnswer:
    body = problem.body()
    return HttpAnswer(
        problem.status,
        {
            "content-type": "application/problem+json",
            "cache-control": problem.cache_control,
            "content-length": str(len(body)),
            ORIGIN_HEADER: origin,
        },
        b"" if head else body,
    )


class FunctionContext:
    """A Lambda context for one invocation (of the resize function unless told otherwise)."""

    def __init__(
        self,
        timeout_seconds: int = RESIZE_TIMEOUT_SECONDS,
        *,
        function_name: str = "imgpipe-local-resize",
        memory_mb: int = RESIZE_MEMORY_MB,
    ) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def function_url_event(method: str, raw_path: str, raw_query: str, host: str) -> dict[str, Any]:
    """A Function URL request (payload format 2.0) as CloudFront's origin request makes it."""
    now = datetime.now(UTC)
    parameters: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
    headers = {
        "host": host,
        "user-agent": "Amazon CloudFront",
        "via": "2.0 local.cloudfront.net (CloudFront)",
        "x-amz-cf-id": uuid.uuid4().hex,
        "x-forwarded-for": "127.0.0.1",
        "x-forwarded-proto": "https",
    }
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split(".", 1)[0],
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "Amazon CloudFront",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if parameters:
        event["queryStringParameters"] = parameters
    return event


ResizeHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


class ResizeOrigin:
    """The resize function, built like the deployed one (settings from the stack's environment keys).

    `functions/resize` is written under issue 4; until `resize.handler` imports, `available` is False and
    a miss is answered with a 501 that says so (nothing is rendered in its place).
    """

    def __init__(self, environment: Mapping[str, str], session: Any) -> None:
        self.environment = dict(environment)
        self.session = session
        self._handler: ResizeHandler | None = None
        self.unavailable_reason: str | None = None
        self._retry_after = 0.0

    def _load(self) -> ResizeHandler | None:
        if self._handler is not None:
            return self._handler
        if time.monotonic() < self._retry_after:
            return None
        # Looked for again at most every few seconds: `functions/resize` may appear while the stack runs.
        self._retry_after = time.monotonic() + RETRY_LOAD_SECONDS
        if importlib.util.find_spec("resize") is None:
            self.unavailable_reason = "the resize handler (functions/resize, issue 4) is not built yet"
            return None
        try:
            handler_module = importlib.import_module("resize.handler")
            settings_module = importlib.import_module("resize.settings")
            settings = settings_module.ResizeSettings.from_env(self.environment)
            app = handler_module.ResizeApp.from_settings(settings, self.session)
        except Exception as error:  # an unfinished module: say why instead of failing every request
            self.unavailable_reason = f"the resize handler cannot be loaded: {type(error).__name__}: {error}"
            _log.warning("%s", self.unavailable_reason)
            return None
        self.unavailable_reason = None
        handle: ResizeHandler = app.handle
        self._handler = handle
        return handle

    @property
    def available(self) -> bool:
        return self._load() is not None

    def invoke(self, event: dict[str, Any]) -> dict[str, Any] | None:
        handler = self._load()
        if handler is None:
            return None
        return handler(event, FunctionContext())


class LocalCdn:
    def __init__(
        self,
        *,
        s3: Any,
        transformed_bucket: str,
        policy: SigningPolicy,
        secrets: Callable[[], Sequence[bytes]],
        presets: Mapping[str, str],
        origin: ResizeOrigin,
        function_host: str = "local.lambda-url.us-east-1.on.aws",
    ) -> None:
        self.s3 = s3
        self.transformed_bucket = transformed_bucket
        self.policy = policy
        self.secrets = secrets
        self.presets = dict(presets)
        self.origin = origin
        self.function_host = function_host

    def answer(self, method: str, raw_path: str, raw_query: str, headers: Mapping[str, str]) -> HttpAnswer:
        answer = self._answer(method, raw_path, raw_query, headers)
        self._viewer_response(answer, raw_query)
        for name, value in RESPONSE_POLICY_HEADERS.items():
            answer.headers[name] = value
        return answer

    def _viewer_response(self, answer: HttpAnswer, raw_query: str) -> None:
        """The viewer-response function: `Vary: Accept` on a negotiated rendition's answer, never twice."""
        negotiated = negotiated_by_query(raw_query, self.presets)
        vary = vary_with_accept(answer.status, answer.headers.get("vary"), negotiated)
        if vary is not None:
            answer.headers["vary"] = vary

    def _answer(self, method: str, raw_path: str, raw_query: str, headers: Mapping[str, str]) -> HttpAnswer:
        head = method == "HEAD"
        try:
            delivery = at_edge(
                raw_path,
                raw_query,
                headers.get("accept"),
                policy=self.policy,
                secrets=self.secrets(),
                presets=self.presets,
                now=time.time(),
            )
        except Refused as refused:
            return problem_answer(refused.problem, "edge", head)
        stored = self._from_bucket(delivery, head, headers.get("if-none-match"))
        if stored is not None:
            return stored
        return self._from_resize(delivery, method)

    def _from_bucket(self, delivery: Delivery, head: bool, if_none_match: str | None) -> HttpAnswer | None:
        try:
            call = self.s3.head_object if head else self.s3.get_object
            response = call(Bucket=self.transformed_bucket, Key=delivery.object_key)
        except self.s3.exceptions.ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in _FAILOVER_CODES:
                return None
            raise
        etag = response.get("ETag", "")
        headers = {
            "content-type": response.get("ContentType", "application/octet-stream"),
            "etag": etag,
            "last-modified": response["LastModified"].strftime("%a, %d %b %Y %H:%M:%S GMT"),
            ORIGIN_HEADER: "transformed-bucket",
        }
        for name, field_name in (
            ("cache-control", "CacheControl"),
            ("content-disposition", "ContentDisposition"),
        ):
            if response.get(field_name):
                headers[name] = response[field_name]
        body = b"" if head else response["Body"].read()
        if if_none_match and etag and etag in [tag.strip() for tag in if_none_match.split(",")]:
            return HttpAnswer(304, {key: value for key, value in headers.items() if key != "content-type"})
        headers["content-length"] = str(response.get("ContentLength", len(body)))
        return HttpAnswer(200, headers, body)

    def _from_resize(self, delivery: Delivery, method: str) -> HttpAnswer:
        event = function_url_event(method, delivery.origin_path, delivery.origin_query, self.function_host)
        try:
            response = self.origin.invoke(event)
        except Exception:
            _log.exception("the resize handler raised")
            return problem_answer(
                Problem(502, "origin-error", "the resize function failed (see the dev console)"),
                "resize",
                method == "HEAD",
            )
        if response is None:
            reason = self.origin.unavailable_reason or "the resize handler is not available"
            problem = Problem(
                501,
                "delivery-not-available",
                f"delivery not available yet: {reason}; stored renditions (the presets rendered at "
                "ingest) are served from the transformed bucket",
            )
            return problem_answer(problem, "edge", method == "HEAD")
        body = response.get("body") or ""
        data = base64.b64decode(body) if response.get("isBase64Encoded") else str(body).encode("utf-8")
        headers = {str(name).lower(): str(value) for name, value in (response.get("headers") or {}).items()}
        headers[ORIGIN_HEADER] = "resize"
        if method != "HEAD":
            headers["content-length"] = str(len(data))
        return HttpAnswer(int(response.get("statusCode", 200)), headers, data if method != "HEAD" else b"")
