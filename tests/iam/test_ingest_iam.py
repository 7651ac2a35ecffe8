"""Both ingest lanes as their synthesised roles: a good and a bad upload, a batch upload, a delete."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from infra.constants import (
    ENV_LANE,
    LANE_BULK,
    LANE_INTERACTIVE,
    STATUS_DELETED,
    STATUS_READY,
    STATUS_REJECTED,
)
from tests.builders import encode, photo_like
from tests.iam.conftest import Enforced
from tests.iam.policy import (
    Resolver,
    Unused,
    bucket,
    event_bus,
    function_environment,
    queue,
    table,
    unexplained,
)
from tests.infra.conftest import Assembly
from tests.infra.variants import DEV_STACK, FULL_STACK
from tests.integration.ingest_stack import BUS, ORIGINALS, TABLE, TRANSFORMED, IngestStack, ingest_stack

__all__ = ["ingest_stack"]  # the fixture, imported so pytest finds it

FUNCTIONS = {LANE_INTERACTIVE: "/Pipeline/Interactive/Ingest/", LANE_BULK: "/Pipeline/Bulk/Ingest/"}

# Grants no scenario here exercises, each with the reason it stays.
NOT_EXERCISED = (
    Unused("logs:*", "*Logs.Arn", "The Lambda service writes the function's log stream, not its code."),
    Unused("xray:*", "*", "The runtime's X-Ray daemon sends trace segments (tracing is on), not boto3."),
    Unused(
        "sqs:GetQueueUrl",
        "Pipeline/*/Queue.Arn",
        "Part of CDK's SqsEventSource grant (grantConsumeMessages); the event source mapping addresses the "
        "queue by ARN.",
    ),
    Unused(
        "sqs:ChangeMessageVisibility",
        "Pipeline/*/Queue.Arn",
        "Part of CDK's SqsEventSource grant; the event source mapping may return a failed message early. "
        "No scenario here fails a message.",
    ),
    Unused(
        "s3:PutObjectTagging",
        "Storage/Originals.Arn/quarantine/*",
        "The quarantine copy keeps the upload's tags (GuardDuty's scan result, or the uploader's): S3 "
        "needs it on the copy only when the upload has tags, which these uploads have not.",
    ),
    Unused(
        "sqs:GetQueueAttributes",
        "Pipeline/*/Queue.Arn",
        "The event source mapping reads the queue's attributes when it is created (Lambda's SQS "
        "permissions list it); CDK's SqsEventSource grants it.",
    ),
)


def resolver(enforced: Enforced, stack: IngestStack) -> Resolver:
    interactive, bulk = stack.lanes[LANE_INTERACTIVE], stack.lanes[LANE_BULK]
    return Resolver(
        enforced.template,
        {
            ("AWS::S3::Bucket", "/Storage/Originals/"): bucket(ORIGINALS),
            ("AWS::S3::Bucket", "/Storage/Transformed/"): bucket(TRANSFORMED),
            ("AWS::DynamoDB::Table", "/Metadata/Images/"): table(TABLE),
            ("AWS::Events::EventBus", "/Events/Bus/"): event_bus(BUS),
            ("AWS::SQS::Queue", "/Pipeline/Interactive/Queue/"): queue(
                interactive.queue_url, interactive.queue_arn
            ),
            ("AWS::SQS::Queue", "/Pipeline/Bulk/Queue/"): queue(bulk.queue_url, bulk.queue_arn),
        },
    )


@contextmanager
def as_event_source_mapping(stack: IngestStack, sqs: Any) -> Iterator[None]:
    """The stack's poll with the role's SQS client: Lambda's event source mapping polls as the function."""
    admin = stack.sqs
    stack.sqs = sqs
    try:
        yield
    finally:
        stack.sqs = admin


