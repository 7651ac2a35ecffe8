"""Metadata: the images table (images, batches and their indexes in one table).

Key design (shared with the ingest service through `infra.constants`): `pk`/`sk` plus four sparse
global secondary indexes, each projecting everything because every query returns whole records.
"""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from infra.config import StageConfig
from infra.constants import (
    IMAGES_TABLE,
    IMAGES_TABLE_INDEXES,
    TABLE_PARTITION_KEY,
    TABLE_SORT_KEY,
    TTL_ATTRIBUTE,
)
from infra.removal import stage_removal_policy


def _string(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)


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
            deletion_protection=config.production,
            removal_policy=stage_removal_policy(config),
        )
        for index in IMAGES_TABLE_INDEXES:
            self.table.add_global_secondary_index(
                index_name=index,
                partition_key=_string(f"{index}pk"),
                sort_key=_string(f"{index}sk"),
                projection_type=dynamodb.ProjectionType.ALL,
            )
