"""Storage: the originals bucket (uploads and quarantine), the transformed bucket, and their access logs.

Originals are the only irreplaceable data: versioned, Intelligent-Tiering, old versions expire. The
transformed bucket is a cache that CloudFront reads first; its objects expire because every variant can
be rendered again on demand. `quarantine/` is never served: no CloudFront origin points at the originals
bucket and no function but ingest is granted anything there.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, Duration
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import StageConfig
from infra.config import bucket_name as stage_bucket_name
from infra.constants import (
    ACCESS_LOGS_BUCKET,
    BATCHES_PREFIX,
    ORIGINALS_BUCKET,
    QUARANTINE_PREFIX,
    SOURCE_PREFIXES,
    TRANSFORMED_BUCKET,
    UPLOADS_PREFIX,
)
from infra.nag import acknowledge
from infra.removal import stage_removal_policy

CLOUDFRONT_LOGS_PREFIX = "cloudfront/"
ABORT_INCOMPLETE_UPLOADS = Duration.days(1)


def bucket_name(logical: str, config: StageConfig) -> str:
    """The stage's name for a bucket in the account and region it is deployed to (`StageConfig` has
    checked that it fits S3's 63 characters in the longest region the stage can be deployed to)."""
    return stage_bucket_name(logical, config.stage, Aws.ACCOUNT_ID, Aws.REGION)


def _private_bucket(scope: Construct, construct_id: str, *, config: StageConfig, **props: Any) -> s3.Bucket:
    """A bucket no one reaches without IAM: public access blocked, SSE-S3, TLS 1.2+ only."""
    return s3.Bucket(
        scope,
        construct_id,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        minimum_tls_version=1.2,
        removal_policy=stage_removal_policy(config),
        # Only non-production stacks empty their buckets on deletion; production keeps everything.
        auto_delete_objects=not config.production,
        **props,
    )


# One rule per originals prefix; the uploads/ rule keeps the id it always had.
TIERING_RULE_IDS = {UPLOADS_PREFIX: "intelligent-tiering", BATCHES_PREFIX: "intelligent-tiering-batches"}


class Storage(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = _private_bucket(
            self,
            "AccessLogs",
            bucket_name=bucket_name(ACCESS_LOGS_BUCKET, config),
            # CloudFront standard logs are written with an ACL, which BucketOwnerEnforced would refuse.
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-logs",
                    expiration=Duration.days(max(config.log_retention_days, 30)),
                    abort_incomplete_multipart_upload_after=ABORT_INCOMPLETE_UPLOADS,
                )
            ],
            config=config,
        )
        acknowledge(
            self.access_logs,
            "S1",
            "This is the access-log bucket itself; logging its own access would log forever.",
        )

        self.originals = _private_bucket(
            self,
            "Originals",
            bucket_name=bucket_name(ORIGINALS_BUCKET, config),
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=f"s3/{ORIGINALS_BUCKET}/",
            lifecycle_rules=[
                # Originals of both forms (uploads/, batch members under batches/) alike.
                *(
                    s3.LifecycleRule(
                        id=TIERING_RULE_IDS[prefix],
                        prefix=prefix,
                        transitions=[
                            s3.Transition(
                                storage_class=s3.StorageClass.INTELLIGENT_TIERING,
                                transition_after=Duration.days(0),
                            )
                        ],
                        noncurrent_version_expiration=Duration.days(config.noncurrent_version_expiry_days),
                        abort_incomplete_multipart_upload_after=ABORT_INCOMPLETE_UPLOADS,
                    )
                    for prefix in SOURCE_PREFIXES
                ),
                s3.LifecycleRule(
                    id="expire-quarantine",
                    prefix=QUARANTINE_PREFIX,
                    expiration=Duration.days(config.quarantine_expiry_days),
                    noncurrent_version_expiration=Duration.days(1),
                ),
                s3.LifecycleRule(id="expired-delete-markers", expired_object_delete_marker=True),
            ],
            # Browsers upload with the API's presigned POST straight to the bucket.
            cors=[
                s3.CorsRule(
                    allowed_methods=[s3.HttpMethods.POST, s3.HttpMethods.PUT],
                    allowed_origins=list(config.cors_allowed_origins),
                    allowed_headers=["*"],
                    exposed_headers=["ETag"],
                    max_age=3000,
                )
            ],
            config=config,
        )

        self.transformed = _private_bucket(
            self,
            "Transformed",
            bucket_name=bucket_name(TRANSFORMED_BUCKET, config),
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=f"s3/{TRANSFORMED_BUCKET}/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-variants",
                    expiration=Duration.days(config.transformed_expiry_days),
                    abort_incomplete_multipart_upload_after=ABORT_INCOMPLETE_UPLOADS,
                )
            ],
            config=config,
        )
