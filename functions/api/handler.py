"""API Lambda entry point (`api.handler.handler`): API Gateway REST proxy events in, responses out.

Thin on purpose: Powertools routes and validates against the pydantic models in `api.models` (the same
models generate the OpenAPI document at `/v1/openapi.json` and the docs page at `/v1/docs`), the caller is
resolved to a tenant, and `api.service.ApiService` does the work. Every error leaves as
`application/problem+json` without internal details.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from http import HTTPStatus
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import unquote

import boto3  # type: ignore[import-untyped]
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler import openapi as powertools_openapi
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, Server
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config  # type: ignore[import-untyped]

from api.bodies import check_json_body, header
from api.models import (
    BatchOut,
    BatchRequest,
    DeleteResponse,
    ExportOut,
    Health,
    ImageOut,
    ImagePage,
    ImageStatus,
    Problem,
    UploadRequest,
    UploadResponse,
)
from api.problems import PROBLEM_JSON, ApiProblem, problem
from api.service import ApiService, CallerIdentity
from api.settings import ApiSettings
from api.tenants import Tenant
from imgpipe.adapters.api_dynamodb import DynamoApiRepository
from imgpipe.adapters.api_s3 import S3ExportStore, S3UploadSigner
from imgpipe.adapters.events import EventBridgePublisher
from imgpipe.adapters.s3 import S3ObjectStore
from imgpipe.observability import logger, metrics, tracer

API_TITLE = "imgpipe management API"
API_VERSION = "1.0.0"
API_DESCRIPTION = "Presigned uploads, image records, batches with progress, deletion and ZIP export."
OPENAPI_PATH = "/v1/openapi.json"
DOCS_PATH = "/v1/docs"
API_KEY_HEADER = "x-api-key"
_ID_QUERY = r"^[A-Za-z0-9._-]{1,128}$"
_BOTO_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=20)
_SECURITY_SCHEMES: dict[str, Any] = {"apiKey": APIKey(name=API_KEY_HEADER, in_=APIKeyIn.header)}
# Per route, not global, so that the document says truthfully that health needs no key.
_API_KEY: list[dict[str, list[str]]] = [{"apiKey": []}]

# Routes whose body is JSON: read within limits (api.bodies) before Powertools parses it without any.
_JSON_BODY_ROUTES = frozenset({("POST", "/v1/uploads"), ("POST", "/v1/batches")})
# Powertools adds these for its own validation bodies; every error here is a Problem instead, and its
# `ValidationError` requires a `msg` it does not define, which makes a document invalid.
_POWERTOOLS_VALIDATION_SCHEMAS = ("HTTPValidationError", "ResponseValidationError", "ValidationError")


class _Resolver(APIGatewayRestResolver):
    """Powertools' resolver, refusing unreadable JSON bodies before its validation parses them. In
    `resolve` itself, so that every caller of the resolver gets it (`imgpipe dev` calls `app.resolve`)."""

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        refusal = _unreadable_body(event)
        if refusal is not None:
            return refusal
        return super().resolve(event, context)


app = _Resolver(enable_validation=True)
app.configure_openapi(
    title=API_TITLE,
    version=API_VERSION,
    description=API_DESCRIPTION,
    security_schemes=_SECURITY_SCHEMES,
)


def _responses(success: int, *statuses: int, public: bool = False) -> dict[int, Any]:
    """The success response (its schema comes from the route's return type) and the problems it can answer."""
    responses: dict[int, Any] = {success: {"description": HTTPStatus(success).phrase}}
    for status in sorted({*statuses, 429, 500} | (set() if public else {401, 403})):
        response: dict[str, Any] = {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {"model": Problem}},
        }
        if status == 429:
            response["headers"] = {
                "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}
            }
        responses[status] = response
    return responses


# Routes by method, to tell "no such path" (404) from "not with this method" (405 with Allow).
_ROUTE_METHODS: dict[str, set[str]] = {}


def _known(path: str, *methods: str) -> None:
    pattern = "^" + re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(path)) + "$"
    _ROUTE_METHODS.setdefault(pattern, set()).update(methods)


