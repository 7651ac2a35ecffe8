"""The edge-settings custom resource in the template: what it writes, what it waits for, what it may do."""

from __future__ import annotations

from typing import Any

import pytest

from imgpipe.edge_store import EdgeLimitError, settings_hash
from infra.config import StageConfig, cdk_json_context, load_stage_config
from infra.constants import EDGE_KVS_PRESETS, EDGE_KVS_SIGNING_KEYS, EDGE_KVS_SIGNING_POLICY
from infra.edge import edge_settings_items
from infra.edge_settings import EDGE_SETTINGS_HANDLER, RESOURCE_TYPE, RESPONSE_TIMEOUT_SECONDS
from tests.infra.cfn import by_path, flatten, only, props, ref_id, resources

Template = dict[str, Any]
DEV = load_stage_config(cdk_json_context())


def _resource(template: Template) -> tuple[str, dict[str, Any]]:
    return only(template, RESOURCE_TYPE)


def _writer(template: Template) -> tuple[str, dict[str, Any]]:
    return by_path(template, "AWS::Lambda::Function", "/Delivery/EdgeSettings/")


def _depends_on(resource: dict[str, Any]) -> set[str]:
    return set(resource.get("DependsOn", []))


def test_the_custom_resource_writes_the_stages_items_to_the_store(dev: Template) -> None:
    _, resource = _resource(dev)
    properties = props(resource)
    store_id, _ = only(dev, "AWS::CloudFront::KeyValueStore")
    secret_id, _ = only(dev, "AWS::SecretsManager::Secret")
    writer_id, _ = _writer(dev)
    assert properties["ServiceToken"] == {"Fn::GetAtt": [writer_id, "Arn"]}
    assert properties["KeyValueStoreArn"] == {"Fn::GetAtt": [store_id, "Arn"]}
    assert ref_id(properties["SigningKeysSecretArn"]) == secret_id
    # The non-secret items exactly as the edge reads them, and no key at all
    assert properties["Items"] == {
        EDGE_KVS_PRESETS: DEV.presets_json,
        EDGE_KVS_SIGNING_POLICY: DEV.signing_policy,
    }
    assert EDGE_KVS_SIGNING_KEYS not in str(properties)
    assert properties["SettingsHash"] == settings_hash(properties["Items"])
    # A function that cannot run holds the deploy for minutes, not CloudFormation's default hour
    assert int(properties["ServiceTimeout"]) == RESPONSE_TIMEOUT_SECONDS


def test_the_store_is_no_longer_seeded_at_creation_only(dev: Template) -> None:
    _, store = only(dev, "AWS::CloudFront::KeyValueStore")
    assert "ImportSource" not in props(store)


def test_a_new_preset_or_policy_changes_the_properties_so_the_deploy_updates_the_store() -> None:
    base = edge_settings_items(DEV)
    more = StageConfig.model_validate({**DEV.model_dump(), "presets": {**DEV.presets, "hero": "w=1600"}})
    stricter = DEV.model_copy(update={"signing_policy": "required"})
    hashes = {
        settings_hash(items) for items in (base, edge_settings_items(more), edge_settings_items(stricter))
    }
    assert len(hashes) == 3


def test_it_runs_after_the_store_the_secret_and_its_grants_and_before_the_distribution(dev: Template) -> None:
    resource_id, resource = _resource(dev)
    _, writer = _writer(dev)
    role_id = ref_id(props(writer)["Role"])
    [policy_id] = [
        logical_id
        for logical_id, policy in resources(dev, "AWS::IAM::Policy").items()
        if role_id in {ref_id(role) for role in props(policy)["Roles"]}
    ]
    # References order it after the store, the secret and the function; the role's policy explicitly
    assert {role_id, policy_id} <= _depends_on(resource)
    _, distribution = only(dev, "AWS::CloudFront::Distribution")
    assert resource_id in _depends_on(distribution)


def test_the_writer_is_an_imgpipe_function_with_the_shared_asset_and_layer(dev: Template) -> None:
    _, writer = _writer(dev)
    _, resize = by_path(dev, "AWS::Lambda::Function", "/Delivery/Resize/")
    assert props(writer)["Handler"] == EDGE_SETTINGS_HANDLER
    assert props(writer)["Code"] == props(resize)["Code"]
    assert props(writer)["Layers"] == props(resize)["Layers"]
    assert props(writer)["Architectures"] == ["arm64"]
    assert "LoggingConfig" in props(writer)  # its own log group, with the stage's retention


def test_the_writer_may_touch_this_store_and_this_secret_only(dev: Template) -> None:
    _, writer = _writer(dev)
    role_id = ref_id(props(writer)["Role"])
    store_id, _ = only(dev, "AWS::CloudFront::KeyValueStore")
    secret_id, _ = only(dev, "AWS::SecretsManager::Secret")
    granted: set[tuple[str, str]] = set()
    for policy in resources(dev, "AWS::IAM::Policy").values():
        if role_id not in {ref_id(role) for role in props(policy)["Roles"]}:
            continue
        for statement in props(policy)["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow" and "Condition" not in statement
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            targets = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            granted |= {(action, flatten(target)) for action in actions for target in targets}
    data_plane = {(a, r) for a, r in granted if not a.startswith(("logs:", "xray:"))}
    assert data_plane == {
        ("cloudfront-keyvaluestore:DescribeKeyValueStore", f"<{store_id}.Arn>"),
        ("cloudfront-keyvaluestore:UpdateKeys", f"<{store_id}.Arn>"),
        ("secretsmanager:GetSecretValue", f"<{secret_id}>"),
    }
    # The rest is what every imgpipe function has: its own log group, and X-Ray (no resource-level ARN)
    assert {a for a, r in granted if a.startswith("logs:")} <= {"logs:CreateLogStream", "logs:PutLogEvents"}
    assert {r for a, r in granted if a.startswith("xray:")} <= {"*"}


def test_presets_that_do_not_fit_the_store_stop_synthesis_with_the_reason() -> None:
    many = {f"preset{n:03d}": "w=1200&h=800&fit=cover&fm=webp&q=80" for n in range(40)}
    config = StageConfig.model_validate({"stage": "big", "presets": many})
    with pytest.raises(EdgeLimitError, match=r"context\.stages\.big: edge item 'presets' is \d+ bytes.*1024"):
        edge_settings_items(config)
