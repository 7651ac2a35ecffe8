"""Pipeline: S3 upload notifications → two SQS lanes (each with a dead-letter queue) → ingest functions.

Two lanes keep a 10 000-image batch from delaying one interactive upload: each lane has its own queue,
its own function (same code, `IMGPIPE_LANE` tells them apart) and its own maximum concurrency on the
event source mapping, so bulk work can never take the interactive lane's workers. S3 routes the keys:
batch members have a top-level prefix of their own (`batches/`), whose ObjectCreated notifies the bulk
queue directly, while uploads under `uploads/` and every ObjectRemoved notify the interactive queue
(LanesConfig; docs/ingest.md, "Lanes"). No function hands messages to the other lane.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import LaneConfig, StageConfig
from infra.constants import (
    BULK_DLQ,
    BULK_QUEUE,
    ENV_LANE,
    INTERACTIVE_DLQ,
    INTERACTIVE_QUEUE,
    LANE_BULK,
    LANE_INTERACTIVE,
    QUARANTINE_PREFIX,
)
from infra.environment import ResourceNames, ingest_environment
from infra.events import Events
from infra.metadata import Metadata
from infra.nag import acknowledge, acknowledge_wildcard_resource, attribute_ref
from infra.runtime import LambdaRuntime
from infra.sizing import (
    INGEST_HANDLER,
    INGEST_MEMORY_MB,
    ingest_timeout_seconds,
    visibility_timeout_seconds,
)
from infra.storage import Storage

QUEUE_RETENTION = Duration.days(4)
DLQ_RETENTION = Duration.days(14)  # longer than the source queue: an SQS message keeps its age in the DLQ
NOTIFICATIONS_HANDLER_ID = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"


class Lane(Construct):
    """One lane: a queue, its dead-letter queue with the redrive policy, and the function that drains it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        lane: str,
        queue_name: str,
        dlq_name: str,
        settings: LaneConfig,
        max_receive_count: int,
        runtime: LambdaRuntime,
        environment: dict[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.lane = lane
        self.settings = settings
        timeout = Duration.seconds(ingest_timeout_seconds(settings.batch_size))
        self.dlq = sqs.Queue(
            self,
            "DeadLetters",
            queue_name=dlq_name,
            retention_period=DLQ_RETENTION,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            queue_name=queue_name,
            visibility_timeout=Duration.seconds(
                visibility_timeout_seconds(settings.batch_size, settings.batching_window_seconds)
            ),
            retention_period=QUEUE_RETENTION,
            # SSE-SQS, not KMS: S3 notifications cannot publish to a queue under the AWS-managed KMS key.
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dlq, max_receive_count=max_receive_count),
        )
        self.function = runtime.function(
            self,
            "Ingest",
            name=f"ingest-{lane}",
            handler=INGEST_HANDLER,
            memory_mb=INGEST_MEMORY_MB,
            timeout=timeout,
            description=f"Ingest ({lane} lane): validates uploads, renders renditions, records, announces",
            environment={**environment, ENV_LANE: lane},
        )
        self.function.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=settings.batch_size,
                max_batching_window=Duration.seconds(settings.batching_window_seconds)
                if settings.batching_window_seconds
                else None,
                report_batch_item_failures=True,
                max_concurrency=settings.max_concurrency,
            )
        )


