"""Fresh-account checks at synth: what makes a first `cdk deploy` fail in a new account or a new region.

Each check reads the synthesised templates (or the stage configuration the app validates), so it runs on
every synth: the API Gateway account role, retain policies on create, bucket-name lengths, partitions,
and the log groups of CDK's own helper functions.
"""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import pytest

from infra.config import (
    BUCKET_NAME_MAX_LENGTH,
    BUCKETS,
    LONGEST_REGION,
    SUPPORTED_PARTITIONS,
    SUPPORTED_REGIONS,
    TARGET_PARTITIONS_CONTEXT_KEY,
    ConfigError,
    StageConfig,
    bucket_name,
    cdk_json_context,
    check_target_partitions,
    load_stage_config,
)
from tests.infra.cfn import flatten, only, props, ref_id, resources
from tests.infra.conftest import REPO_ROOT, Assembly
from tests.infra.variants import ACCOUNT, DEV_STACK, EU_EDGE_STACK, EU_STACK, FULL_STACK

Template = dict[str, Any]
ALL_STACKS = (DEV_STACK, FULL_STACK, EU_STACK, EU_EDGE_STACK)
API_GATEWAY_LOGS_POLICY = "service-role/AmazonAPIGatewayPushToCloudWatchLogs"
# Properties that give a resource a fixed physical name (a second create with it fails "already exists").
NAME_PROPERTY = re.compile(r"^(\w+Name|Name)$")


# API Gateway's CloudWatch Logs role (account settings)


@pytest.mark.parametrize("stack", [DEV_STACK, FULL_STACK])
def test_the_stage_sets_api_gateways_logging_role_before_its_access_logs(
    assembly: Assembly, stack: str
) -> None:
    # Given a stage that writes access logs and says nothing about the account
    template = assembly.template(stack)
    assert "AccessLogSetting" in props(only(template, "AWS::ApiGateway::Stage")[1])
    # Then the account settings get a role that API Gateway can assume to write CloudWatch Logs
    account_id, account = only(template, "AWS::ApiGateway::Account")
    role_id = ref_id(props(account)["CloudWatchRoleArn"])
    assert role_id is not None
    role = template["Resources"][role_id]
    assert "apigateway.amazonaws.com" in str(props(role)["AssumeRolePolicyDocument"])
    assert API_GATEWAY_LOGS_POLICY in flatten(props(role)["ManagedPolicyArns"])
    # And the stage is created only once the account has it (otherwise: "CloudWatch Logs role ARN must be
    # set in account settings")
    _, stage = only(template, "AWS::ApiGateway::Stage")
    deployment = template["Resources"][ref_id(props(stage)["DeploymentId"]) or ""]
    assert account_id in stage.get("DependsOn", []) + deployment.get("DependsOn", [])
    # And a failed first create takes the role with it; afterwards it stays for the account's other APIs
    assert role["DeletionPolicy"] == account["DeletionPolicy"] == "RetainExceptOnCreate"


def test_a_stage_can_say_the_account_has_its_logging_role(euwest: Template) -> None:
    # Given api.accountHasCloudWatchRole, Then the stack leaves the account settings alone
    assert not resources(euwest, "AWS::ApiGateway::Account")
    assert API_GATEWAY_LOGS_POLICY not in str(euwest["Resources"])


def test_the_account_role_setting_must_be_a_boolean() -> None:
    with pytest.raises(ConfigError, match=r"accountHasCloudWatchRole|account_has_cloud_watch_role"):
        load_stage_config({"stage": "qa", "stages": {"qa": {"api": {"accountHasCloudWatchRole": "yes"}}}})


# Retain policies: a failed first create must leave nothing behind under a fixed name


def _fixed_name(resource: dict[str, Any]) -> str | None:
    for key, value in props(resource).items():
        if NAME_PROPERTY.match(key) and value is not None:
            return key
    return None


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_no_resource_with_a_fixed_name_is_retained_when_its_create_fails(
    assembly: Assembly, stack: str
) -> None:
    template = assembly.template(stack)
    for logical_id, resource in template["Resources"].items():
        if resource.get("DeletionPolicy") == "Retain":
            assert _fixed_name(resource) is None, f"{stack}/{logical_id} ({resource['Type']})"


