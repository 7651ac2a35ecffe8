"""Storage, Metadata and Events contracts."""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import cdk_json_context, load_stage_config
from infra.constants import (
    EVENT_BUS,
    EVENT_SOURCE,
    GSI_BY_BATCH,
    GSI_BY_CHECKSUM,
    GSI_BY_SOURCE_KEY,
    GSI_BY_TENANT,
    IMAGES_TABLE,
    QUARANTINE_PREFIX,
    TABLE_PARTITION_KEY,
    TABLE_SORT_KEY,
    TTL_ATTRIBUTE,
)
from tests.infra.cfn import as_list, by_path, flatten, only, props, ref_id, resources, statements

Template = dict[str, Any]
DEV = load_stage_config(cdk_json_context())


def _bucket(template: Template, name: str) -> tuple[str, dict[str, Any]]:
    return by_path(template, "AWS::S3::Bucket", f"/Storage/{name}/")


@pytest.mark.parametrize("name", ["Originals", "Transformed", "AccessLogs"])
def test_buckets_are_private_encrypted_and_tls_only(dev: Template, name: str) -> None:
    bucket_id, bucket = _bucket(dev, name)
    properties = props(bucket)
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    encryption = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    policy = next(
        props(p)["PolicyDocument"]
        for p in resources(dev, "AWS::S3::BucketPolicy").values()
        if ref_id(props(p)["Bucket"]) == bucket_id
    )
    denies = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)
    assert any("s3:TlsVersion" in str(s.get("Condition")) for s in denies)


@pytest.mark.parametrize("name", ["Originals", "Transformed"])
def test_data_buckets_write_access_logs(dev: Template, name: str) -> None:
    logs_id, _ = _bucket(dev, "AccessLogs")
    logging = props(_bucket(dev, name)[1])["LoggingConfiguration"]
    assert ref_id(logging["DestinationBucketName"]) == logs_id


def test_originals_are_versioned_tiered_and_old_versions_expire(dev: Template) -> None:
    properties = props(_bucket(dev, "Originals")[1])
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = {r["Id"]: r for r in properties["LifecycleConfiguration"]["Rules"]}
    # Both forms of original (uploads/, batch members under batches/) are tiered and expire alike
    for rule_id, prefix in (("intelligent-tiering", "uploads/"), ("intelligent-tiering-batches", "batches/")):
        tiering = rules[rule_id]
        assert tiering["Prefix"] == prefix
        assert tiering["Transitions"] == [{"StorageClass": "INTELLIGENT_TIERING", "TransitionInDays": 0}]
        expiry = {"NoncurrentDays": DEV.noncurrent_version_expiry_days}
        assert tiering["NoncurrentVersionExpiration"] == expiry
    assert rules["expire-quarantine"]["Prefix"] == QUARANTINE_PREFIX


def test_transformed_variants_expire_after_the_configured_days(dev: Template) -> None:
    rules = props(_bucket(dev, "Transformed")[1])["LifecycleConfiguration"]["Rules"]
    assert [r["ExpirationInDays"] for r in rules if "ExpirationInDays" in r] == [DEV.transformed_expiry_days]
    assert "VersioningConfiguration" not in props(_bucket(dev, "Transformed")[1])


def test_quarantine_is_never_readable_by_any_role(dev: Template) -> None:
    # Nothing may serve quarantine/: no CloudFront origin on the originals bucket, no s3:GetObject grant
    # but the API's, which reads a rejected upload's copy to delete it, and only with its own
    # header-signed requests (s3:authType), so no URL it presigns can fetch one
    api_role = ref_id(props(by_path(dev, "AWS::Lambda::Function", "/Api/Handler/")[1])["Role"])
    for logical_id, statement in statements(dev):
        if statement["Effect"] != "Allow":
            continue
        actions = set(as_list(statement["Action"]))
        targets = statement.get("Resource", [])
        reads = {a for a in actions if a.startswith("s3:Get") or a == "s3:*"}
        for resource in as_list(targets):
            if QUARANTINE_PREFIX in flatten(resource) and reads:
                roles = {ref_id(r) for r in props(dev["Resources"][logical_id]).get("Roles", [])}
                assert roles == {api_role}, statement
                header_only = {"StringEquals": {"s3:authType": "REST-HEADER"}}
                assert statement.get("Condition") == header_only, statement
    originals_id, _ = _bucket(dev, "Originals")
    _, distribution = only(dev, "AWS::CloudFront::Distribution")
    origins = props(distribution)["DistributionConfig"]["Origins"]
    assert all(ref_id(o["DomainName"]) != originals_id for o in origins)


def test_production_keeps_data_and_development_cleans_up(dev: Template, full: Template) -> None:
    # Kept on delete and replacement, but not when the first create fails (the retry would stop at
    # "already exists" on the fixed name)
    for name in ("Originals", "Transformed"):
        assert _bucket(full, name)[1]["DeletionPolicy"] == "RetainExceptOnCreate"
        assert _bucket(full, name)[1]["UpdateReplacePolicy"] == "Retain"
        assert _bucket(dev, name)[1]["DeletionPolicy"] == "Delete"
    assert only(full, "AWS::DynamoDB::Table")[1]["DeletionPolicy"] == "RetainExceptOnCreate"
    # Deletion protection is switched on after the first create (test_fresh_account), not in the template
    assert "DeletionProtectionEnabled" not in props(only(full, "AWS::DynamoDB::Table")[1])
    assert only(dev, "AWS::DynamoDB::Table")[1]["DeletionPolicy"] == "Delete"
    assert not resources(full, "Custom::S3AutoDeleteObjects")


def test_table_is_on_demand_with_the_ingest_key_design(dev: Template) -> None:
    table = props(only(dev, "AWS::DynamoDB::Table")[1])
    assert table["TableName"] == f"{IMAGES_TABLE}-dev"
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [
        {"AttributeName": TABLE_PARTITION_KEY, "KeyType": "HASH"},
        {"AttributeName": TABLE_SORT_KEY, "KeyType": "RANGE"},
    ]
    assert table["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    indexes = {i["IndexName"]: i for i in table["GlobalSecondaryIndexes"]}
    assert set(indexes) == {GSI_BY_TENANT, GSI_BY_BATCH, GSI_BY_CHECKSUM, GSI_BY_SOURCE_KEY}
    for name, index in indexes.items():
        assert index["KeySchema"] == [
            {"AttributeName": f"{name}pk", "KeyType": "HASH"},
            {"AttributeName": f"{name}sk", "KeyType": "RANGE"},
        ]
        assert index["Projection"] == {"ProjectionType": "ALL"}


def test_event_bus_archives_every_imgpipe_event(dev: Template) -> None:
    bus_id, bus = only(dev, "AWS::Events::EventBus")
    assert props(bus)["Name"] == f"{EVENT_BUS}-dev"
    archive = props(only(dev, "AWS::Events::Archive")[1])
    assert ref_id(archive["SourceArn"]) == bus_id
    assert archive["EventPattern"] == {"source": [EVENT_SOURCE]}
    assert archive["RetentionDays"] == DEV.event_archive_days
