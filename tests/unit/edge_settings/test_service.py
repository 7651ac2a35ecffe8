"""The service on the store's wire fake and a moto secret: what is put, deleted, retried and refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from edge_settings.service import EdgeSettings, EdgeSettingsService, SettingsRefused
from imgpipe.adapters.keyvaluestore import CloudFrontKeyValueStore, sigv4a_available
from imgpipe.adapters.signing_keys import SecretSigningKeys
from imgpipe.edge_store import (
    EDGE_KEYS,
    MAX_VALUE_BYTES,
    EdgeLimitError,
    StoreConflict,
    check_fits,
    write_items,
)
from infra.constants import EDGE_KVS_PRESETS, EDGE_KVS_SIGNING_KEYS, EDGE_KVS_SIGNING_POLICY
from tests.fakes.keyvaluestore import FakeKeyValueStore
from tests.unit.edge_settings.conftest import KEYS, PRESETS_JSON, resource_properties


def _service(aws: Any, store: FakeKeyValueStore, secret_arn: str) -> EdgeSettingsService:
    return EdgeSettingsService(
        CloudFrontKeyValueStore(store.client(aws), store.arn),
        SecretSigningKeys(aws.client("secretsmanager"), secret_arn),
    )


def test_the_client_signs_with_sigv4a() -> None:
    # The data plane accepts SigV4A only; botocore makes it with the CRT, which must be importable.
    assert sigv4a_available()
    fake = FakeKeyValueStore()
    state = CloudFrontKeyValueStore(fake.client(), fake.arn).describe()
    assert state.status == "READY"
    assert fake.calls == [("DescribeKeyValueStore", {})]


def test_create_writes_presets_policy_and_the_secrets_keys(
    aws: Any, store: FakeKeyValueStore, secret_arn: str
) -> None:
    # Given a fresh store and the stage's settings
    settings = EdgeSettings.from_properties(resource_properties(store.arn, secret_arn, policy="required"))
    etag_before = store.etag
    # When the settings are applied
    applied = _service(aws, store, secret_arn).apply(settings, previous_keys=())
    # Then the store holds exactly what the edge functions read, in their formats
    assert store.items == {
        EDGE_KVS_PRESETS: PRESETS_JSON,
        EDGE_KVS_SIGNING_POLICY: "required",
        EDGE_KVS_SIGNING_KEYS: json.dumps(KEYS, separators=(",", ":")),
    }
    assert json.loads(store.items[EDGE_KVS_SIGNING_KEYS]) == KEYS
    # in one conditional write with the ETag just read
    assert [name for name, _ in store.calls] == ["DescribeKeyValueStore", "UpdateKeys"]
    write = store.calls[1][1]
    assert write["IfMatch"] == etag_before and "Deletes" not in write
    assert store.etag != etag_before
    assert applied.result.attempts == 1 and applied.signing_keys == 2


def test_update_deletes_only_what_an_older_version_wrote_and_no_longer_does(
    aws: Any, store: FakeKeyValueStore, secret_arn: str
) -> None:
    store.items = {EDGE_KVS_PRESETS: "{}", EDGE_KVS_SIGNING_POLICY: "off", "old-setting": "x", "foreign": "y"}
    settings = EdgeSettings.from_properties(resource_properties(store.arn, secret_arn))
    applied = _service(aws, store, secret_arn).apply(settings, previous_keys={*EDGE_KEYS, "old-setting"})
    assert applied.result.deletes == ("old-setting",)
    assert "old-setting" not in store.items
    assert store.items["foreign"] == "y"  # nobody said this resource wrote it
    assert store.items[EDGE_KVS_SIGNING_POLICY] == "required"


def test_a_conflicting_etag_is_read_again_and_retried(
    aws: Any, store: FakeKeyValueStore, secret_arn: str
) -> None:
    # Given another writer that gets in twice between our read and our write
    store.concurrent_writes = 2
    settings = EdgeSettings.from_properties(resource_properties(store.arn, secret_arn))
    applied = _service(aws, store, secret_arn).apply(settings, previous_keys=())
    # Then the third attempt, with a fresh ETag, lands
    assert applied.result.attempts == 3
    assert [name for name, _ in store.calls].count("DescribeKeyValueStore") == 3
    assert store.items[EDGE_KVS_SIGNING_POLICY] == "required"


def test_conflicts_that_never_end_fail_with_the_conflict() -> None:
    store = FakeKeyValueStore(concurrent_writes=99)
    adapter = CloudFrontKeyValueStore(store.client(), store.arn)
    with pytest.raises(StoreConflict):
        write_items(adapter, {EDGE_KVS_SIGNING_POLICY: "off"}, attempts=3, sleep=lambda _: None)
    assert store.items == {}


def test_a_store_still_provisioning_is_waited_for() -> None:
    store = FakeKeyValueStore(status="PROVISIONING")
    adapter = CloudFrontKeyValueStore(store.client(), store.arn)
    pauses: list[float] = []

    def ready_after_a_pause(seconds: float) -> None:
        pauses.append(seconds)
        store.status = "READY"

    result = write_items(adapter, {EDGE_KVS_SIGNING_POLICY: "off"}, sleep=ready_after_a_pause)
    assert result.attempts == 2 and pauses == [0.5]
    assert store.items == {EDGE_KVS_SIGNING_POLICY: "off"}


def test_keys_that_do_not_fit_a_value_fail_the_deploy_before_any_write(
    aws: Any, store: FakeKeyValueStore
) -> None:
    # Given a secret someone filled by hand with more keys than 1 KB holds
    many = {f"key-{n:02d}": "s" * 60 for n in range(20)}
    arn = aws.client("secretsmanager").create_secret(Name="too-many", SecretString=json.dumps(many))["ARN"]
    settings = EdgeSettings.from_properties(resource_properties(store.arn, arn))
    with pytest.raises(SettingsRefused, match=r"'signing-keys' is \d+ bytes.*1 to 1024.*retire a key"):
        _service(aws, store, arn).apply(settings)
    assert store.items == {} and [name for name, _ in store.calls] == []


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ("{}", "holds no key"),
        ('{"k1": "short"}', "16 to 256 printable"),
        ("not json", "not JSON"),
    ],
)
def test_an_unusable_secret_fails_the_deploy_with_its_reason(
    aws: Any, store: FakeKeyValueStore, document: str, reason: str
) -> None:
    arn = aws.client("secretsmanager").create_secret(Name="bad", SecretString=document)["ARN"]
    settings = EdgeSettings.from_properties(resource_properties(store.arn, arn))
    with pytest.raises(SettingsRefused, match=reason):
        _service(aws, store, arn).apply(settings)
    assert store.items == {}


def test_properties_whose_hash_does_not_match_are_refused(store: FakeKeyValueStore) -> None:
    properties = resource_properties(store.arn, "arn:secret")
    properties["Items"] = {**properties["Items"], EDGE_KVS_SIGNING_POLICY: "off"}
    with pytest.raises(SettingsRefused, match="does not match"):
        EdgeSettings.from_properties(properties)


def test_limits_are_checked_in_utf8_bytes() -> None:
    check_fits({"k": "é" * (MAX_VALUE_BYTES // 2)})
    with pytest.raises(EdgeLimitError, match="1026 bytes"):
        check_fits({"k": "é" * (MAX_VALUE_BYTES // 2 + 1)})
    with pytest.raises(EdgeLimitError, match="513 bytes"):
        check_fits({"k" * 513: "v"})
    with pytest.raises(EdgeLimitError, match="holds 5242880"):
        check_fits({f"key-{n}": "v" * 1000 for n in range(5300)})
