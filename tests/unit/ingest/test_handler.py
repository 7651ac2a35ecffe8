"""The Lambda handler: partial batch failures, the S3 test event, URL-decoded keys and the two lanes."""

from __future__ import annotations

import io
import json
import logging

import pytest

from imgpipe.observability import logger
from infra.constants import STATUS_READY, STATUS_REJECTED
from ingest import handler as module
from tests.events import (
    FakeLambdaContext,
    s3_body,
    s3_record,
    s3_test_event_body,
    sqs_event,
    sqs_record,
)
from tests.unit.ingest.conftest import Harness, jpeg, throttle


def test_partial_failure_reports_exactly_the_failed_messages(harness: Harness) -> None:
    # Given three messages: a good upload, a body that is not JSON, and one whose read is throttled
    good = sqs_record(s3_body(harness.put("uploads/acme/good.jpg", jpeg())))
    garbage = sqs_record("{not json")
    throttled = sqs_record(s3_body(harness.put("uploads/acme/slow.jpg", jpeg())))
    harness.originals.fail_on["get"] = lambda key: throttle() if key.endswith("slow.jpg") else None
    # When the handler processes the batch
    response = harness.app().handle(sqs_event([good, garbage, throttled]), FakeLambdaContext())  # type: ignore[arg-type]
    # Then the response names the two failures by message id, in order, and the good one is done
    assert response == {
        "batchItemFailures": [
            {"itemIdentifier": garbage["messageId"]},
            {"itemIdentifier": throttled["messageId"]},
        ]
    }
    assert harness.record_of("uploads/acme/good.jpg").status == STATUS_READY
    assert harness.record_of("uploads/acme/slow.jpg").status == "PROCESSING"


def test_a_batch_where_everything_fails_keeps_the_same_response_shape(harness: Harness) -> None:
    # Given two messages that both fail
    first, second = sqs_record("[]"), sqs_record("{")
    # When the handler processes them
    response = harness.app().handle(sqs_event([first, second]), None)
    # Then it reports both instead of raising (the same shape SQS retries by)
    assert response == {
        "batchItemFailures": [{"itemIdentifier": first["messageId"]}, {"itemIdentifier": second["messageId"]}]
    }


def test_an_empty_event_succeeds(harness: Harness) -> None:
    assert harness.app().handle({"Records": []}, None) == {"batchItemFailures": []}


def test_the_s3_test_event_is_ignored(harness: Harness) -> None:
    # Given the s3:TestEvent S3 sends when notifications are configured
    message = sqs_record(s3_test_event_body())
    # When the handler gets it
    response = harness.app().handle(sqs_event([message]), None)
    # Then it succeeds and touches nothing
    assert response == {"batchItemFailures": []}
    assert harness.originals.calls == [] and harness.repository.calls == []
    assert harness.publisher.published == []


@pytest.mark.parametrize(
    "key",
    [
        "uploads/acme/my photo+1é.jpg",
        "uploads/acme/100% real (final).jpg",
        "uploads/acme/日本/写真 2.jpg",
        "uploads/acme/a+b=c&d.jpg",
    ],
)
def test_keys_arrive_url_encoded_and_are_decoded(harness: Harness, key: str) -> None:
    # Given an upload whose key has spaces, '+', '%', unicode; S3 sends it quote_plus-encoded
    record = harness.put(key, jpeg())
    assert record["s3"]["object"]["key"] != key
    # When the handler processes it
    response = harness.app().handle(sqs_event([sqs_record(s3_body(record))]), None)
    # Then the record and the renditions use the decoded key
    assert response == {"batchItemFailures": []}
    assert harness.record_of(key).source_key == key
    assert len(harness.rendition_keys(key)) == 6


def test_only_uploads_are_processed(harness: Harness) -> None:
    # Given an object created outside uploads/ (for example in quarantine/)
    harness.originals.add("quarantine/acme/x.jpg", jpeg())
    record = s3_record("quarantine/acme/x.jpg")
    # When the handler gets its event
    response = harness.app().handle(sqs_event([sqs_record(s3_body(record))]), None)
    # Then it is ignored: nothing read, nothing recorded
    assert response == {"batchItemFailures": []}
    assert harness.originals.calls == [] and harness.repository.images == {}


def test_a_batch_member_under_batches_is_processed_by_the_bulk_lane_with_its_batch(harness: Harness) -> None:
    # Given a batch member under the batches/ prefix (S3 notifies the bulk queue of it directly)
    key = "batches/acme/b-42/p1.jpg"
    message = sqs_record(s3_body(harness.put(key, jpeg())), queue="imgpipe-ingest-bulk")
    # When the bulk lane handles it
    response = harness.app("bulk").handle(sqs_event([message]), None)
    # Then it is processed and recorded with its tenant and batch id
    assert response == {"batchItemFailures": []}
    record = harness.record_of(key)
    assert (record.status, record.batch_id, record.tenant) == (STATUS_READY, "b-42", "acme")


def test_the_older_batch_form_is_still_a_batch_member_processed_where_it_arrives(harness: Harness) -> None:
    # Given an upload in the older batch form, which S3 still notifies to the interactive queue
    key = "uploads/acme/batches/b-42/p1.jpg"
    single = sqs_record(s3_body(harness.put("uploads/acme/single.jpg", jpeg())))
    message = sqs_record(s3_body(harness.put(key, jpeg())))
    # When the interactive lane handles both
    response = harness.app("interactive").handle(sqs_event([message, single]), None)
    # Then both are processed there (nothing is handed to another queue); the old key keeps its batch
    assert response == {"batchItemFailures": []}
    record = harness.record_of(key)
    assert (record.status, record.batch_id, record.tenant) == (STATUS_READY, "b-42", "acme")
    assert harness.record_of("uploads/acme/single.jpg").status == STATUS_READY


