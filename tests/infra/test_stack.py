"""Whole-stack contracts: composition, Lambda settings, least privilege, cdk-nag and cfn-lint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra.sizing import (
    API_HANDLER,
    API_MEMORY_MB,
    API_TIMEOUT_SECONDS,
    INGEST_HANDLER,
    INGEST_MEMORY_MB,
    RESIZE_HANDLER,
    RESIZE_MEMORY_MB,
    RESIZE_TIMEOUT_SECONDS,
)
from tests.infra.cfn import as_list, by_path, only, path_of, props, ref_id, resources, statements
from tests.infra.conftest import REPO_ROOT, Assembly
from tests.infra.variants import DEV_STACK, EU_STACK, FULL_STACK

Template = dict[str, Any]
CAPABILITIES = ("Storage", "Metadata", "Events", "Runtime", "Pipeline", "Delivery", "Api", "Monitoring")
# Resources CDK itself puts at the stack root (singleton deploy-time helpers), not defined by the stack.
CDK_SINGLETONS = (
    "BucketNotificationsHandler",
    "Custom::S3AutoDeleteObjectsCustomResourceProvider",
    # Cross-region references (the euwest stage's CloudFront alarms in us-east-1)
    "Custom::CrossRegionExportWriterCustomResourceProvider",
    "ExportsWriter",
    # AwsCustomResource's function (production: the table's deletion protection)
    "AWS679f53fac002430cb0da5b7982bd2287",
)
FUNCTIONS = {
    "/Pipeline/Interactive/Ingest/": (INGEST_HANDLER, INGEST_MEMORY_MB, 60),
    "/Pipeline/Bulk/Ingest/": (INGEST_HANDLER, INGEST_MEMORY_MB, 100),
    "/Delivery/Resize/": (RESIZE_HANDLER, RESIZE_MEMORY_MB, RESIZE_TIMEOUT_SECONDS),
    "/Api/Handler/": (API_HANDLER, API_MEMORY_MB, API_TIMEOUT_SECONDS),
}
DATA_SERVICES = ("s3", "dynamodb", "sqs", "events", "secretsmanager", "kms", "sns")
# cfn-lint findings that CDK's own output triggers and that say nothing about this stack.
ACCEPTED_CFN_LINT = {"W3005"}  # "DependsOn already enforced by a GetAtt": CDK adds both on purpose


@pytest.mark.parametrize("stack", [DEV_STACK, FULL_STACK, EU_STACK])
def test_stack_composes_capabilities_and_defines_no_resource_itself(assembly: Assembly, stack: str) -> None:
    for logical_id, resource in assembly.template(stack)["Resources"].items():
        if resource["Type"] == "AWS::CDK::Metadata":
            continue
        path = path_of(resource)
        assert path, f"{logical_id} has no construct path"
        top = path.split("/")[1]
        assert top in CAPABILITIES or top.startswith(CDK_SINGLETONS), f"{logical_id} at {path}"


@pytest.mark.parametrize(("fragment", "expected"), FUNCTIONS.items())
def test_functions_are_python_312_on_arm64_with_tracing_json_logs_and_the_layer(
    dev: Template, fragment: str, expected: tuple[str, int, int]
) -> None:
    handler, memory, timeout = expected
    function = props(by_path(dev, "AWS::Lambda::Function", fragment)[1])
    assert (function["Handler"], function["MemorySize"], function["Timeout"]) == (handler, memory, timeout)
    assert function["Runtime"] == "python3.12"
    assert function["Architectures"] == ["arm64"]
    assert function["TracingConfig"] == {"Mode": "Active"}
    assert function["LoggingConfig"]["LogFormat"] == "JSON"
    layer_id, _ = only(dev, "AWS::Lambda::LayerVersion")
    assert [ref_id(layer) for layer in function["Layers"]] == [layer_id]
    log_group_id = ref_id(function["LoggingConfig"]["LogGroup"])
    log_group = props(dev["Resources"][log_group_id])
    assert log_group["RetentionInDays"] == 14
    assert function["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"] == "imgpipe"


def test_layer_is_for_python_312_on_arm64(dev: Template) -> None:
    layer = props(only(dev, "AWS::Lambda::LayerVersion")[1])
    assert layer["CompatibleRuntimes"] == ["python3.12"]
    assert layer["CompatibleArchitectures"] == ["arm64"]


def test_all_functions_share_one_code_asset(dev: Template) -> None:
    keys = {json.dumps(props(by_path(dev, "AWS::Lambda::Function", f)[1])["Code"]) for f in FUNCTIONS}
    assert len(keys) == 1


def test_function_roles_carry_no_managed_policies(dev: Template) -> None:
    for fragment in FUNCTIONS:
        function = props(by_path(dev, "AWS::Lambda::Function", fragment)[1])
        role = props(dev["Resources"][ref_id(function["Role"]) or ""])
        assert "ManagedPolicyArns" not in role


def test_no_statement_grants_wildcard_actions(assembly: Assembly) -> None:
    for stack in (DEV_STACK, FULL_STACK):
        for logical_id, statement in statements(assembly.template(stack)):
            if statement["Effect"] != "Allow":
                continue
            for action in as_list(statement["Action"]):
                assert action != "*" and not action.endswith(":*"), f"{stack}/{logical_id}: {action}"


def test_imgpipe_roles_name_every_data_action_exactly(dev: Template) -> None:
    # Stricter for the imgpipe functions: no `*` at all in an action on a data service
    roles = {ref_id(props(by_path(dev, "AWS::Lambda::Function", f)[1])["Role"]) for f in FUNCTIONS}
    policies = [
        p
        for p in resources(dev, "AWS::IAM::Policy").values()
        if {ref_id(r) for r in props(p)["Roles"]} & roles
    ]
    assert len(policies) == len(roles)
    for policy in policies:
        for statement in props(policy)["PolicyDocument"]["Statement"]:
            for action in as_list(statement["Action"]):
                if action.split(":")[0] in DATA_SERVICES:
                    assert "*" not in action, action


def test_every_acknowledged_finding_has_a_reason(assembly: Assembly) -> None:
    acknowledged = []
    for stack in (DEV_STACK, FULL_STACK):
        for resource in assembly.template(stack)["Resources"].values():
            acknowledged += resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    # Both packs ran: AwsSolutions and ServerlessChecks
    assert {rule["id"].split("-")[0] for rule in acknowledged} == {"AwsSolutions", "Serverless"}
    for rule in acknowledged:
        assert rule["id"].startswith(("AwsSolutions-", "Serverless-"))
        assert len(rule["reason"]) >= 40, rule


def test_cdk_nag_ran_and_reported_no_open_finding(assembly: Assembly) -> None:
    report = json.loads((assembly.directory / "validation-report.json").read_text())
    assert report["pluginReports"] == []  # the synth would have failed otherwise


def test_cdk_nag_fails_the_synth_on_an_unacknowledged_finding(tmp_path: Any) -> None:
    # Given an app with one bucket that has no access logs and no TLS-only policy
    script = f"""
