"""A signing-key secret under moto and a KeyValueStore on the wire (tests/fakes/keyvaluestore.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from moto import mock_aws

from imgpipe.core import DEFAULT_PRESETS
from imgpipe.edge_store import presets_value, settings_hash, settings_items
from tests.fakes.keyvaluestore import FakeKeyValueStore

KEYS = {"k1": "a" * 64, "k-2": "imgpipe-second-key-0123456789"}
SECRET_NAME = "imgpipe-signing-keys-test"
PRESETS_JSON = presets_value(DEFAULT_PRESETS)


def resource_properties(
    store_arn: str, secret_arn: str, *, presets_json: str = PRESETS_JSON, policy: str = "required"
) -> dict[str, Any]:
    """The custom resource's properties, as infra/edge_settings.py synthesises them."""
    items = settings_items(presets_json, policy)
    return {
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:imgpipe-test-edge-settings",
        "KeyValueStoreArn": store_arn,
        "SigningKeysSecretArn": secret_arn,
        "Items": items,
        "SettingsHash": settings_hash(items),
    }


@pytest.fixture
def aws() -> Iterator[Any]:
    with mock_aws():
        yield boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        )


@pytest.fixture
def secret_arn(aws: Any) -> str:
    created = aws.client("secretsmanager").create_secret(Name=SECRET_NAME, SecretString=json.dumps(KEYS))
    return str(created["ARN"])


@pytest.fixture
def store() -> FakeKeyValueStore:
    return FakeKeyValueStore()