for _path, _methods in (
    ("/v1/health", ("GET",)),
    (OPENAPI_PATH, ("GET",)),
    (DOCS_PATH, ("GET",)),
    ("/v1/uploads", ("POST",)),
    ("/v1/images", ("GET",)),
    ("/v1/images/{image_id}", ("GET", "DELETE")),
    ("/v1/batches", ("POST",)),
    ("/v1/batches/{batch_id}", ("GET",)),
    ("/v1/batches/{batch_id}/export", ("POST",)),
):
    _known(_path, *_methods)


# Wiring: built once per execution environment; tests put their own service in with `use_service`.

_override: list[ApiService] = []


def use_service(service: ApiService | None) -> None:
    _override.clear()
    if service is not None:
        _override.append(service)


@cache
def _service_from_env() -> ApiService:
    settings = ApiSettings.from_env(os.environ)
    session = boto3.session.Session()
    if settings.signing_keys_secret and not settings.signing_keys:
        # Read once per cold start; the same document the edge and the resize function verify with.
        secrets = session.client("secretsmanager", config=_BOTO_CONFIG)
        document = secrets.get_secret_value(SecretId=settings.signing_keys_secret)["SecretString"]
        settings = settings.model_copy(update={"signing_keys": document})
    s3 = session.client("s3", config=_BOTO_CONFIG)
    dynamodb = session.client("dynamodb", config=_BOTO_CONFIG)
    return ApiService(
        settings,
        repository=DynamoApiRepository(dynamodb, settings.images_table),
        originals=S3ObjectStore(s3, settings.originals_bucket),
        signer=S3UploadSigner(
            s3, originals_bucket=settings.originals_bucket, exports_bucket=settings.transformed_bucket
        ),
        exports=S3ExportStore(s3, settings.transformed_bucket),
        publisher=(
            EventBridgePublisher(session.client("events", config=_BOTO_CONFIG), settings.event_bus)
            if settings.event_bus
            else None
        ),
    )


def service() -> ApiService:
    return _override[0] if _override else _service_from_env()


def _caller() -> Tenant:
    event = app.current_event
    context = event.raw_event.get("requestContext") or {}
    authorizer = context.get("authorizer") or {}
    claims = authorizer.get("claims") if isinstance(authorizer, dict) else None
    identity = CallerIdentity(
        api_key_id=event.request_context.identity.api_key_id or None,
        claims=claims if isinstance(claims, dict) else {},
    )
    tenant = service().authenticate(identity)
    logger.append_keys(tenant=tenant.tenant_id)
    service().throttle(tenant)
    return tenant


