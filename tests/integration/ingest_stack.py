"""Ingest under moto: the resources the stack deploys, wired as it wires them, drained like Lambda does.

Fixtures for tests/integration/test_ingest_*.py (imported there; this folder has no conftest.py).

- Two buckets; the originals bucket notifies the interactive queue of ObjectCreated and ObjectRemoved
  under `uploads/` (one notification, as infra/pipeline.py configures it). moto's `mock_aws` delivers S3
  notifications to SQS in-process (the `s3:TestEvent` first), URL-encoded as S3 encodes them, but
  without `sequencer` (tests of ordering send events built by tests/events.py instead).
- Interactive and bulk queues, each with a dead-letter queue and a redrive policy (maxReceiveCount).
- The images table as infra/metadata.py builds it (pk/sk, `ttl`, gsi1-gsi4 projecting everything).
- The EventBridge bus with a rule (`source: imgpipe`) whose target is an SQS queue the tests read.
- `IngestStack.drain()` does what Lambda's SQS event source mapping does: receive up to `batch_size`
  messages, call the deployed entry point `ingest.handler.handler` of that lane (built from the same
  environment keys the stack sets), delete the messages not named in `batchItemFailures`, and make the
  failed ones visible again at once (the visibility timeout, shortened) so retries and the DLQ happen.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from moto import mock_aws

from imgpipe.adapters.dynamodb import DynamoMetadataRepository, from_item
from imgpipe.dev.aws import create_images_table
from imgpipe.records import DETAIL_MODELS, EventDetail, ImageRecord
from infra.config import LanesConfig
from infra.constants import (
    ENV_EAGER_FORMATS,
    ENV_EVENT_BUS,
    ENV_IMAGES_TABLE,
    ENV_LANE,
    ENV_MALWARE_SCAN,
    ENV_ORIGINALS_BUCKET,
    ENV_PRESETS,
    ENV_TRANSFORMED_BUCKET,
    EVENT_SOURCE,
    LANE_BULK,
    LANE_INTERACTIVE,
)
from ingest import handler as ingest_handler
from ingest.handler import IngestApp
from ingest.settings import IngestSettings
from tests.events import FakeLambdaContext

REGION = "us-east-1"
ACCOUNT = "123456789012"
ORIGINALS = "ingest-originals"
TRANSFORMED = "ingest-transformed"
TABLE = "ingest-images"
BUS = "ingest-bus"
MAX_RECEIVE_COUNT = 3
BATCH_SIZES = {LANE_INTERACTIVE: 1, LANE_BULK: 5}  # the stack's defaults (docs/deploy.md)


@dataclass
class Lane:
    name: str
    queue_url: str
    dlq_url: str
    queue_arn: str


@dataclass
class IngestStack:
    session: Any
    s3: Any
    sqs: Any
    dynamodb: Any
    lanes: dict[str, Lane]
    events_queue_url: str
    environment: dict[str, str]
    repository: DynamoMetadataRepository
    calls: list[str] = field(default_factory=list)  # "service.Operation" of every AWS call, in order
    received: list[dict[str, Any]] = field(default_factory=list)  # every SQS record handed to a function
    responses: list[dict[str, Any]] = field(default_factory=list)
    captured: list[dict[str, Any]] = field(default_factory=list)  # EventBridge events read so far
    waiting: list[tuple[str, str]] = field(default_factory=list)  # failed messages still invisible
    _apps: dict[str, IngestApp] = field(default_factory=dict)
    _local: threading.local = field(default_factory=threading.local)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # The functions

    def app(self, lane: str) -> IngestApp:
        if lane not in self._apps:
            environment = {**self.environment, ENV_LANE: lane}
            self._apps[lane] = IngestApp.from_settings(IngestSettings.from_env(environment), self.session)
        return self._apps[lane]

    def reconfigure(self, **environment: str) -> None:
        """Change the functions' environment (a new deployment): the next invocation starts cold."""
        self.environment.update(environment)
        self._apps.clear()

    def invoke(self, lane: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        """The deployed entry point `ingest.handler.handler` of `lane`, on one Lambda SQS event.

        The fixture points the module's `app()` at this stack; which lane it answers is per thread, so
        worker threads can invoke both lanes at once."""
        app = self.app(lane)
        self._local.app = app
        response: dict[str, Any] = ingest_handler.handler({"Records": records}, FakeLambdaContext())  # type: ignore[arg-type]
        with self._lock:
            self.received.extend(records)
            self.responses.append(response)
        return response

    def current_app(self) -> IngestApp:
        app: IngestApp = self._local.app
        return app

    def poll(self, lane: str, *, retry_at_once: bool = True) -> int:
        """One event source mapping poll of `lane`: returns how many messages were handed over.

        A failed message is visible again at once, or (`retry_at_once=False`) only after
        `visibility_timeout_passes()`."""
        queue = self.lanes[lane]
        messages = self.sqs.receive_message(
            QueueUrl=queue.queue_url,
            MaxNumberOfMessages=BATCH_SIZES[lane],
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        records = [lambda_record(message, queue.queue_arn) for message in messages]
        response = self.invoke(lane, records)
        failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] in failed:
                if retry_at_once:
                    self.sqs.change_message_visibility(
                        QueueUrl=queue.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                    )
                else:
                    self.waiting.append((queue.queue_url, message["ReceiptHandle"]))
            else:
                self.sqs.delete_message(QueueUrl=queue.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)

    def visibility_timeout_passes(self) -> None:
        """The messages that failed with `retry_at_once=False` become visible again."""
        for url, handle in self.waiting:
            self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
        self.waiting.clear()

    def drain(self, max_polls: int = 200) -> None:
        """Poll both lanes until both queues are empty (failing messages end in their DLQ)."""
        for _ in range(max_polls):
            handed = self.poll(LANE_INTERACTIVE) + self.poll(LANE_BULK)
            if not handed:
                return
        raise AssertionError("the queues did not drain")

    # Sending and reading queues

    def send(self, lane: str, body: str) -> None:
        self.sqs.send_message(QueueUrl=self.lanes[lane].queue_url, MessageBody=body)

    def redeliver(self) -> None:
        """Every message the functions received so far, sent again (SQS at-least-once, a redrive)."""
        for record in list(self.received):
            lane = LANE_BULK if record["eventSourceARN"].endswith(":" + self.lanes[LANE_BULK].name) else None
            self.send(lane or LANE_INTERACTIVE, record["body"])

    def queue_depth(self, url: str) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    def peek(self, url: str) -> list[str]:
        """Bodies of the messages in a queue (left in it: visible again at once)."""
        bodies: list[str] = []
        handles: list[str] = []
        while True:
            messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                break
            bodies.extend(message["Body"] for message in messages)
            handles.extend(message["ReceiptHandle"] for message in messages)
        for handle in handles:
            self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
        return bodies

    def events(self) -> list[dict[str, Any]]:
        """Every EventBridge event the capture rule delivered so far (cumulative, in arrival order)."""
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.events_queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not messages:
                return list(self.captured)
            for message in messages:
                self.captured.append(json.loads(message["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.events_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )

    def details(self, detail_type: str) -> list[EventDetail]:
        """The captured events of one detail type, validated by their versioned pydantic models."""
        model = DETAIL_MODELS[detail_type]
        return [
            model.model_validate(event["detail"])
            for event in self.events()
            if event["detail-type"] == detail_type
        ]

    # Buckets and table

    def put_original(
        self, key: str, data: bytes, content_type: str = "image/jpeg", tags: dict[str, str] | None = None
    ) -> None:
        arguments: dict[str, Any] = {
            "Bucket": ORIGINALS,
            "Key": key,
            "Body": data,
            "ContentType": content_type,
        }
        if tags:
            arguments["Tagging"] = "&".join(f"{name}={value}" for name, value in tags.items())
        self.s3.put_object(**arguments)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        keys: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)

    def get(self, bucket: str, key: str) -> dict[str, Any]:
        response: dict[str, Any] = self.s3.get_object(Bucket=bucket, Key=key)
        response["Data"] = response.pop("Body").read()
        return response

    def record_of(self, source_key: str) -> ImageRecord:
        pointer = self.repository.get_source(source_key)
        assert pointer is not None and pointer.image_id is not None, f"no record for {source_key}"
        record = self.repository.get_image(pointer.image_id)
        assert record is not None
        return record

    def items(self) -> list[dict[str, Any]]:
        """Every item of the table, raw (index keys included)."""
        items: list[dict[str, Any]] = []
        for page in self.dynamodb.get_paginator("scan").paginate(TableName=TABLE):
            items.extend(page.get("Items", []))
        return items

    def item_values(self) -> list[dict[str, Any]]:
        return [from_item(item) for item in self.items()]

    def snapshot(self) -> dict[str, Any]:
        """Both buckets (key → ETag, metadata) and the whole table: to compare before and after."""
        objects: dict[str, Any] = {}
        for bucket in (ORIGINALS, TRANSFORMED):
            for key in self.keys(bucket):
                head = self.s3.head_object(Bucket=bucket, Key=key)
                objects[f"{bucket}/{key}"] = (head["ETag"], head.get("Metadata"), head["LastModified"])
        items = sorted(self.items(), key=lambda item: json.dumps(item, sort_keys=True))
        return {"objects": objects, "items": items}


def lambda_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """An SQS message as Lambda's event source mapping hands it to the function."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def _queue(sqs: Any, name: str, dlq_arn: str | None = None) -> tuple[str, str]:
    attributes = {"VisibilityTimeout": "360"}
    if dlq_arn is not None:
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}
        )
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def build(session: Any) -> IngestStack:
    calls: list[str] = []

    def record_call(event_name: str, **_: Any) -> None:
        calls.append(event_name.removeprefix("before-call."))

    # On the session, so every client made from it (the functions' too) reports its calls.
    session.events.register("before-call", record_call)
    s3, sqs, dynamodb, events = (session.client(name) for name in ("s3", "sqs", "dynamodb", "events"))
    for bucket in (ORIGINALS, TRANSFORMED):
        s3.create_bucket(Bucket=bucket)
    lanes: dict[str, Lane] = {}
    for lane in (LANE_INTERACTIVE, LANE_BULK):
        dlq_url, dlq_arn = _queue(sqs, f"ingest-{lane}-dlq")
        url, arn = _queue(sqs, f"ingest-{lane}", dlq_arn)
        lanes[lane] = Lane(name=f"ingest-{lane}", queue_url=url, dlq_url=dlq_url, queue_arn=arn)
    # The stack's notifications (LanesConfig, as infra/pipeline.py wires them): created uploads/ to the
    # interactive lane, created batches/ to the bulk lane, every removal to the interactive lane.
    routing = LanesConfig()
    configurations = [
        {
            "Id": f"{lane}-{kind}-{prefix.rstrip('/')}",
            "QueueArn": lanes[lane].queue_arn,
            "Events": [event],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
        }
        for lane, settings in ((LANE_INTERACTIVE, routing.interactive), (LANE_BULK, routing.bulk))
        for kind, event, prefixes in (
            ("created", "s3:ObjectCreated:*", settings.prefixes),
            ("removed", "s3:ObjectRemoved:*", settings.removed_prefixes),
        )
        for prefix in prefixes
    ]
    s3.put_bucket_notification_configuration(
        Bucket=ORIGINALS, NotificationConfiguration={"QueueConfigurations": configurations}
    )
    create_images_table(dynamodb, TABLE)
    events.create_event_bus(Name=BUS)
    capture_url, capture_arn = _queue(sqs, "ingest-events-capture")
    events.put_rule(Name="capture", EventBusName=BUS, EventPattern=json.dumps({"source": [EVENT_SOURCE]}))
    events.put_targets(Rule="capture", EventBusName=BUS, Targets=[{"Id": "capture", "Arn": capture_arn}])
    environment = {
        ENV_ORIGINALS_BUCKET: ORIGINALS,
        ENV_TRANSFORMED_BUCKET: TRANSFORMED,
        ENV_IMAGES_TABLE: TABLE,
        ENV_EVENT_BUS: BUS,
        ENV_EAGER_FORMATS: "auto",
        ENV_MALWARE_SCAN: "false",
    }
    return IngestStack(
        session=session,
        s3=s3,
        sqs=sqs,
        dynamodb=dynamodb,
        lanes=lanes,
        events_queue_url=capture_url,
        environment=environment,
        repository=DynamoMetadataRepository(dynamodb, TABLE),
        calls=calls,
    )


def small_presets(stack: IngestStack) -> None:
    """Two small presets: for the tests that are not about the default preset set."""
    stack.reconfigure(**{ENV_PRESETS: json.dumps({"thumb": "w=64&h=64&fit=cover", "small": "w=120"})})


@pytest.fixture
def ingest_stack() -> Iterator[IngestStack]:
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    try:
        with mock_aws():
            stack = build(boto3.session.Session(region_name=REGION))
            previous = ingest_handler.app
            ingest_handler.app = stack.current_app  # type: ignore[assignment]
            try:
                yield stack
            finally:
                ingest_handler.app = previous  # type: ignore[assignment]
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
