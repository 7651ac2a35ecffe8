"""Metadata: the images table (images, batches and their indexes in one table).

Key design (shared with the ingest service through `infra.constants`): `pk`/`sk` plus four sparse
global secondary indexes, each projecting everything because every query returns whole records.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from infra.config import StageConfig
from infra.constants import (
    IMAGES_TABLE,
    IMAGES_TABLE_INDEXES,
    TABLE_PARTITION_KEY,
    TABLE_SORT_KEY,
    TTL_ATTRIBUTE,
)
from infra.nag import SERVERLESS_PACK, acknowledge
from infra.removal import stage_removal_policy
from infra.runtime import log_retention


def _string(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)


# The construct id of CDK's singleton function behind every AwsCustomResource of a stack.
AWS_CUSTOM_RESOURCE_PROVIDER_ID = "AWS679f53fac002430cb0da5b7982bd2287"


class Metadata(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Images",
            table_name=config.physical_name(IMAGES_TABLE),
            partition_key=_string(TABLE_PARTITION_KEY),
            sort_key=_string(TABLE_SORT_KEY),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            # Production's deletion protection is switched on by `protect_once_created`, not here.
            removal_policy=stage_removal_policy(config),
        )
        for index in IMAGES_TABLE_INDEXES:
            self.table.add_global_secondary_index(
                index_name=index,
                partition_key=_string(f"{index}pk"),
                sort_key=_string(f"{index}sk"),
                projection_type=dynamodb.ProjectionType.ALL,
            )

    def protect_once_created(self, config: StageConfig, *, after: Sequence[Construct]) -> None:
        """Production turns on the table's deletion protection once everything else has been created.

        Protected from the start, a failed first create could not delete the table in its rollback
        (DeleteTable is refused), and the retry would stop at "already exists" on its fixed name; so a
        deploy-time call switches it on after every construct in `after`, once the create has succeeded.
        """
        if not config.production:
            return
        protect = cr.AwsCustomResource(
            self,
            "DeletionProtection",
            on_create=cr.AwsSdkCall(
                service="DynamoDB",
                action="updateTable",
                parameters={"TableName": self.table.table_name, "DeletionProtectionEnabled": True},
                physical_resource_id=cr.PhysicalResourceId.of(f"{self.table.table_name}/deletion-protection"),
            ),
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=["dynamodb:UpdateTable"], resources=[self.table.table_arn])]
            ),
            install_latest_aws_sdk=False,  # the runtime's SDK: no download at deploy time
            memory_size=256,  # one SDK call
            log_group=logs.LogGroup(
                self,
                "DeletionProtectionLogs",
                retention=log_retention(config.log_retention_days),
                removal_policy=stage_removal_policy(config),
            ),
        )
        for construct in after:
            protect.node.add_dependency(construct)
        provider = Stack.of(self).node.try_find_child(AWS_CUSTOM_RESOURCE_PROVIDER_ID)
        assert provider is not None
        acknowledge(
            provider,
            "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            "CDK's AwsCustomResource function, run once at deploy time: the basic execution policy lets it "
            "write its logs only; its one call (dynamodb:UpdateTable on this table) is granted inline.",
        )
        acknowledge(
            provider,
            "LambdaTracing",
            "CDK's deploy-time AwsCustomResource function makes one SDK call per deployment; there is no "
            "request path to trace, and its log group records each run.",
            pack=SERVERLESS_PACK,
        )
