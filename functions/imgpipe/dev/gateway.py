"""The API Gateway stage in front of the management API, locally: `/v1/*` as the REST API answers it.

1. The API key: `x-api-key` is looked up among the local keys (`api-keys.json` in the data directory) as
   API Gateway looks it up among its keys. A missing or unknown key is refused here with 403, before the
   function runs (API Gateway's `{"message": "Forbidden"}`, as a problem document). The routes the API
   treats as public (`/v1/health`, `/v1/openapi.json`, `/v1/docs`) pass without a key; a key sent to them
   must still be a known one.
2. The event: an API Gateway REST proxy event (`resource`, `path`, query and headers in both their single
   and multi-value forms, the body, base64 when it is not text) with a request context that API Gateway
   fills: stage, request id, `identity.sourceIp` and `identity.apiKeyId` (the id of the key found in 1,
   never anything the client says). No authoriser runs locally, so `requestContext.authorizer` is never
   set: a client cannot pass claims.
3. The function: `api.handler`'s resolver, with its service built as `api.handler` builds it at a cold
   start (`ApiSettings.from_env` over the environment keys infra/api.py sets, the same adapters) but with
   clients of the stack's boto3 session, pointed at the embedded AWS. One execution environment: requests
   are handled one at a time (Powertools' resolver keeps the current event on the module's app).
4. The answer: the function's status, headers (single and multi-value) and body (decoded from base64 when
   flagged) go back to the client.

Presigned uploads point at the dev server's `/_dev/s3/{bucket}`, which checks the POST policy as S3 does
(moto does not); presigned downloads (exports) point at the embedded AWS, like any S3 object URL.
"""

from __future__ import annotations

import base64
import hmac
import importlib
import importlib.util
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from botocore.config import Config  # type: ignore[import-untyped]

from imgpipe.delivery import Problem
from imgpipe.dev.cdn import ORIGIN_HEADER, FunctionContext, HttpAnswer, problem_answer
from imgpipe.dev.datadir import LocalApiKey
from imgpipe.observability import logger as powertools_logger
from imgpipe.observability import metrics as powertools_metrics
from infra.sizing import API_MEMORY_MB, API_TIMEOUT_SECONDS

_log = logging.getLogger("imgpipe-dev")

API_PREFIX = "/v1"
API_KEY_HEADER = "x-api-key"
# What `api.handler` answers without a key (health; the document and its docs page call no `_caller`).
PUBLIC_PATHS = frozenset({"/v1/health", "/v1/openapi.json", "/v1/docs"})
FUNCTION_NAME = "imgpipe-local-api"
PROXY_RESOURCE = "/v1/{proxy+}"
# api.handler's client configuration (retries, timeouts), for the clients built here.
_BOTO_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=20)
# Presigned POSTs must be SigV4 and path-style, so that their URL is `{endpoint}/{bucket}`.
_POST_CONFIG = Config(signature_version="s3v4", s3={"addressing_style": "path"})

ApiHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def is_api_path(path: str) -> bool:
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def forbidden() -> HttpAnswer:
    """API Gateway's refusal of a missing or unknown API key (`{"message": "Forbidden"}`, 403)."""
    answer = problem_answer(
        Problem(403, "forbidden", "Forbidden: send a valid API key in the x-api-key header"), "gateway"
    )
    answer.headers["x-amzn-errortype"] = "ForbiddenException"
    return answer


