"""The handler's custom-resource contract: every request answered once, with a stable physical id."""

from __future__ import annotations

import json
from typing import Any

import pytest

from edge_settings.handler import EdgeSettingsApp, handler, put_response
from edge_settings.service import EdgeSettingsService
from imgpipe.adapters.keyvaluestore import CloudFrontKeyValueStore
from imgpipe.adapters.signing_keys import SecretSigningKeys
from infra.constants import EDGE_KVS_PRESETS, EDGE_KVS_SIGNING_KEYS, EDGE_KVS_SIGNING_POLICY
from tests.events import FakeLambdaContext
from tests.fakes.keyvaluestore import FakeKeyValueStore
from tests.unit.edge_settings.conftest import KEYS, resource_properties

RESPONSE_URL = "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x?sig=1"


class Answers:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, url: str, body: bytes) -> None:
        assert len(body) < 4096  # CloudFormation's limit for a custom resource's answer
        self.sent.append((url, json.loads(body)))


def _app(aws: Any, store: FakeKeyValueStore, answers: Answers) -> EdgeSettingsApp:
    def services(store_arn: str, secret_arn: str) -> EdgeSettingsService:
        return EdgeSettingsService(
            CloudFrontKeyValueStore(store.client(aws), store_arn),
            SecretSigningKeys(aws.client("secretsmanager"), secret_arn),
        )

    return EdgeSettingsApp(services=services, respond=answers)


def _event(request_type: str, properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ServiceToken": properties["ServiceToken"],
        "ResponseURL": RESPONSE_URL,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/imgpipe-dev/1",
        "RequestId": "req-1",
        "LogicalResourceId": "DeliveryEdgeSettings",
        "ResourceType": "Custom::EdgeSettings",
        "ResourceProperties": properties,
        **extra,
    }


def test_create_answers_success_with_the_store_as_physical_id(
    aws: Any, store: FakeKeyValueStore, secret_arn: str
) -> None:
    answers = Answers()
    body = _app(aws, store, answers).handle(_event("Create", resource_properties(store.arn, secret_arn)))
    [(url, sent)] = answers.sent
    assert url == RESPONSE_URL and sent == body
    assert sent["Status"] == "SUCCESS"
    assert sent["PhysicalResourceId"] == store.arn
    assert (sent["StackId"], sent["RequestId"], sent["LogicalResourceId"]) == (
        "arn:aws:cloudformation:us-east-1:123456789012:stack/imgpipe-dev/1",
        "req-1",
        "DeliveryEdgeSettings",
    )
    # No secret in the answer (CloudFormation shows Data to anyone who can describe the stack)
    assert KEYS["k1"] not in json.dumps(sent)
    assert json.loads(store.items[EDGE_KVS_SIGNING_KEYS]) == KEYS


def test_a_new_preset_is_an_update_that_reaches_the_store(
    aws: Any, store: FakeKeyValueStore, secret_arn: str
) -> None:
    answers = Answers()
    app = _app(aws, store, answers)
    old = resource_properties(store.arn, secret_arn, policy="presets-unsigned")
    app.handle(_event("Create", old))
    new = resource_properties(
        store.arn, secret_arn, presets_json='{"hero":"w=1600&fm=auto"}', policy="required"
    )
    assert new["SettingsHash"] != old["SettingsHash"]
    app.handle(_event("Update", new, PhysicalResourceId=store.arn, OldResourceProperties=old))
    _, sent = answers.sent[-1]
    assert sent["Status"] == "SUCCESS" and sent["PhysicalResourceId"] == store.arn  # not a replacement
    assert store.items[EDGE_KVS_PRESETS] == '{"hero":"w=1600&fm=auto"}'
    assert store.items[EDGE_KVS_SIGNING_POLICY] == "required"


def test_delete_answers_success_and_leaves_the_store_alone(
    aws: Any, store: FakeKeyValueStore, secret_arn: str
) -> None:
    store.items = {EDGE_KVS_SIGNING_KEYS: json.dumps(KEYS)}
    answers = Answers()
    properties = resource_properties(store.arn, secret_arn)
    _app(aws, store, answers).handle(_event("Delete", properties, PhysicalResourceId=store.arn))
    [(_, sent)] = answers.sent
    assert sent["Status"] == "SUCCESS" and sent["PhysicalResourceId"] == store.arn
    assert store.calls == [] and EDGE_KVS_SIGNING_KEYS in store.items


def test_a_refusal_is_a_failed_answer_with_the_reason(aws: Any, store: FakeKeyValueStore) -> None:
    arn = aws.client("secretsmanager").create_secret(Name="empty", SecretString="{}")["ARN"]
    answers = Answers()
    _app(aws, store, answers).handle(_event("Create", resource_properties(store.arn, arn)))
    [(_, sent)] = answers.sent
    assert sent["Status"] == "FAILED"
    assert "signing-key secret cannot be used" in sent["Reason"] and "holds no key" in sent["Reason"]
    assert sent["PhysicalResourceId"] == store.arn  # the rollback's Delete names it, and does nothing


def test_an_unexpected_error_is_answered_too(aws: Any, store: FakeKeyValueStore) -> None:
    # Given a secret that does not exist (AccessDenied or ResourceNotFound in AWS)
    answers = Answers()
    missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf"
    _app(aws, store, answers).handle(_event("Create", resource_properties(store.arn, missing)))
    [(_, sent)] = answers.sent
    assert sent["Status"] == "FAILED" and "ResourceNotFoundException" in sent["Reason"]


def test_an_unknown_request_type_fails(aws: Any, store: FakeKeyValueStore, secret_arn: str) -> None:
    answers = Answers()
    _app(aws, store, answers).handle(_event("Replace", resource_properties(store.arn, secret_arn)))
    assert answers.sent[0][1]["Status"] == "FAILED"


def test_the_lambda_entry_point_answers_through_the_response_url(
    aws: Any, store: FakeKeyValueStore, secret_arn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The module's own app (built from a boto3 session) with the answer's PUT captured
    import edge_settings.handler as module  # noqa: PLC0415

    answers = Answers()
    module.app.cache_clear()
    monkeypatch.setattr(module, "app", lambda: _app(aws, store, answers))
    handler(_event("Delete", resource_properties(store.arn, secret_arn)), FakeLambdaContext())  # type: ignore[arg-type]
    assert answers.sent[0][1]["PhysicalResourceId"] == store.arn


def test_the_answer_goes_only_to_an_https_url() -> None:
    with pytest.raises(ValueError, match="https"):
        put_response("http://169.254.169.254/latest", b"{}")


def test_the_handlers_own_clients_sign_and_write(aws: Any, store: FakeKeyValueStore, secret_arn: str) -> None:
    # Given the clients the deployed function builds (boto3's session; the store's API needs SigV4A,
    # which botocore makes only with awscrt: without it this raises MissingDependencyException)
    aws.events.register("before-send.cloudfront-keyvaluestore", store._answer)
    answers = Answers()
    app = EdgeSettingsApp.from_session(aws)
    app.respond = answers
    app.handle(_event("Create", resource_properties(store.arn, secret_arn)))
    assert answers.sent[0][1]["Status"] == "SUCCESS", answers.sent[0][1].get("Reason")
    assert json.loads(store.items[EDGE_KVS_SIGNING_KEYS]) == KEYS