class Pipeline(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        runtime: LambdaRuntime,
        storage: Storage,
        metadata: Metadata,
        events: Events,
    ) -> None:
        super().__init__(scope, construct_id)
        lanes = config.lanes
        names = ResourceNames(
            originals_bucket=storage.originals.bucket_name,
            transformed_bucket=storage.transformed.bucket_name,
            images_table=metadata.table.table_name,
            event_bus=events.bus.event_bus_name,
        )
        self.bulk = Lane(
            self,
            "Bulk",
            lane=LANE_BULK,
            queue_name=config.physical_name(BULK_QUEUE),
            dlq_name=config.physical_name(BULK_DLQ),
            settings=lanes.bulk,
            max_receive_count=lanes.max_receive_count,
            runtime=runtime,
            environment=ingest_environment(config, names, lane=LANE_BULK),
        )
        self.interactive = Lane(
            self,
            "Interactive",
            lane=LANE_INTERACTIVE,
            queue_name=config.physical_name(INTERACTIVE_QUEUE),
            dlq_name=config.physical_name(INTERACTIVE_DLQ),
            settings=lanes.interactive,
            max_receive_count=lanes.max_receive_count,
            runtime=runtime,
            environment=ingest_environment(config, names, lane=LANE_INTERACTIVE),
        )
        self.lanes = (self.interactive, self.bulk)
        self.functions = tuple(lane.function for lane in self.lanes)
        # S3 routes each key to its lane (LanesConfig: the routing is fixed): uploads/ and batches/ are
        # disjoint, so created batch members go straight to the bulk queue; a deleted original takes its
        # renditions and record with it, and every removal goes to the interactive lane to stay prompt.
        for lane in self.lanes:
            destination = s3n.SqsDestination(lane.queue)
            for event, prefixes in (
                (s3.EventType.OBJECT_CREATED, lane.settings.prefixes),
                (s3.EventType.OBJECT_REMOVED, lane.settings.removed_prefixes),
            ):
                for prefix in prefixes:
                    key_filter = s3.NotificationKeyFilter(prefix=prefix)
                    storage.originals.add_event_notification(event, destination, key_filter)
        for lane in self.lanes:
            # A lane reads only the originals S3 notifies it of as created (its removals read none).
            self._grant(
                lane.function,
                storage,
                metadata,
                events,
                sources=lane.settings.prefixes,
                malware_scan=config.features.malware_scan,
            )
            self._grant_tagger(lane.function, config)
        self._acknowledge_notifications_handler()

    def _grant_tagger(self, function: lambda_.Function, config: StageConfig) -> None:
        """The remote tagger's one call, only when the stage chose one."""
        role = function.role
        assert role is not None
        if config.features.tagger == "rekognition":
            role.add_to_principal_policy(
                iam.PolicyStatement(actions=["rekognition:DetectLabels"], resources=["*"])
            )
            acknowledge_wildcard_resource(
                role,
                "*",
                "rekognition:DetectLabels on image bytes has no resource to scope it to (it supports no "
                "resource-level permissions); the role may call nothing else of Rekognition.",
            )
        elif config.features.tagger == "bedrock":
            model = Stack.of(self).format_arn(
                service="bedrock",
                account="",
                resource="foundation-model",
                resource_name=config.features.bedrock_model_id,
            )
            role.add_to_principal_policy(
                iam.PolicyStatement(actions=["bedrock:InvokeModel"], resources=[model])
            )

    def _grant(
        self,
        function: lambda_.Function,
        storage: Storage,
        metadata: Metadata,
        events: Events,
        *,
        sources: tuple[str, ...],
        malware_scan: bool,
    ) -> None:
        """Exactly the calls the ingest service makes; no `*` actions. `sources`: the originals' prefixes
        this lane reads (the interactive lane `uploads/`, the bulk lane `batches/`)."""
        role = function.role
        assert role is not None
        originals, transformed, table = storage.originals, storage.transformed, metadata.table
        readable = [originals.arn_for_objects(f"{prefix}*") for prefix in sources]
        quarantine = originals.arn_for_objects(f"{QUARANTINE_PREFIX}*")
        # Exactly what tests/iam exercises (docs/deploy.md, "IAM"): each call's action on its resources.
        statements = [
            # Read the upload (and its malware-scan tag when scanning is on), and delete it once it is
            # copied to quarantine.
            iam.PolicyStatement(
                actions=[
                    "s3:GetObject",
                    "s3:DeleteObject",
                    *(["s3:GetObjectTagging"] if malware_scan else []),
                ],
                resources=readable,
            ),
            # The copy keeps the upload's tags (the scan result), which needs PutObjectTagging on the copy.
            iam.PolicyStatement(actions=["s3:PutObject", "s3:PutObjectTagging"], resources=[quarantine]),
            # A missing upload answers 404 rather than 403 only with ListBucket, which S3 evaluates with
            # the key as s3:prefix: limited to the prefixes the lane reads.
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[originals.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in sources]}},
            ),
            # Listing an image's renditions to delete them.
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[transformed.bucket_arn]),
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                resources=[transformed.arn_for_objects("*")],
            ),
            # Item writes on the table (indexes are never written directly); queries on the indexes.
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                resources=[table.table_arn],
            ),
            iam.PolicyStatement(actions=["dynamodb:Query"], resources=[f"{table.table_arn}/index/*"]),
            iam.PolicyStatement(actions=["events:PutEvents"], resources=[events.bus.event_bus_arn]),
        ]
        for statement in statements:
            role.add_to_principal_policy(statement)

        for prefix in sources:
            acknowledge_wildcard_resource(
                role,
                f"{attribute_ref(originals)}/{prefix}*",
                "Object keys are user uploads, unknown at deploy time; access is limited to the originals' "
                "prefix this lane is notified of (uploads/ or batches/).",
            )
        acknowledge_wildcard_resource(
            role,
            f"{attribute_ref(originals)}/{QUARANTINE_PREFIX}*",
            "Rejected files are moved under quarantine/ with generated keys; write-only, never read.",
        )
        acknowledge_wildcard_resource(
            role,
            f"{attribute_ref(transformed)}/*",
            "Renditions and the mezzanine are written under canonical keys derived from each upload.",
        )
        acknowledge_wildcard_resource(
            role,
            f"{attribute_ref(table)}/index/*",
            "Queries by tenant, batch, checksum and source key use the table's four indexes.",
        )

    def _acknowledge_notifications_handler(self) -> None:
        # CDK writes S3 notification configurations with one singleton custom-resource function per stack.
        handler = Stack.of(self).node.try_find_child(NOTIFICATIONS_HANDLER_ID)
        if handler is None:
            return
        acknowledge(
            handler,
            "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            "CDK's own deploy-time function that writes the bucket notification configuration; CDK gives "
            "its role the basic execution policy (logs only) and it runs only during deployments.",
        )
