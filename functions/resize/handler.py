"""Resize Lambda entry point (`resize.handler.handler`): a Function URL request in, a response out.

The contract is a plain Function URL one (payload format 2.0), so CloudFront's origin failover and the
local runtime call it the same way:

- in: `rawPath` (the canonical object key the edge rewrote the URI to, e.g.
  `/uploads/a.jpg/fm%3Dwebp%26w%3D400`), `rawQueryString` (the canonical request, `preset` and `s`),
  `headers`, `requestContext.http.method`;
- out: `{"statusCode", "headers", "body" (base64, always), "isBase64Encoded": true}`.

Thin on purpose: read the event, hand it to the service with the function's deadline, shape the response,
and turn the outcome into one log line and a few metrics.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3  # type: ignore[import-untyped]
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config  # type: ignore[import-untyped]

from imgpipe.adapters.dynamodb import DynamoMetadataRepository
from imgpipe.adapters.s3 import S3ObjectStore
from imgpipe.delivery import Problem, parse_signing_keys
from imgpipe.observability import logger, metrics, tracer
from resize.service import (
    FocalPoints,
    HttpResponse,
    Outcome,
    RecordedFocalPoints,
    ResizeConfig,
    ResizeService,
    problem_response,
)
from resize.settings import ResizeSettings

# A cold miss has one chance: a couple of quick retries smooth over a throttle, and the time budget (not
# botocore) decides when to give up.
_BOTO_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10)
# Rotation adds a key to the secret before URLs are signed with it; five minutes is how long a warm
# function may take to see it.
SIGNING_KEYS_MAX_AGE_S = 300


def signing_key_source(settings: ResizeSettings, session: Any) -> Callable[[], Sequence[bytes]]:
    """Where the active signing keys come from: the secret (cached), the local document, or nowhere."""
    secret_id = settings.signing_keys_secret
    if secret_id:
        provider = SecretsProvider(boto3_client=session.client("secretsmanager", config=_BOTO_CONFIG))

        def from_secret() -> Sequence[bytes]:
            document = provider.get(secret_id, max_age=SIGNING_KEYS_MAX_AGE_S)
            return parse_signing_keys(document if isinstance(document, str) else str(document))

        return from_secret
    keys = parse_signing_keys(settings.signing_keys) if settings.signing_keys else ()
    return lambda: keys


def with_trace_context(work: Callable[[], Any]) -> Callable[[], Any]:
    """Carry X-Ray's current entity into the render thread, so its S3 calls join the request's trace."""
    try:
        from aws_xray_sdk.core import (  # type: ignore[import-untyped,unused-ignore]  # noqa: PLC0415
            xray_recorder,  # in the layer (Lambda only)
        )

        entity = xray_recorder.get_trace_entity()
    except Exception:  # no SDK, or no segment outside Lambda
        return work

    def run() -> Any:
        xray_recorder.set_trace_entity(entity)
        try:
            return work()
        finally:
            xray_recorder.clear_trace_entities()

    return run


@dataclass
class ResizeApp:
    settings: ResizeSettings
    service: ResizeService

    @classmethod
    def from_settings(cls, settings: ResizeSettings, session: Any = None) -> ResizeApp:
        session = session or boto3.session.Session()
        s3 = session.client("s3", config=_BOTO_CONFIG)
        focal_points: FocalPoints | None = None
        if settings.images_table:
            repository = DynamoMetadataRepository(
                session.client("dynamodb", config=_BOTO_CONFIG), settings.images_table
            )
            focal_points = RecordedFocalPoints(repository)
        service = ResizeService(
            originals=S3ObjectStore(s3, settings.originals_bucket),
            renditions=S3ObjectStore(s3, settings.transformed_bucket),
            config=config_from(settings),
            signing_keys=signing_key_source(settings, session),
            focal_points=focal_points,
            worker_wrapper=with_trace_context,
        )
        return cls(settings=settings, service=service)

    def handle(self, event: Mapping[str, Any], context: LambdaContext | None) -> dict[str, Any]:
        deadline = None
        if context is not None:
            deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000
        http = (event.get("requestContext") or {}).get("http") or {}
        method = http.get("method", "GET")
        raw_path, raw_query = event.get("rawPath"), event.get("rawQueryString")
        shapes = (isinstance(method, str), isinstance(raw_path, str), isinstance(raw_query, str | None))
        if not all(shapes):
            metrics.add_metric(name="RequestsRefused", unit=MetricUnit.Count, value=1)
            response = problem_response(Problem(400, "bad-parameter", "not a Function URL request", "query"))
            return function_url_response(response)
        logger.append_keys(path=str(raw_path)[:300])
        try:
            result = self.service.handle(str(method), str(raw_path), raw_query or "", deadline=deadline)
        except Exception:
            # A store or secret failure, never the request's fault: not cached, and retried by the viewer.
            logger.exception("resize failed")
            metrics.add_metric(name="ResizeFailed", unit=MetricUnit.Count, value=1)
            problem = Problem(500, "internal-error", "the rendition could not be made; try again")
            return function_url_response(problem_response(problem))
        record_outcome(result.outcome)
        return function_url_response(result.response)


def config_from(settings: ResizeSettings) -> ResizeConfig:
    budget = settings.render_time_budget_ms
    return ResizeConfig(
        presets=settings.presets,
        policy=settings.signing_policy,
        limits=settings.limits,
        max_inline_bytes=settings.max_inline_bytes,
        render_time_budget_s=budget / 1000 if budget else None,
        deadline_margin_s=settings.deadline_margin_ms / 1000,
        source_prefixes=settings.source_prefixes,
    )


def function_url_response(response: HttpResponse) -> dict[str, Any]:
    """The Function URL response shape; the body is always base64 so images and JSON travel alike."""
    return {
        "statusCode": response.status,
        "headers": dict(response.headers),
        "body": base64.b64encode(response.body).decode("ascii"),
        "isBase64Encoded": True,
    }


def record_outcome(outcome: Outcome) -> None:
    logger.info(
        "resize outcome",
        extra={
            "action": outcome.action,
            "status": outcome.status,
            "code": outcome.code,
            "source": outcome.source,
            "object_key": outcome.object_key,
            "bytes_out": outcome.bytes_out,
            "timings_ms": {name: round(ms, 1) for name, ms in outcome.timings_ms.items()},
        },
    )
    if outcome.action in ("rendered", "redirected"):
        metrics.add_metric(name="Renders", unit=MetricUnit.Count, value=1)
        metrics.add_metric(
            name="RendersFromMezzanine" if outcome.source == "mezzanine" else "RendersFromOriginal",
            unit=MetricUnit.Count,
            value=1,
        )
        metrics.add_metric(name="RenderBytes", unit=MetricUnit.Bytes, value=outcome.bytes_out)
        total = sum(outcome.timings_ms.values())
        metrics.add_metric(name="RenderDuration", unit=MetricUnit.Milliseconds, value=total)
    if outcome.action == "redirected":
        metrics.add_metric(name="OversizeRedirects", unit=MetricUnit.Count, value=1)
    if outcome.action == "timed-out":
        metrics.add_metric(name="RenderTimeouts", unit=MetricUnit.Count, value=1)
    if outcome.action == "refused":
        name = "RequestsRefused" if outcome.status < 500 else "RequestsFailed"
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


@cache
def app() -> ResizeApp:
    """Built once per execution environment (cold start); settings are validated here."""
    return ResizeApp.from_settings(ResizeSettings.from_env(os.environ))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app().handle(event, context)