def rest_proxy_event(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    stage: str,
    api_key: LocalApiKey | None,
    source_ip: str,
    request_id: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The REST proxy event API Gateway sends for `/v1` (method ANY) or `/v1/{proxy+}` (method ANY)."""
    moment = now or datetime.now(UTC)
    proxy = path[len(API_PREFIX) + 1 :] if path.startswith(API_PREFIX + "/") else ""
    resource = PROXY_RESOURCE if proxy else API_PREFIX
    pairs = parse_qsl(query, keep_blank_values=True)
    multi_query: dict[str, list[str]] = {}
    for name, value in pairs:
        multi_query.setdefault(name, []).append(value)
    host = headers.get("host", "localhost")
    all_headers = {
        **dict(headers),
        "x-forwarded-for": source_ip,
        "x-forwarded-proto": "http",
        "x-forwarded-port": host.rsplit(":", 1)[-1] if ":" in host else "80",
    }
    text: str | None = None
    encoded = False
    if body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode("ascii"), True
    identity: dict[str, Any] = {
        "apiKey": api_key.value if api_key else None,
        "apiKeyId": api_key.id if api_key else None,
        "sourceIp": source_ip,
        "userAgent": headers.get("user-agent"),
        "accessKey": None,
        "accountId": None,
        "caller": None,
        "cognitoAuthenticationProvider": None,
        "cognitoAuthenticationType": None,
        "cognitoIdentityId": None,
        "cognitoIdentityPoolId": None,
        "principalOrgId": None,
        "user": None,
        "userArn": None,
    }
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {name: [value] for name, value in all_headers.items()},
        "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": {"proxy": proxy} if proxy else None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "resourceId": "local",
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainName": host,
            "domainPrefix": host.split(".", 1)[0],
            "requestId": request_id,
            "extendedRequestId": request_id,
            "requestTime": moment.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(moment.timestamp() * 1000),
            "identity": identity,
        },
        "body": text,
        "isBase64Encoded": encoded,
    }


def http_answer(response: Mapping[str, Any], request_id: str) -> HttpAnswer:
    """The function's proxy response as API Gateway returns it to the client."""
    headers: dict[str, str] = {}
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers[str(name).lower()] = ", ".join(str(value) for value in values)
    for name, value in (response.get("headers") or {}).items():
        headers.setdefault(str(name).lower(), str(value))
    body = response.get("body") or ""
    data = base64.b64decode(body) if response.get("isBase64Encoded") else str(body).encode("utf-8")
    headers.pop("content-length", None)
    headers["x-amzn-requestid"] = request_id
    headers[ORIGIN_HEADER] = "api"
    return HttpAnswer(int(response.get("statusCode", 502)), headers, data)


class PresignedEndpoints:
    """`api.ports.UploadSigner` for the local stack: uploads to the dev server's checked POST endpoint,
    downloads from the embedded AWS. Each is the deployed signer (`S3UploadSigner`) over its own client."""

    def __init__(self, uploads: Any, downloads: Any) -> None:
        self._uploads = uploads
        self._downloads = downloads

    def presign_post(
        self, key: str, *, content_type: str, max_bytes: int, expires_in: int
    ) -> tuple[str, dict[str, str]]:
        url, fields = self._uploads.presign_post(
            key, content_type=content_type, max_bytes=max_bytes, expires_in=expires_in
        )
        return str(url), dict(fields)

    def presign_get(self, key: str, *, filename: str, expires_in: int) -> str:
        return str(self._downloads.presign_get(key, filename=filename, expires_in=expires_in))


class LocalApiGateway:
    """`/v1/*` of the dev server: the key check, the event, the function, the answer."""

    def __init__(
        self,
        environment: Mapping[str, str],
        session: Any,
        *,
        keys: Sequence[LocalApiKey],
        stage: str,
        upload_endpoint: str,
        verbose: bool = False,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self.environment = dict(environment)
        self.session = session
        self.keys = list(keys)
        self.stage = stage
        self.upload_endpoint = upload_endpoint.rstrip("/")
        self.verbose = verbose
        self.echo = echo
        self.unavailable_reason: str | None = None
        self._handler: ApiHandler | None = None
        self._module: Any = None
        self._lock = threading.Lock()

    # Cold start

    def load(self) -> ApiHandler | None:
        """Build the function once (a cold start); None, with `unavailable_reason`, when it cannot be."""
        if self._handler is not None:
            return self._handler
        if importlib.util.find_spec("api") is None:
            self.unavailable_reason = "the management API (functions/api) is not there"
            return None
        try:
            module = importlib.import_module("api.handler")
            service = self._build_service()
        except Exception as error:  # an unfinished module: say why instead of failing every request
            self.unavailable_reason = f"the management API cannot be loaded: {type(error).__name__}: {error}"
            _log.warning("%s", self.unavailable_reason)
            return None
        module.use_service(service)
        self._module = module
        self.unavailable_reason = None
        resolve: ApiHandler = module.app.resolve
        self._handler = resolve
        return resolve

    def _build_service(self) -> Any:
        """`api.handler._service_from_env`, with the stack's session instead of the default one."""
        settings_module = importlib.import_module("api.settings")
        service_module = importlib.import_module("api.service")
        ports = importlib.import_module("api.ports")
        repositories = importlib.import_module("imgpipe.adapters.api_dynamodb")
        signers = importlib.import_module("imgpipe.adapters.api_s3")
        stores = importlib.import_module("imgpipe.adapters.s3")
        events = importlib.import_module("imgpipe.adapters.events")
        settings = settings_module.ApiSettings.from_env(self.environment)
        s3 = self.session.client("s3", config=_BOTO_CONFIG)
        dynamodb = self.session.client("dynamodb", config=_BOTO_CONFIG)
        repository = repositories.DynamoApiRepository(dynamodb, settings.images_table)
        for key in self.keys:
            # What an operator does after a deployment: bind each key id to its tenant and plan.
            repository.put_api_key(ports.ApiKeyBinding(api_key_id=key.id, tenant=key.tenant, plan=key.plan))
            repository.put_tenant(key.tenant, key.plan)
        upload_client = self.session.client("s3", endpoint_url=self.upload_endpoint, config=_POST_CONFIG)
        buckets = {
            "originals_bucket": settings.originals_bucket,
            "exports_bucket": settings.transformed_bucket,
        }
        return service_module.ApiService(
            settings,
            repository=repository,
            originals=stores.S3ObjectStore(s3, settings.originals_bucket),
            signer=PresignedEndpoints(
                signers.S3UploadSigner(upload_client, **buckets), signers.S3UploadSigner(s3, **buckets)
            ),
            exports=signers.S3ExportStore(s3, settings.transformed_bucket),
            publisher=(
                events.EventBridgePublisher(
                    self.session.client("events", config=_BOTO_CONFIG), settings.event_bus
                )
                if settings.event_bus
                else None
            ),
        )

    @property
    def available(self) -> bool:
        return self.load() is not None

    def close(self) -> None:
        if self._module is not None:
            self._module.use_service(None)
            self._module = None
        self._handler = None

    # Requests

    def key_for(self, value: str | None) -> LocalApiKey | None:
        if not value:
            return None
        found = None
        for key in self.keys:
            if hmac.compare_digest(key.value.encode("utf-8"), value.encode("utf-8")):
                found = key
        return found

    def answer(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        source_ip: str = "127.0.0.1",
    ) -> HttpAnswer:
        handler = self.load()
        if handler is None:
            reason = self.unavailable_reason or "the management API is not available"
            return problem_answer(Problem(501, "not-implemented", reason), "gateway")
        sent = headers.get(API_KEY_HEADER)
        api_key = self.key_for(sent)
        if api_key is None and (sent or path not in PUBLIC_PATHS):
            return forbidden()
        request_id = str(uuid.uuid4())
        event = rest_proxy_event(
            method,
            path,
            query,
            headers,
            body,
            stage=self.stage,
            api_key=api_key,
            source_ip=source_ip,
            request_id=request_id,
        )
        context = FunctionContext(API_TIMEOUT_SECONDS, function_name=FUNCTION_NAME, memory_mb=API_MEMORY_MB)
        started = time.monotonic()
        with self._lock:
            try:
                response = handler(event, context)
            except Exception:
                _log.exception("the API function raised")
                return problem_answer(
                    Problem(502, "bad-gateway", "the API function failed (see the dev console)"), "gateway"
                )
            finally:
                # What the deployed entry point's `inject_lambda_context(clear_state=True)` drops between
                # invocations; the logger is shared with the ingest workers here.
                powertools_logger.remove_keys(["tenant"])
                if self.verbose:
                    powertools_metrics.flush_metrics()
                else:
                    powertools_metrics.clear_metrics()
        answer = http_answer(response, request_id)
        if self.verbose and self.echo is not None:
            took = (time.monotonic() - started) * 1000
            self.echo(f"api        {method} {path} {answer.status}  {took:.0f} ms")
        return answer