@pytest.mark.parametrize("stack_name", [DEV_STACK, FULL_STACK])  # full: tagging by Rekognition
def test_ingest_lanes_make_only_calls_their_roles_allow_and_use_every_grant(
    ingest_stack: IngestStack, assembly: Assembly, stack_name: str
) -> None:
    enforced = Enforced(assembly.template(stack_name))
    stack = ingest_stack
    names = resolver(enforced, stack)
    # Given each lane's function built from the template's environment, on its role's credentials
    environment = function_environment(enforced.template, FUNCTIONS[LANE_INTERACTIVE], names)
    stack.reconfigure(**{k: v for k, v in environment.items() if k != ENV_LANE})
    sessions = {
        lane: enforced.role_session(f"ingest-{lane}", fragment, names) for lane, fragment in FUNCTIONS.items()
    }
    admin_session = stack.session
    for lane, session in sessions.items():
        stack.session = session
        stack.app(lane)  # built now, on the role's session, and kept
    stack.session = admin_session
    pollers = {lane: session.client("sqs") for lane, session in sessions.items()}

    def drain() -> None:
        for _ in range(50):
            handed = 0
            for lane in (LANE_INTERACTIVE, LANE_BULK):
                with as_event_source_mapping(stack, pollers[lane]):
                    handed += stack.poll(lane)
            if not handed:
                return
        raise AssertionError("the queues did not drain")

    # Each scenario for an interactive upload, a batch member (batches/: S3 notifies the bulk lane, its
    # removals the interactive lane) and the older batch form (uploads/.../batches/: interactive lane)
    folders = ("uploads/acme/", "batches/acme/b1/", "uploads/acme/batches/b0/")
    photos = {folder: encode(photo_like(96, 64, seed), "JPEG") for seed, folder in enumerate(folders)}
    with enforced.on():
        # When a good and a bad file are uploaded
        for folder in folders:
            stack.put_original(folder + "harbour.jpg", photos[folder])
            stack.put_original(folder + "notes.jpg", b"this is not an image", content_type="image/jpeg")
        drain()
        # And the same bytes again under another name (linked to the first renditions by copies), and
        # a file deleted before ingest reads it (a missing key: 404, not 403)
        for folder in folders:
            stack.put_original(folder + "harbour-again.jpg", photos[folder])
            stack.put_original(folder + "gone.jpg", photos[folder])
            stack.s3.delete_object(Bucket=ORIGINALS, Key=folder + "gone.jpg")
        drain()
        # And an overwrite, which takes the previous image's renditions with it (on whichever lane the
        # key's uploads arrive: the bulk lane too lists and deletes renditions)
        replaced = {}
        for folder in folders:
            replaced[folder] = stack.record_of(folder + "harbour-again.jpg").image_id
            stack.put_original(folder + "harbour-again.jpg", encode(photo_like(80, 60, 7), "JPEG"))
        drain()
        # Then moto's enforcement refused no call of theirs, and each ends as it should
        assert not enforced.recorder.refused(), "\n".join(enforced.recorder.refused())
        for folder in folders:
            assert stack.record_of(folder + "harbour.jpg").status == STATUS_READY
            assert stack.record_of(folder + "notes.jpg").status == STATUS_REJECTED
            again = stack.record_of(folder + "harbour-again.jpg")
            assert again.status == STATUS_READY and again.width == 80
            previous = stack.repository.get_image(replaced[folder])
            assert previous is not None and previous.status == STATUS_DELETED
            assert stack.record_of(folder + "gone.jpg").status == STATUS_DELETED
        # When a processed original is deleted
        for folder in folders:
            stack.s3.delete_object(Bucket=ORIGINALS, Key=folder + "harbour.jpg")
        drain()
        # Then its record says so and its renditions are gone
        for folder in folders:
            assert stack.record_of(folder + "harbour.jpg").status == STATUS_DELETED
            assert not stack.keys(TRANSFORMED, folder + "harbour.jpg/")
        # And no message went to a dead-letter queue (no call was refused by moto's enforcement)
        assert all(stack.queue_depth(lane.dlq_url) == 0 for lane in stack.lanes.values())

    # And our evaluator allows every call, and every grant was used or has its reason
    denied, used = enforced.recorder.verdicts()
    assert not denied, "\n".join(denied)
    for function, policy in enforced.recorder.policies.items():
        missing = unexplained(policy, used[function], NOT_EXERCISED)
        assert not missing, f"{function}: grants no scenario used:\n" + "\n".join(map(str, missing))
