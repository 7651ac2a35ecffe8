"""Pipeline contracts: notifications, lanes, dead-letter queues, event source mappings, ingest function."""

from __future__ import annotations

from typing import Any

import pytest

from infra import constants
from infra.bundle import FUNCTIONS_DIR
from infra.config import cdk_json_context, load_stage_config
from infra.constants import (
    BATCHES_PREFIX,
    BULK_DLQ,
    BULK_QUEUE,
    ENV_EAGER_FORMATS,
    ENV_EVENT_BUS,
    ENV_IMAGES_TABLE,
    ENV_LANE,
    ENV_MALWARE_SCAN,
    ENV_ORIGINALS_BUCKET,
    ENV_PRESETS,
    ENV_TAGGER,
    ENV_TRANSFORMED_BUCKET,
    INTERACTIVE_DLQ,
    INTERACTIVE_QUEUE,
    LANE_BULK,
    LANE_INTERACTIVE,
    UPLOADS_PREFIX,
)
from ingest.settings import IngestSettings
from tests.infra.cfn import as_list, by_path, only, props, ref_id, resources, role_statements, statements

Template = dict[str, Any]
DEV = load_stage_config(cdk_json_context())
INGEST_SETTINGS = FUNCTIONS_DIR / "ingest" / "settings.py"


def _queue(template: Template, name: str) -> tuple[str, dict[str, Any]]:
    found = [
        (k, v) for k, v in resources(template, "AWS::SQS::Queue").items() if props(v)["QueueName"] == name
    ]
    assert len(found) == 1, name
    return found[0]


LANES = {INTERACTIVE_QUEUE: "Interactive", BULK_QUEUE: "Bulk"}


def _ingest(template: Template, lane: str) -> tuple[str, dict[str, Any]]:
    """The ingest function of `lane` ("Interactive" or "Bulk")."""
    return by_path(template, "AWS::Lambda::Function", f"/Pipeline/{lane}/Ingest/")


def _mapping_for(template: Template, queue_id: str) -> dict[str, Any]:
    found = [
        props(m)
        for m in resources(template, "AWS::Lambda::EventSourceMapping").values()
        if ref_id(props(m)["EventSourceArn"]) == queue_id
    ]
    assert len(found) == 1
    return found[0]


@pytest.mark.parametrize(
    ("queue", "dlq", "lane"),
    [(INTERACTIVE_QUEUE, INTERACTIVE_DLQ, DEV.lanes.interactive), (BULK_QUEUE, BULK_DLQ, DEV.lanes.bulk)],
)
def test_each_lane_has_a_dead_letter_queue_with_the_configured_receive_count(
    dev: Template, queue: str, dlq: str, lane: Any
) -> None:
    _, source = _queue(dev, f"{queue}-dev")
    dlq_id, _ = _queue(dev, f"{dlq}-dev")
    redrive = props(source)["RedrivePolicy"]
    assert ref_id(redrive["deadLetterTargetArn"]) == dlq_id
    assert redrive["maxReceiveCount"] == DEV.lanes.max_receive_count == 5


@pytest.mark.parametrize(("queue", "lane"), [(INTERACTIVE_QUEUE, "interactive"), (BULK_QUEUE, "bulk")])
def test_each_lane_maps_to_ingest_with_partial_failures_and_its_own_concurrency(
    dev: Template, queue: str, lane: str
) -> None:
    settings = getattr(DEV.lanes, lane)
    queue_id, _ = _queue(dev, f"{queue}-dev")
    mapping = _mapping_for(dev, queue_id)
    assert ref_id(mapping["FunctionName"]) == _ingest(dev, lane.title())[0]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": settings.max_concurrency}
    assert mapping["BatchSize"] == settings.batch_size
    assert mapping.get("MaximumBatchingWindowInSeconds", 0) == settings.batching_window_seconds


def test_interactive_lane_has_more_workers_than_bulk_so_batches_cannot_starve_it(dev: Template) -> None:
    interactive = _mapping_for(dev, _queue(dev, f"{INTERACTIVE_QUEUE}-dev")[0])
    bulk = _mapping_for(dev, _queue(dev, f"{BULK_QUEUE}-dev")[0])
    assert interactive["ScalingConfig"]["MaximumConcurrency"] > bulk["ScalingConfig"]["MaximumConcurrency"]
    assert interactive["BatchSize"] == 1 and "MaximumBatchingWindowInSeconds" not in interactive


@pytest.mark.parametrize("queue", [INTERACTIVE_QUEUE, BULK_QUEUE])
def test_visibility_timeout_is_at_least_six_times_the_function_timeout(dev: Template, queue: str) -> None:
    timeout = props(_ingest(dev, LANES[queue])[1])["Timeout"]
    assert props(_queue(dev, f"{queue}-dev")[1])["VisibilityTimeout"] >= 6 * timeout


