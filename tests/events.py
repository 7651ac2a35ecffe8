"""Builders for the events ingest receives, shaped exactly as AWS sends them.

S3 notification records carry every field AWS documents (with `sequencer`, which moto leaves out), keys
URL-encoded the way S3 encodes them (`quote_plus`: a space becomes `+`, a `+` becomes `%2B`); SQS records
are what Lambda's event source mapping hands the function.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus

_SEQUENCE = itertools.count(1)
_BASE_TIME = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def next_sequencer() -> str:
    """Increasing S3-style sequencers (hex, 18 digits as S3 sends them today)."""
    return f"{0x0055AED6DCD9000000 + next(_SEQUENCE):018X}"


def s3_record(
    key: str,
    *,
    event_name: str = "ObjectCreated:Put",
    bucket: str = "imgpipe-originals",
    size: int | None = 1024,
    etag: str | None = None,
    sequencer: str | None = None,
    event_time: datetime | None = None,
    version_id: str | None = None,
    with_sequencer: bool = True,
) -> dict[str, Any]:
    """One S3 event notification record (eventVersion 2.1) for `key` (given decoded; encoded here)."""
    removed = event_name.startswith("ObjectRemoved")
    moment = event_time or _BASE_TIME + timedelta(milliseconds=next(_SEQUENCE))
    obj: dict[str, Any] = {"key": quote_plus(key, safe="/")}
    if not removed:
        obj["size"] = size
        obj["eTag"] = etag or hashlib.md5(key.encode()).hexdigest()
    if version_id is not None:
        obj["versionId"] = version_id
    if with_sequencer:
        obj["sequencer"] = sequencer or next_sequencer()
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
        "eventName": event_name,
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "203.0.113.7"},
        "responseElements": {
            "x-amz-request-id": uuid.uuid4().hex[:16].upper(),
            "x-amz-id-2": "EXAMPLE/host/id",
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "imgpipe-uploads",
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "A3EXAMPLE"},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": obj,
        },
    }


def s3_body(*records: dict[str, Any]) -> str:
    return json.dumps({"Records": list(records)})


def s3_test_event_body(bucket: str = "imgpipe-originals") -> str:
    """What S3 sends once when a notification configuration is saved."""
    return json.dumps(
        {
            "Service": "Amazon S3",
            "Event": "s3:TestEvent",
            "Time": "2026-12-01T09:00:00.000Z",
            "Bucket": bucket,
            "RequestId": "5582815E1AEA5ADF",
            "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
        }
    )


def sqs_record(
    body: str, *, message_id: str | None = None, receive_count: int = 1, queue: str = "imgpipe-ingest"
) -> dict[str, Any]:
    """One record of a Lambda SQS event."""
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "AQEB" + uuid.uuid4().hex,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1764579600000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1764579600001",
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{queue}",
        "awsRegion": "us-east-1",
    }


def sqs_event(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"Records": list(records)}


def upload_message(key: str, **options: Any) -> dict[str, Any]:
    """An SQS record carrying one ObjectCreated:Put for `key`."""
    return sqs_record(s3_body(s3_record(key, **options)))


def delete_message(key: str, **options: Any) -> dict[str, Any]:
    return sqs_record(s3_body(s3_record(key, event_name="ObjectRemoved:Delete", **options)))


class FakeLambdaContext:
    """What Powertools reads from the Lambda context."""

    function_name = "imgpipe-ingest"
    function_version = "$LATEST"
    memory_limit_in_mb = 2048
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:imgpipe-ingest"
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/imgpipe-ingest"
    log_stream_name = "2026/12/01/[$LATEST]0000"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000