def test_a_rejected_batch_member_is_quarantined_under_its_tenant(harness: Harness) -> None:
    # Given a batch member that is not an image
    key = "batches/acme/b-42/notes.jpg"
    message = sqs_record(s3_body(harness.put(key, b"not an image at all")), queue="imgpipe-ingest-bulk")
    # When the bulk lane handles it
    harness.app("bulk").handle(sqs_event([message]), None)
    # Then it moved to quarantine/ under its tenant and batch, and the original left batches/
    record = harness.record_of(key)
    assert record.status == STATUS_REJECTED
    assert record.quarantine_key == "quarantine/acme/batches/b-42/notes.jpg"
    assert key not in harness.originals.objects
    assert "quarantine/acme/batches/b-42/notes.jpg" in harness.originals.objects


def test_the_lambda_entry_point_wires_powertools(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the module-level handler with its app replaced by one wired to fakes
    monkeypatch.setattr(module, "app", harness.app)
    message = sqs_record(s3_body(harness.put("uploads/acme/entry.jpg", jpeg())))
    # When Lambda calls it
    response = module.handler(sqs_event([message]), FakeLambdaContext())  # type: ignore[arg-type]
    # Then it answers in the partial-failure shape
    assert json.loads(json.dumps(response)) == {"batchItemFailures": []}
    assert harness.record_of("uploads/acme/entry.jpg").status == STATUS_READY


def _emf(output: str) -> dict[str, list[float]]:
    """Metric name -> values from the EMF blobs Powertools printed."""
    values: dict[str, list[float]] = {}
    for line in output.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == "imgpipe"
            assert ["service"] in directive["Dimensions"]
            for metric in directive["Metrics"]:
                value = blob[metric["Name"]]
                values.setdefault(metric["Name"], []).extend(value if isinstance(value, list) else [value])
    return values


def test_the_entry_point_publishes_emf_metrics(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given one good upload, one bad file and one message that cannot be parsed
    monkeypatch.setattr(module, "app", harness.app)
    good_data = jpeg()
    good = sqs_record(s3_body(harness.put("uploads/acme/good.jpg", good_data)))
    bad = sqs_record(s3_body(harness.put("uploads/acme/bad.jpg", b"no pixels here" * 20)))
    broken = sqs_record("{")
    # When Lambda calls the handler
    module.handler(sqs_event([good, bad, broken]), FakeLambdaContext())  # type: ignore[arg-type]
    # Then the EMF blob carries the ingest metrics under the names the dashboard reads
    metrics = _emf(capsys.readouterr().out)
    assert metrics["processed"] == [1] and metrics["rejected"] == [1] and metrics["failed"] == [1]
    assert len(metrics["duration"]) == 2 and all(value > 0 for value in metrics["duration"])
    assert sorted(metrics["bytes_in"]) == sorted([len(good_data), 280])
    record = harness.record_of("uploads/acme/good.jpg")
    assert metrics["bytes_out"] == [sum(r.bytes for r in record.renditions)]
    assert metrics["renditions"] == [6]


def test_logs_carry_the_s3_request_id_as_correlation_id(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an upload whose S3 event names its request id
    monkeypatch.setattr(module, "app", harness.app)
    event = harness.put("uploads/acme/logged.jpg", jpeg())
    request_id = event["responseElements"]["x-amz-request-id"]
    message = sqs_record(s3_body(event))
    stream = io.StringIO()
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(stream)
    try:
        # When Lambda calls the handler
        module.handler(sqs_event([message]), FakeLambdaContext())  # type: ignore[arg-type]
    finally:
        handler.setStream(previous)
    # Then the outcome log line is JSON with the correlation id, the message id, the key and the action
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    outcome = next(line for line in lines if line["message"] == "ingest outcome")
    assert outcome["correlation_id"] == request_id
    assert outcome["message_id"] == message["messageId"]
    assert outcome["s3_key"] == "uploads/acme/logged.jpg"
    assert (outcome["action"], outcome["lane"]) == ("processed", "interactive")
    assert outcome["function_request_id"] == FakeLambdaContext.aws_request_id


def test_a_message_with_several_records_processes_each(harness: Harness) -> None:
    # Given one SQS message whose body carries two S3 records (S3 sends one, but the format allows more)
    first = harness.put("uploads/acme/one.jpg", jpeg(seed=1))
    second = harness.put("uploads/acme/two.jpg", jpeg(seed=2))
    message = sqs_record(s3_body(first, second))
    # When the handler gets it
    response = harness.app().handle(sqs_event([message]), None)
    # Then both are processed
    assert response == {"batchItemFailures": []}
    assert harness.record_of("uploads/acme/one.jpg").status == STATUS_READY
    assert harness.record_of("uploads/acme/two.jpg").status == STATUS_READY


def test_a_body_that_is_json_but_not_an_s3_notification_fails(harness: Harness) -> None:
    # Given a message whose body is JSON without S3 records in the right shape
    message = sqs_record(json.dumps({"Records": [{"eventName": "ObjectCreated:Put"}]}))
    # When the handler gets it, Then the message fails (and will end in the DLQ), nothing is touched
    assert harness.app().handle(sqs_event([message]), None) == {
        "batchItemFailures": [{"itemIdentifier": message["messageId"]}]
    }
    assert harness.repository.calls == []