def test_each_lane_has_its_own_ingest_function_told_apart_by_its_lane(dev: Template) -> None:
    interactive = props(_ingest(dev, "Interactive")[1])
    bulk = props(_ingest(dev, "Bulk")[1])
    assert interactive["Handler"] == bulk["Handler"] == "ingest.handler.handler"
    assert interactive["Environment"]["Variables"][ENV_LANE] == LANE_INTERACTIVE
    assert bulk["Environment"]["Variables"][ENV_LANE] == LANE_BULK
    # S3 routes the keys: neither lane names the other's queue
    assert not any("QUEUE" in name for name in interactive["Environment"]["Variables"])
    assert not any("QUEUE" in name for name in bulk["Environment"]["Variables"])


def test_no_function_sends_to_a_lane_queue(dev: Template) -> None:
    # Batch members reach the bulk queue from S3 itself: no role may send a message to any queue
    for policy in resources(dev, "AWS::IAM::Policy").values():
        for statement in props(policy)["PolicyDocument"]["Statement"]:
            assert not any(action.startswith("sqs:SendMessage") for action in as_list(statement["Action"]))


@pytest.mark.parametrize("name", [INTERACTIVE_QUEUE, BULK_QUEUE, INTERACTIVE_DLQ, BULK_DLQ])
def test_queues_are_encrypted_and_tls_only(dev: Template, name: str) -> None:
    queue_id, queue = _queue(dev, f"{name}-dev")
    assert props(queue)["SqsManagedSseEnabled"] is True
    policies = [
        props(p)["PolicyDocument"]["Statement"]
        for p in resources(dev, "AWS::SQS::QueuePolicy").values()
        if queue_id in {ref_id(q) for q in props(p)["Queues"]}
    ]
    denies = [s for statements in policies for s in statements if s["Effect"] == "Deny"]
    assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)


def test_dead_letter_queues_keep_messages_longer_than_their_sources(dev: Template) -> None:
    for queue, dlq in ((INTERACTIVE_QUEUE, INTERACTIVE_DLQ), (BULK_QUEUE, BULK_DLQ)):
        source = props(_queue(dev, f"{queue}-dev")[1])["MessageRetentionPeriod"]
        assert props(_queue(dev, f"{dlq}-dev")[1])["MessageRetentionPeriod"] > source


def test_s3_routes_batches_to_the_bulk_lane_and_every_removal_to_the_interactive_lane(dev: Template) -> None:
    # Given the originals bucket's notification configuration
    _, notifications = only(dev, "Custom::S3BucketNotifications")
    originals_id, _ = by_path(dev, "AWS::S3::Bucket", "/Storage/Originals/")
    assert ref_id(props(notifications)["BucketName"]) == originals_id
    configuration = props(notifications)["NotificationConfiguration"]
    assert set(configuration) == {"QueueConfigurations"}
    queues = {
        _queue(dev, f"{INTERACTIVE_QUEUE}-dev")[0]: "interactive",
        _queue(dev, f"{BULK_QUEUE}-dev")[0]: "bulk",
    }
    routes = set()
    for queue_configuration in configuration["QueueConfigurations"]:
        rules = queue_configuration["Filter"]["Key"]["FilterRules"]
        assert len(rules) == 1 and rules[0]["Name"] == "prefix"
        for event in queue_configuration["Events"]:
            routes.add((event, rules[0]["Value"], queues[ref_id(queue_configuration["QueueArn"])]))
    # Then created batch members go straight to the bulk queue and never to the interactive one, uploads
    # to the interactive queue, and every removal (batch members' too) to the interactive queue
    assert routes == {
        ("s3:ObjectCreated:*", UPLOADS_PREFIX, "interactive"),
        ("s3:ObjectCreated:*", BATCHES_PREFIX, "bulk"),
        ("s3:ObjectRemoved:*", UPLOADS_PREFIX, "interactive"),
        ("s3:ObjectRemoved:*", BATCHES_PREFIX, "interactive"),
    }
    # And no two filters of one event type overlap (S3 refuses that configuration)
    for event in ("s3:ObjectCreated:*", "s3:ObjectRemoved:*"):
        prefixes = [prefix for kind, prefix, _ in routes if kind == event]
        assert not any(a != b and b.startswith(a) for a in prefixes for b in prefixes)