def test_production_retains_its_named_data_except_on_a_failed_create(full: Template) -> None:
    # The nine named resources the issue lists: buckets, table, log groups, secret
    kept = {
        logical_id: resource["Type"]
        for logical_id, resource in full["Resources"].items()
        if resource.get("DeletionPolicy") == "RetainExceptOnCreate" and _fixed_name(resource)
    }
    kinds = sorted(kept.values())
    assert kinds.count("AWS::S3::Bucket") == 3
    assert kinds.count("AWS::DynamoDB::Table") == 1
    assert kinds.count("AWS::SecretsManager::Secret") == 1
    assert kinds.count("AWS::Logs::LogGroup") >= 4  # one per imgpipe function
    for logical_id in kept:
        assert full["Resources"][logical_id]["UpdateReplacePolicy"] == "Retain", logical_id


def test_production_protects_its_table_only_once_everything_else_was_created(
    dev: Template, full: Template
) -> None:
    # Given deletion protection in the template, a failed first create could not delete the table in its
    # rollback (DeleteTable is refused) and the retry would stop at "already exists"
    table_id, table = only(full, "AWS::DynamoDB::Table")
    assert "DeletionProtectionEnabled" not in props(table)
    # So a deploy-time call turns it on, after every other resource of the stack was created
    call_id, call = only(full, "Custom::AWS")
    create = flatten(props(call)["Create"])
    assert '"action":"updateTable"' in create and '"service":"DynamoDB"' in create
    assert f'"TableName":"<{table_id}>"' in create and '"DeletionProtectionEnabled":true' in create
    waits_for = set(call.get("DependsOn", []))
    for kind in ("AWS::CloudFront::Distribution", "AWS::ApiGateway::Stage", "AWS::Lambda::EventSourceMapping",
                 "AWS::CloudWatch::Alarm", "AWS::S3::Bucket"):  # fmt: skip
        assert set(resources(full, kind)) <= waits_for, kind
    # And its function may call exactly that
    policy = next(p for k, p in resources(full, "AWS::IAM::Policy").items() if k.startswith(call_id[:-8]))
    assert [s["Action"] for s in props(policy)["PolicyDocument"]["Statement"]] == ["dynamodb:UpdateTable"]
    # Development stages have neither
    assert not resources(dev, "Custom::AWS")


# Bucket names: S3 allows 63 characters


def _longest_stage_accepted(region: str | None) -> StageConfig:
    for length in range(20, 0, -1):
        try:
            return StageConfig(stage="s" * length, region=region)
        except ValueError:
            continue
    raise AssertionError("no stage name is accepted")


@pytest.mark.parametrize("region", [None, *sorted(SUPPORTED_REGIONS)])
def test_every_bucket_name_fits_for_the_longest_stage_the_config_accepts(region: str | None) -> None:
    # Given the longest stage name the config accepts for a region (or for any region, unpinned)
    config = _longest_stage_accepted(region)
    # Then every bucket the stack names fits in that region, with a 12-digit account id
    for deployed_region in [region] if region else sorted(SUPPORTED_REGIONS):
        for logical in BUCKETS:
            name = bucket_name(logical, config.stage, ACCOUNT, deployed_region)
            assert len(name) <= BUCKET_NAME_MAX_LENGTH, name
            assert re.fullmatch(r"[a-z0-9][a-z0-9-]*[a-z0-9]", name), name


def test_a_stage_name_too_long_for_the_bucket_names_is_refused_with_the_room_left() -> None:
    # Given an unpinned stage of 20 characters: in the longest region its access-log bucket is 68
    with pytest.raises(ConfigError, match=r"would be \d+ characters.*at most 15 characters"):
        load_stage_config({"stage": "s" * 20, "stages": {"s" * 20: {}}})
    # But pinned to a short region, the same name fits
    assert load_stage_config({"stage": "s" * 20, "stages": {"s" * 20: {"region": "us-east-1"}}})


