"""Ingest Lambda entry point (`ingest.handler.handler`): SQS batch in, partial batch failures out.

Thin on purpose: parse the S3-via-SQS messages, pass every record to the service, and turn outcomes into
logs and metrics. Both lanes run this same code; S3's prefix filters decide which queue a key reaches
(batch members under `batches/` go straight to the bulk queue), so nothing is handed between lanes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3  # type: ignore[import-untyped]
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.base import FailureResponse
from aws_lambda_powertools.utilities.batch.exceptions import ExceptionInfo
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config  # type: ignore[import-untyped]
from pydantic import Json, ValidationError

from imgpipe.adapters.api_dynamodb import DynamoQuotaGate
from imgpipe.adapters.bedrock import BedrockCaptioner
from imgpipe.adapters.dynamodb import DynamoMetadataRepository
from imgpipe.adapters.events import EventBridgePublisher
from imgpipe.adapters.rekognition import RekognitionTagger
from imgpipe.adapters.s3 import S3ObjectStore
from imgpipe.notifications import S3Notification
from imgpipe.observability import logger, metrics, tracer
from imgpipe.plans import quota_limits
from imgpipe.tagging import CircuitBreaker, OfflineTagger, ResilientTagger, Tagger
from infra.constants import METRIC_INGEST_FAILED, METRIC_INGEST_MESSAGES
from ingest.service import DeadlineNear, IngestConfig, IngestService, Outcome, ScanPending
from ingest.settings import IngestSettings

# Retries inside one invocation smooth over a throttle; anything longer is SQS's job (visibility timeout,
# then the DLQ), which keeps one slow dependency from holding a whole batch.
_BOTO_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30)


class IngestMessage(SqsRecordModel):
    """Powertools' SQS record with the S3 notification parsed out of its body."""

    body: Json[S3Notification]


class IngestProcessor(BatchProcessor):
    """Powertools' SQS batch processor, logging the messages whose body does not parse (which never reach
    the record handler, so nothing else would say why they fail until they are in the DLQ)."""

    def failure_handler(self, record: Any, exception: ExceptionInfo) -> FailureResponse:
        error = exception[1]
        if isinstance(error, ValidationError):
            message_id = getattr(record, "message_id", None) or getattr(record, "messageId", None)
            logger.error(
                "the message is not an S3 event notification; it fails until it is in the DLQ",
                extra={"message_id": message_id, "error": str(error)[:1000]},
            )
        return super().failure_handler(record, exception)


@dataclass
class IngestApp:
    settings: IngestSettings
    service: IngestService

    @classmethod
    def from_settings(cls, settings: IngestSettings, session: Any = None) -> IngestApp:
        session = session or boto3.session.Session()
        s3 = session.client("s3", config=_BOTO_CONFIG)
        dynamodb = session.client("dynamodb", config=_BOTO_CONFIG)
        service = IngestService(
            originals=S3ObjectStore(s3, settings.originals_bucket),
            renditions=S3ObjectStore(s3, settings.transformed_bucket),
            repository=DynamoMetadataRepository(dynamodb, settings.images_table),
            quota=DynamoQuotaGate(
                dynamodb, settings.images_table, limits=quota_limits(settings.plans, settings.default_plan)
            ),
            tagger=_tagger(settings, session),
            publisher=EventBridgePublisher(session.client("events", config=_BOTO_CONFIG), settings.event_bus),
            config=IngestConfig(
                presets=settings.presets,
                eager_formats=settings.eager_formats,
                malware_scan=settings.malware_scan,
                limits=settings.limits,
            ),
        )
        return cls(settings=settings, service=service)

    def handle(self, event: Mapping[str, Any], context: LambdaContext | None) -> dict[str, Any]:
        records: list[dict[str, Any]] = list(event.get("Records") or [])
        failures: list[str] = []
        metrics.add_metric(name=METRIC_MESSAGES, unit=MetricUnit.Count, value=len(records))
        if records:
            # Not raising when every record fails keeps one response shape; SQS retries the failed ids.
            processor = IngestProcessor(
                event_type=EventType.SQS, model=IngestMessage, raise_on_entire_batch_failure=False
            )
            response = process_partial_response(
                event={"Records": records},
                record_handler=self._record,
                processor=processor,
                context=context,
            )
            failures.extend(str(item["itemIdentifier"]) for item in response.get("batchItemFailures", []))
        if failures:
            metrics.add_metric(name=METRIC_FAILED, unit=MetricUnit.Count, value=len(failures))
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}

    @tracer.capture_method(capture_response=False)
    def _record(self, record: IngestMessage, lambda_context: LambdaContext | None = None) -> None:
        # Powertools passes the parsed record by the keyword `record`, and the invocation's context as
        # `lambda_context` because the signature names it; a body that does not parse never gets here
        # (the processor reports it as a failure, and after maxReceiveCount it is in the DLQ).
        deadline = None
        if lambda_context is not None:
            deadline = time.monotonic() + lambda_context.get_remaining_time_in_millis() / 1000
        notification = record.body
        logger.remove_keys(["s3_key", "event_name"])
        logger.append_keys(message_id=record.messageId, lane=self.settings.lane)
        logger.set_correlation_id(record.messageId)
        if notification.is_test_event:
            logger.info("s3:TestEvent ignored")
            return
        for event in notification.records:
            request_id = event.response_elements.request_id if event.response_elements else None
            logger.set_correlation_id(request_id or record.messageId)
            logger.append_keys(s3_key=event.key, event_name=event.event_name)
            tracer.put_annotation("lane", self.settings.lane)
            try:
                outcome = self.service.handle(event, deadline=deadline)
            except ScanPending as pending:
                logger.info(
                    "waiting for the malware scan result; the message will be retried",
                    extra={"reason": str(pending)},
                )
                raise
            except DeadlineNear as near:
                logger.warning(
                    "too little time left in this invocation; the message will be retried",
                    extra={"reason": str(near)},
                )
                raise
            except Exception:
                logger.exception("ingest failed; the message will be retried")
                raise
            _record_outcome(outcome)