def _declared_query_only(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """422 for a query parameter the route does not declare: a misspelt `limt=5` would otherwise be
    ignored in silence, as a misspelt body field would be without `extra="forbid"`."""
    route = app.context.get("_route")
    declared = {param.alias for param in route.dependant.query_params} if route is not None else set()
    multi = app.current_event.multi_value_query_string_parameters or {}
    sent = set(multi) | set(app.current_event.query_string_parameters or {})
    if sent - declared:
        raise ApiProblem(
            422,
            "invalid-request",
            "the query has a parameter this route does not take",
            errors=[{"loc": "query", "type": "extra_forbidden"}],
        )
    return next_middleware(app)


app.use(middlewares=[_declared_query_only])


# Path parameters arrive as the client sent them, percent-encoded (a REST API does not decode `path`), so
# their limits are checked on the decoded value here rather than by Powertools on the encoded one: the
# document's `maxLength` is about the value, which is what a client (and schemathesis) measures.
MAX_PATH_ID = 128
PathId = Annotated[str, Path(json_schema_extra={"minLength": 1, "maxLength": MAX_PATH_ID})]


def _decoded(name: str, raw: str) -> str:
    value = unquote(raw)
    if len(value) > MAX_PATH_ID:
        raise ApiProblem(
            422,
            "invalid-request",
            "the request does not match the schema",
            errors=[{"loc": f"path.{name}", "type": "string_too_long"}],
        )
    return value


# Routes


@app.get(
    "/v1/health",
    summary="Liveness (no API key needed)",
    tags=["meta"],
    responses=_responses(200, public=True),
)
def health() -> Health:
    return Health(version=API_VERSION)


def _server_url() -> str:
    """Where clients call `/v1`: the delivery URL (CloudFront, or the local stack's port), whose `/v1/*`
    reaches this function. Not the API Gateway stage: its `/{stage}/v1` path is not what users call,
    and under `imgpipe dev` nothing answers it."""
    return service().settings.delivery_base_url or "/"


@cache
def _openapi_document(server_url: str) -> str:
    schema = app.get_openapi_schema(
        title=API_TITLE,
        version=API_VERSION,
        description=API_DESCRIPTION,
        security_schemes=_SECURITY_SCHEMES,
        servers=[Server(url=server_url)],
    )
    document: dict[str, Any] = schema.model_dump(mode="json", by_alias=True, exclude_none=True)
    powertools_refs = {f"#/components/schemas/{name}" for name in _POWERTOOLS_VALIDATION_SCHEMAS}
    for operations in document["paths"].values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            for status, response in list(responses.items()):
                # The 422 Powertools adds to a route without one of ours (health: no input to be invalid).
                refs = {media.get("schema", {}).get("$ref") for media in response.get("content", {}).values()}
                if refs & powertools_refs:
                    del responses[status]
    schemas = document.get("components", {}).get("schemas", {})
    for name in _POWERTOOLS_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    return json.dumps(document, indent=2)


@app.get(OPENAPI_PATH, include_in_schema=False)
def openapi() -> Response[str]:
    return Response(status_code=200, content_type="application/json", body=_openapi_document(_server_url()))


@cache
def _swagger_assets() -> tuple[str, str]:
    folder = FilePath(powertools_openapi.__file__).parent / "swagger_ui"
    script = (folder / "swagger-ui-bundle.min.js").read_text(encoding="utf-8")
    style = (folder / "swagger-ui.min.css").read_text(encoding="utf-8")
    return script, style


@app.get(DOCS_PATH, include_in_schema=False)
def docs() -> Response[str]:
    """Swagger UI with its assets inlined from Powertools (no CDN) and the served document embedded, so
    "Try it out" sends requests to the same server URL the document names."""
    script, style = _swagger_assets()
    spec = _openapi_document(_server_url()).replace("</", "<\\/")  # no `</script>` inside the page
    page = generate_swagger_html(spec, script, style, "", None)
    return Response(status_code=200, content_type="text/html", body=page)


@app.post(
    "/v1/uploads",
    summary="Presigned POST for one upload",
    tags=["uploads"],
    status_code=201,
    responses=_responses(201, 400, 404, 413, 415, 422),
    security=_API_KEY,
)
def create_upload(request: Annotated[UploadRequest, Body()]) -> UploadResponse:
    tenant = _caller()
    upload = service().create_upload(tenant, request)
    metrics.add_metric(name="UploadsPresigned", unit=MetricUnit.Count, value=1)
    return upload


@app.get(
    "/v1/images",
    summary="The tenant's images, newest first",
    tags=["images"],
    responses=_responses(200, 400, 422),
    security=_API_KEY,
)
def list_images(
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    status: Annotated[ImageStatus | None, Query()] = None,
    batch: Annotated[str | None, Query(pattern=_ID_QUERY)] = None,
    tag: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    since: Annotated[datetime | None, Query(description="ISO 8601 with a zone; created at or after")] = None,
) -> ImagePage:
    tenant = _caller()
    if since is not None and since.tzinfo is None:
        raise ApiProblem(400, "invalid-since", "`since` needs a time zone (for example a trailing Z)")
    return service().list_images(
        tenant, limit=limit, cursor=cursor, status=status, batch_id=batch, tag=tag, since=since
    )


@app.get(
    "/v1/images/<image_id>",
    summary="One image record with its URLs",
    tags=["images"],
    responses=_responses(200, 404, 422),
    security=_API_KEY,
)
def get_image(image_id: PathId) -> ImageOut:
    tenant = _caller()
    return service().get_image(tenant, _decoded("image_id", image_id))


@app.delete(
    "/v1/images/<image_id>",
    summary="Delete the original (its renditions follow)",
    tags=["images"],
    status_code=202,
    responses=_responses(202, 404, 422),
    security=_API_KEY,
)
def delete_image(image_id: PathId) -> DeleteResponse:
    tenant = _caller()
    return service().delete_image(tenant, _decoded("image_id", image_id))


@app.post(
    "/v1/batches",
    summary="Create a batch",
    tags=["batches"],
    status_code=201,
    responses=_responses(201, 400, 409, 413, 415, 422),
    security=_API_KEY,
)
def create_batch(request: Annotated[BatchRequest | None, Body()] = None) -> BatchOut:
    tenant = _caller()
    # No body at all is the same as `{}`: an id is generated and the size is left open.
    return service().create_batch(tenant, request or BatchRequest())


@app.get(
    "/v1/batches/<batch_id>",
    summary="A batch and its progress",
    tags=["batches"],
    responses=_responses(200, 404, 422),
    security=_API_KEY,
)
def get_batch(batch_id: PathId) -> BatchOut:
    tenant = _caller()
    return service().get_batch(tenant, _decoded("batch_id", batch_id))


@app.post(
    "/v1/batches/<batch_id>/export",
    summary="ZIP of the batch under SEO names, with a CSV of the names",
    tags=["batches"],
    status_code=201,
    responses=_responses(201, 404, 409, 413, 422),
    security=_API_KEY,
)
def export_batch(batch_id: PathId) -> ExportOut:
    tenant = _caller()
    export = service().export_batch(tenant, _decoded("batch_id", batch_id))
    metrics.add_metric(name="ExportFiles", unit=MetricUnit.Count, value=export.files)
    metrics.add_metric(name="ExportBytes", unit=MetricUnit.Bytes, value=export.bytes)
    return export


# Errors: every one as problem+json.


def _problem_response(status: int, body: Problem, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type=PROBLEM_JSON,
        body=body.model_dump_json(exclude_none=True),
        headers=headers or {},
    )


def _api_problem(error: ApiProblem) -> Response[str]:
    metrics.add_metric(name=f"Api{error.status}", unit=MetricUnit.Count, value=1)
    return _problem_response(error.status, error.body(app.current_event.path), error.headers)


def _invalid(error: RequestValidationError) -> Response[str]:
    # Where and what kind only: pydantic's messages can echo input and internal names.
    errors = [
        {"loc": ".".join(str(part) for part in item.get("loc", ())), "type": str(item.get("type", ""))}
        for item in error.errors()
    ]
    body = problem(422, "invalid-request", "the request does not match the schema", errors=errors)
    return _problem_response(422, body)


def _not_json(_: RequestUnsupportedContentType) -> Response[str]:
    # api.bodies refuses these first; this stays so that no path to a 500 is left.
    return _problem_response(415, problem(415, "unsupported-media-type", "send the body as application/json"))


def _no_route(_: NotFoundError) -> Response[str]:
    event = app.current_event
    allowed = next(
        (methods for pattern, methods in _ROUTE_METHODS.items() if re.match(pattern, event.path)), None
    )
    if allowed and event.http_method not in allowed:
        body = problem(405, "method-not-allowed", f"{event.http_method} is not supported here")
        return _problem_response(405, body, {"Allow": ", ".join(sorted(allowed))})
    return _problem_response(404, problem(404, "no-route", "no such resource"))


def _unexpected(_: Exception) -> Response[str]:
    logger.exception("unhandled error")
    metrics.add_metric(name="Api500", unit=MetricUnit.Count, value=1)
    return _problem_response(500, problem(500, "internal", "something went wrong on our side"))


# Registered by call, not as decorators: Powertools' decorator is untyped and would erase these signatures.
app.exception_handler(ApiProblem)(_api_problem)
app.exception_handler(RequestValidationError)(_invalid)
app.exception_handler(RequestUnsupportedContentType)(_not_json)
app.exception_handler(NotFoundError)(_no_route)
app.exception_handler(Exception)(_unexpected)


@logger.inject_lambda_context(clear_state=True, correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


def _unreadable_body(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The proxy response refusing a JSON route's body that is not small UTF-8 JSON, or None to go on.

    Before the resolver, because Powertools' validation parses the body first and lets `RecursionError`,
    the int-string limit's `ValueError` and `UnicodeDecodeError` escape as 500s.
    """
    path = str(event.get("path") or "")
    if (str(event.get("httpMethod") or ""), path) not in _JSON_BODY_ROUTES:
        return None
    body = event.get("body")
    try:
        check_json_body(
            header(event.get("headers"), "content-type"),
            body if isinstance(body, str) else None,
            base64_encoded=bool(event.get("isBase64Encoded")),
        )
    except ApiProblem as error:
        metrics.add_metric(name=f"Api{error.status}", unit=MetricUnit.Count, value=1)
        return {
            "statusCode": error.status,
            "multiValueHeaders": {"Content-Type": [PROBLEM_JSON]},
            "body": error.body(path).model_dump_json(exclude_none=True),
            "isBase64Encoded": False,
        }
    return None