from infra.node_runtime import use_bundled_node
use_bundled_node()
from aws_cdk import App, Stack, Validations
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks
app = App(outdir={str(tmp_path)!r})
s3.Bucket(Stack(app, "Bare"), "Bucket")
Validations.of(app).add_plugins(AwsSolutionsChecks(app))
app.synth()
"""
    # When it is synthesised with the same plugin
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    # Then synthesis fails and names the findings
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "AwsSolutions-S1" in output and "AwsSolutions-S10" in output


def test_cfn_lint_finds_no_errors_in_any_template(assembly: Assembly) -> None:
    templates = sorted(str(p) for p in assembly.directory.glob("*.template.json"))
    assert len(templates) == 4  # dev, full, euwest and euwest's us-east-1 edge monitoring
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "json", *templates],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stdout.lstrip().startswith("["), result.stderr  # cfn-lint itself ran
    findings = json.loads(result.stdout)
    unexpected = [
        f"{f['Rule']['Id']} {f['Filename']}: {f['Message']}"
        for f in findings
        if f["Rule"]["Id"] not in ACCEPTED_CFN_LINT
    ]
    assert not unexpected, "\n".join(unexpected)


def test_production_stacks_are_protected_from_deletion(assembly: Assembly) -> None:
    manifest = json.loads((assembly.directory / "manifest.json").read_text())
    artifacts = manifest["artifacts"]
    assert artifacts[FULL_STACK]["properties"].get("terminationProtection") is True
    assert not artifacts[DEV_STACK]["properties"].get("terminationProtection")


def test_outputs_name_what_the_cli_needs(dev: Template) -> None:
    outputs = dev["Outputs"]
    for name in ("ImagesUrl", "ApiUrl", "OriginalsBucket", "InteractiveDlq", "BulkDlq", "SigningKeysSecret"):
        assert name in outputs
    assert {"FreeUsagePlanId", "ProUsagePlanId", "EnterpriseUsagePlanId"} <= set(outputs)


def test_synthesis_stays_within_its_budget(assembly: Assembly) -> None:
    assert assembly.seconds < 120, f"synthesis took {assembly.seconds} s"