def _tagger(settings: IngestSettings, session: Any) -> Tagger:
    """One breaker per execution environment: a remote outage costs each environment N slow calls, not
    every image its timeout."""
    if settings.tagger == "rekognition":
        remote: Tagger = RekognitionTagger(session.client("rekognition", config=_BOTO_CONFIG))
    elif settings.tagger == "bedrock":
        client = session.client("bedrock-runtime", config=_BOTO_CONFIG)
        remote = (
            BedrockCaptioner(client, settings.bedrock_model_id)
            if settings.bedrock_model_id
            else BedrockCaptioner(client)
        )
    else:
        return OfflineTagger()
    return ResilientTagger(remote, CircuitBreaker())


# EMF metric names (namespace `imgpipe`, dimension `service=imgpipe`); the stack's dashboard reads
# `processed`, `rejected` and `failed`.
METRIC_MESSAGES = METRIC_INGEST_MESSAGES  # SQS messages received (per invocation); the alarm reads it
METRIC_PROCESSED = "processed"  # images that became READY (rendered or linked to a duplicate)
METRIC_DUPLICATES = "duplicates"  # of those, linked to an earlier upload with the same checksum
METRIC_REJECTED = "rejected"  # quarantined uploads
METRIC_DELETED = "deleted"  # records marked DELETED (deleted, replaced, gone before processing)
METRIC_SKIPPED = "skipped"  # duplicate, redelivered or out-of-order events that changed nothing
METRIC_FAILED = METRIC_INGEST_FAILED  # messages reported back to SQS for a retry; the alarm reads it
METRIC_DURATION = "duration"  # ms per processed or rejected image
METRIC_BYTES_IN = "bytes_in"  # source bytes read
METRIC_BYTES_OUT = "bytes_out"  # rendition bytes written
METRIC_RENDITIONS = "renditions"  # renditions written (or copied) per image

_COUNTED: dict[str, str] = {
    "processed": METRIC_PROCESSED,
    "duplicate": METRIC_PROCESSED,
    "rejected": METRIC_REJECTED,
    "deleted": METRIC_DELETED,
    "gone": METRIC_DELETED,
    "stale": METRIC_SKIPPED,
    "skipped": METRIC_SKIPPED,
    "superseded": METRIC_SKIPPED,
}


def _record_outcome(outcome: Outcome) -> None:
    logger.info(
        "ingest outcome",
        extra={
            "action": outcome.action,
            "image_id": outcome.image_id,
            "reason": outcome.reason,
            "duration_ms": round(outcome.duration_ms, 1),
            "bytes_in": outcome.bytes_in,
            "bytes_out": outcome.bytes_out,
            "renditions": outcome.renditions,
        },
    )
    if outcome.image_id:
        tracer.put_annotation("image_id", outcome.image_id)
    tracer.put_annotation("action", outcome.action)
    name = _COUNTED.get(outcome.action)
    if name is not None:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    if outcome.action == "duplicate":
        metrics.add_metric(name=METRIC_DUPLICATES, unit=MetricUnit.Count, value=1)
    if outcome.action in ("processed", "duplicate", "rejected"):
        metrics.add_metric(name=METRIC_DURATION, unit=MetricUnit.Milliseconds, value=outcome.duration_ms)
        metrics.add_metric(name=METRIC_BYTES_IN, unit=MetricUnit.Bytes, value=outcome.bytes_in)
    if outcome.action in ("processed", "duplicate"):
        metrics.add_metric(name=METRIC_BYTES_OUT, unit=MetricUnit.Bytes, value=outcome.bytes_out)
        metrics.add_metric(name=METRIC_RENDITIONS, unit=MetricUnit.Count, value=outcome.renditions)


@cache
def app() -> IngestApp:
    """Built once per execution environment (cold start); settings are validated here."""
    return IngestApp.from_settings(IngestSettings.from_env(os.environ))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app().handle(event, context)
