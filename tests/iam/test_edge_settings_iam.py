"""The edge-settings writer (the KeyValueStore custom resource) as its synthesised role: a Create, an Update.

moto has no KeyValueStore data plane: `tests.fakes.keyvaluestore` answers it on the wire, so those calls
never reach moto's enforcement; the recorder's evaluator checks them (action and the store's ARN). The
secret is read from moto, enforced.
"""

from __future__ import annotations

import json
from typing import Any

import boto3  # type: ignore[import-untyped]
from moto import mock_aws

from edge_settings.handler import EdgeSettingsApp
from infra.constants import EDGE_KVS_SIGNING_KEYS
from tests.fakes.keyvaluestore import FakeKeyValueStore
from tests.iam.conftest import Enforced
from tests.iam.policy import REGION, Named, Resolver, Unused, secret, unexplained
from tests.unit.edge_settings.conftest import KEYS, resource_properties

FUNCTION = "edge-settings"
NOT_EXERCISED = (
    Unused("logs:*", "*Logs.Arn", "The Lambda service writes the function's log stream, not its code."),
    Unused("xray:*", "*", "The runtime's X-Ray daemon sends trace segments (tracing is on), not boto3."),
)


def _event(request_type: str, properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ResponseURL": "https://cloudformation-custom-resource-response.example/answer",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/imgpipe-dev/1",
        "RequestId": f"req-{request_type}",
        "LogicalResourceId": "DeliveryEdgeSettings",
        "ResourceType": "Custom::EdgeSettings",
        "ResourceProperties": properties,
        **extra,
    }


def test_edge_settings_writer_makes_only_calls_its_role_allows_and_uses_every_grant(
    enforced: Enforced,
) -> None:
    store = FakeKeyValueStore()
    with mock_aws():
        admin = boto3.session.Session(region_name=REGION)
        secret_arn = admin.client("secretsmanager").create_secret(
            Name="imgpipe-signing-keys", SecretString=json.dumps(KEYS)
        )["ARN"]
        names = Resolver(
            enforced.template,
            {
                ("AWS::CloudFront::KeyValueStore", "/Delivery/EdgeKeys/"): Named(
                    store.arn, {"Arn": store.arn}
                ),
                ("AWS::SecretsManager::Secret", "/Delivery/SigningKeys/"): secret(secret_arn),
            },
        )
        # Given the writer's own wiring on its role's credentials, the store answering on the wire
        session = enforced.role_session(FUNCTION, "/Delivery/EdgeSettings/Writer/", names)
        session.events.register("before-send.cloudfront-keyvaluestore", store._answer)
        answers: list[dict[str, Any]] = []
        app = EdgeSettingsApp.from_session(session)
        app.respond = lambda _url, body: answers.append(json.loads(body))
        properties = resource_properties(store.arn, secret_arn)
        with enforced.on():
            # When CloudFormation creates the settings, then updates them with another signing policy
            app.handle(_event("Create", properties))
            updated = resource_properties(store.arn, secret_arn, policy="presets-unsigned")
            app.handle(
                _event("Update", updated, OldResourceProperties=properties, PhysicalResourceId=store.arn)
            )
            # Then both succeed, the keys are in the store, and moto's enforcement refused nothing
            assert [answer["Status"] for answer in answers] == ["SUCCESS", "SUCCESS"], answers
            assert json.loads(store.items[EDGE_KVS_SIGNING_KEYS]) == KEYS
            assert not enforced.recorder.refused(), "\n".join(enforced.recorder.refused())

    # And our evaluator allows every call, and every grant was used or has its reason
    denied, used = enforced.recorder.verdicts()
    assert not denied, "\n".join(denied)
    missing = unexplained(enforced.recorder.policies[FUNCTION], used[FUNCTION], NOT_EXERCISED)
    assert not missing, "grants no scenario used:\n" + "\n".join(map(str, missing))