@pytest.mark.parametrize("stack", [DEV_STACK, FULL_STACK, EU_STACK])
def test_synthesised_bucket_names_are_the_scheme_the_config_checks(assembly: Assembly, stack: str) -> None:
    # The template's names, with the account and the longest region in place of the pseudo parameters
    template = assembly.template(stack)
    stage = stack.removeprefix("imgpipe-")
    names = sorted(
        flatten(props(bucket)["BucketName"])
        .replace("<AWS::AccountId>", ACCOUNT)
        .replace("<AWS::Region>", LONGEST_REGION)
        for bucket in resources(template, "AWS::S3::Bucket").values()
    )
    expected = sorted(bucket_name(b, stage, ACCOUNT, LONGEST_REGION) for b in BUCKETS)
    assert names == expected
    assert all(len(name) <= BUCKET_NAME_MAX_LENGTH for name in names)


# Partitions and regions: only where every service of the stack exists


def test_cdk_json_targets_only_partitions_with_cloudfront_functions_kvs_and_oac() -> None:
    partitions = cdk_json_context()[TARGET_PARTITIONS_CONTEXT_KEY]
    assert set(partitions) <= SUPPORTED_PARTITIONS
    check_target_partitions(partitions)


@pytest.mark.parametrize("partitions", [["aws", "aws-cn"], ["aws-us-gov"], '["aws","aws-iso"]'])
def test_a_partition_without_the_stacks_services_stops_synthesis(partitions: object) -> None:
    with pytest.raises(ConfigError, match="CloudFront Functions"):
        check_target_partitions(partitions)


@pytest.mark.parametrize("region", ["cn-north-1", "us-gov-west-1", "us-isob-east-1", "xx-nowhere-9"])
def test_a_region_outside_those_partitions_stops_synthesis(region: str) -> None:
    with pytest.raises(ConfigError, match="not one where every service of the stack exists"):
        load_stage_config({"stage": "qa", "stages": {"qa": {"region": region}}})


# CDK's own deploy-time helpers log with the stage's retention


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_every_function_logs_to_a_group_with_the_stages_retention(assembly: Assembly, stack: str) -> None:
    # imgpipe's own functions, and CDK's: bucket notifications, auto-delete objects, the edge settings'
    # provider, and the writer and reader of cross-region references (created late, during synthesis)
    template = assembly.template(stack)
    if stack == DEV_STACK:
        retention = load_stage_config({**cdk_json_context(), "stage": "dev"}).log_retention_days
    else:  # the other variants keep the default
        retention = StageConfig(stage="any").log_retention_days
    functions = resources(template, "AWS::Lambda::Function")
    assert functions
    for logical_id, function in functions.items():
        group_id = ref_id(props(function).get("LoggingConfig", {}).get("LogGroup"))
        assert group_id is not None, f"{logical_id} logs to a group that never expires"
        assert props(template["Resources"][group_id])["RetentionInDays"] == retention, logical_id


def test_synthesis_itself_refuses_what_a_fresh_account_would(tmp_path: Any) -> None:
    # Given a stack with a bucket retained under a fixed name, and a stage that writes access logs while
    # the account's API Gateway settings name no CloudWatch role
    script = f"""
from infra.node_runtime import use_bundled_node
use_bundled_node()
from aws_cdk import App, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigateway, aws_logs as logs, aws_s3 as s3
from infra.config import StageConfig
from infra.fresh_account import FreshAccountChecks
app = App(outdir={str(tmp_path)!r})
stack = Stack(app, "Fresh")
s3.Bucket(stack, "Kept", bucket_name="kept-bucket", removal_policy=RemovalPolicy.RETAIN)
api = apigateway.RestApi(stack, "Api", cloud_watch_role=False, deploy_options=apigateway.StageOptions(
    access_log_destination=apigateway.LogGroupLogDestination(logs.LogGroup(stack, "Logs"))))
api.root.add_method("GET")
stack.node.add_validation(FreshAccountChecks(stack, StageConfig(stage="qa")))
app.synth()
"""
    # When it is synthesised
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    # Then synthesis fails and says why, for both
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    assert "Fresh/Kept/Resource (AWS::S3::Bucket) is retained under a fixed bucketName" in output
    assert "need the account's API Gateway CloudWatch Logs role" in output
    # And a log group CloudFormation names itself is not a fixed name
    assert "Fresh/Logs/Resource" not in output