def test_s3_may_send_to_the_lane_only_from_the_originals_bucket(dev: Template) -> None:
    interactive_id, _ = _queue(dev, f"{INTERACTIVE_QUEUE}-dev")
    grants = [
        s
        for p in resources(dev, "AWS::SQS::QueuePolicy").values()
        if interactive_id in {ref_id(q) for q in props(p)["Queues"]}
        for s in props(p)["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow" and s.get("Principal") == {"Service": "s3.amazonaws.com"}
    ]
    assert grants and all("aws:SourceArn" in str(s["Condition"]) for s in grants)


@pytest.mark.parametrize("lane", ["Interactive", "Bulk"])
def test_ingest_environment_is_what_the_ingest_settings_read(dev: Template, lane: str) -> None:
    # Given the environment the stack gives an ingest function
    variables = props(_ingest(dev, lane)[1])["Environment"]["Variables"]
    imgpipe = {k: v for k, v in variables.items() if k.startswith("IMGPIPE_")}
    # Then every key is one functions/ingest/settings.py reads, and nothing it needs is missing
    source = INGEST_SETTINGS.read_text(encoding="utf-8")
    read = {name for name in dir(constants) if name.startswith("ENV_") and name in source}
    read_keys = {getattr(constants, name) for name in read}
    assert set(imgpipe) <= read_keys, set(imgpipe) - read_keys
    required = {ENV_ORIGINALS_BUCKET, ENV_TRANSFORMED_BUCKET, ENV_IMAGES_TABLE, ENV_EVENT_BUS, ENV_LANE}
    assert required <= set(imgpipe)
    assert variables[ENV_PRESETS] == DEV.presets_json
    assert variables[ENV_EAGER_FORMATS] == DEV.eager_formats
    assert variables[ENV_MALWARE_SCAN] == "false"
    assert variables["POWERTOOLS_SERVICE_NAME"] == "imgpipe"


@pytest.mark.parametrize("lane", ["Interactive", "Bulk"])
def test_ingest_settings_accept_the_environment_the_stack_sets(dev: Template, lane: str) -> None:
    # Given the synthesised environment with CloudFormation references replaced by plausible values
    variables = props(_ingest(dev, lane)[1])["Environment"]["Variables"]
    environ = {k: v if isinstance(v, str) else "resolved-at-deploy" for k, v in variables.items()}
    # When the ingest function's own settings read it, Then they accept it and see the right lane
    settings = IngestSettings.from_env(environ)
    assert settings.lane == lane.lower()
    assert settings.presets == DEV.presets


def _actions(template: Template) -> set[str]:
    return {action for _, statement in statements(template) for action in as_list(statement["Action"])}


def test_a_remote_tagger_is_granted_its_one_call_only_where_the_stage_chose_it(
    dev: Template, full: Template
) -> None:
    # The dev stage tags offline: no vision service at all; the full stage uses Rekognition
    assert not {action for action in _actions(dev) if action.startswith(("rekognition:", "bedrock:"))}
    assert {action for action in _actions(full) if action.startswith(("rekognition:", "bedrock:"))} == {
        "rekognition:DetectLabels"
    }
    for lane in ("Interactive", "Bulk"):
        assert props(_ingest(dev, lane)[1])["Environment"]["Variables"][ENV_TAGGER] == "offline"
        assert props(_ingest(full, lane)[1])["Environment"]["Variables"][ENV_TAGGER] == "rekognition"


@pytest.mark.parametrize("lane", ["Interactive", "Bulk"])
def test_ingest_roles_hold_exactly_the_calls_ingest_makes(dev: Template, lane: str) -> None:
    # Given the resources a lane touches
    originals = f"<{by_path(dev, 'AWS::S3::Bucket', '/Storage/Originals/')[0]}.Arn>"
    transformed = f"<{by_path(dev, 'AWS::S3::Bucket', '/Storage/Transformed/')[0]}.Arn>"
    table = f"<{by_path(dev, 'AWS::DynamoDB::Table', '/Metadata/Images/')[0]}.Arn>"
    bus = f"<{by_path(dev, 'AWS::Events::EventBus', '/Events/Bus/')[0]}.Arn>"
    queue = f"<{by_path(dev, 'AWS::SQS::Queue', f'/Pipeline/{lane}/Queue/')[0]}.Arn>"
    logs = f"<{by_path(dev, 'AWS::Logs::LogGroup', f'/Pipeline/{lane}/IngestLogs/')[0]}.Arn>"
    consume = ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
    # Each lane reads only the originals S3 notifies it of as created: uploads/ or batch members
    source = UPLOADS_PREFIX if lane == "Interactive" else BATCHES_PREFIX
    # Then its role holds these statements and no other (each exercised by tests/iam/test_ingest_iam.py);
    # the dev stage scans no malware, so the upload's tags are not read
    assert role_statements(dev, f"/Pipeline/{lane}/Ingest/") == [
        (["logs:CreateLogStream", "logs:PutLogEvents"], [logs], None),
        (["xray:PutTelemetryRecords", "xray:PutTraceSegments"], ["*"], None),
        ([*consume, "sqs:GetQueueUrl", "sqs:ReceiveMessage"], [queue], None),
        (["s3:DeleteObject", "s3:GetObject"], [f"{originals}/{source}*"], None),
        (["s3:PutObject", "s3:PutObjectTagging"], [f"{originals}/quarantine/*"], None),
        (["s3:ListBucket"], [originals], {"StringLike": {"s3:prefix": [f"{source}*"]}}),
        (["s3:ListBucket"], [transformed], None),
        (["s3:DeleteObject", "s3:GetObject", "s3:PutObject"], [f"{transformed}/*"], None),
        (["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], [table], None),
        (["dynamodb:Query"], [f"{table}/index/*"], None),
        (["events:PutEvents"], [bus], None),
    ]
