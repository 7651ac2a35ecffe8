"""`imgpipe keys`: the secret and the edge store change together; the local data dir's keys alone."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from imgpipe.cli import main
from imgpipe.dev.datadir import KEYS_FILE
from infra.constants import EDGE_KVS_SIGNING_KEYS
from tests.fakes.keyvaluestore import FakeKeyValueStore
from tests.unit.edge_settings.conftest import KEYS

OUTPUTS = {
    "ImagesUrl": "https://d111111abcdef8.cloudfront.net",
    "OriginalsBucket": "imgpipe-originals-dev",
    "TransformedBucket": "imgpipe-transformed-dev",
    "ImagesTable": "imgpipe-images-dev",
    "InteractiveDlq": "https://sqs.us-east-1.amazonaws.com/123456789012/i-dlq",
    "BulkDlq": "https://sqs.us-east-1.amazonaws.com/123456789012/b-dlq",
}


@pytest.fixture
def deployed(
    aws: Any, secret_arn: str, store: FakeKeyValueStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Stack outputs naming a moto secret and the wire-faked store, reached through boto3's session."""
    aws.events.register("before-send.cloudfront-keyvaluestore", store._answer)
    monkeypatch.setattr("imgpipe.dev.keys.boto3.session.Session", lambda **_: aws)
    store.items = {EDGE_KVS_SIGNING_KEYS: json.dumps(KEYS, separators=(",", ":"))}
    path = tmp_path / "outputs.json"
    outputs = {**OUTPUTS, "SigningKeysSecret": secret_arn, "EdgeKeyValueStore": store.arn}
    path.write_text(json.dumps({"imgpipe-dev": outputs}))
    return path


def _secret(aws: Any, arn: str) -> dict[str, str]:
    document: dict[str, str] = json.loads(
        aws.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    )
    return document


def test_list_shows_ids_and_fingerprints_but_no_secret(
    deployed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "list", "--stack-outputs", str(deployed)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert [line.split("\t")[0] for line in lines] == list(KEYS)
    assert "(signs new URLs)" in lines[0] and "sha256:" in lines[0]
    assert all(secret not in out for secret in KEYS.values())
    assert main(["keys", "list", "--show", "--stack-outputs", str(deployed)]) == 0
    assert KEYS["k1"] in capsys.readouterr().out


def test_list_fails_when_the_edge_copy_differs_from_the_secret(
    store: FakeKeyValueStore, deployed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store.items[EDGE_KVS_SIGNING_KEYS] = json.dumps({"k1": KEYS["k1"]})  # changed by hand, say
    assert main(["keys", "list", "--stack-outputs", str(deployed)]) == 1
    assert "differ from the secret's: run `imgpipe keys sync`" in capsys.readouterr().err
    assert main(["keys", "sync", "--stack-outputs", str(deployed)]) == 0
    assert main(["keys", "list", "--stack-outputs", str(deployed)]) == 0


def test_add_puts_a_new_key_in_the_secret_and_the_edge_store(
    aws: Any, secret_arn: str, store: FakeKeyValueStore, deployed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "add", "--stack-outputs", str(deployed)]) == 0
    secret = _secret(aws, secret_arn)
    assert list(secret)[:2] == list(KEYS)  # appended: the old first key still signs
    [new_id] = set(secret) - set(KEYS)
    assert new_id.startswith("k-") and len(secret[new_id]) == 43
    assert json.loads(store.items[EDGE_KVS_SIGNING_KEYS]) == secret
    assert store.calls[-1][0] == "UpdateKeys" and store.calls[-1][1]["IfMatch"]
    captured = capsys.readouterr()
    assert new_id in captured.out and secret[new_id] not in captured.out + captured.err


def test_retire_removes_a_key_from_both_and_refuses_the_last(
    aws: Any, secret_arn: str, store: FakeKeyValueStore, deployed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "retire", "k1", "--stack-outputs", str(deployed)]) == 0
    assert _secret(aws, secret_arn) == {"k-2": KEYS["k-2"]}
    assert json.loads(store.items[EDGE_KVS_SIGNING_KEYS]) == {"k-2": KEYS["k-2"]}
    writes = len(store.calls)
    assert main(["keys", "retire", "k-2", "--stack-outputs", str(deployed)]) != 0
    assert "last signing key" in capsys.readouterr().err
    assert _secret(aws, secret_arn) == {"k-2": KEYS["k-2"]} and len(store.calls) == writes
    assert main(["keys", "retire", "nope", "--stack-outputs", str(deployed)]) != 0
    assert "no signing key 'nope'" in capsys.readouterr().err


def test_a_failed_edge_write_says_how_to_finish_and_sync_does(
    aws: Any,
    secret_arn: str,
    store: FakeKeyValueStore,
    deployed: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given another writer that keeps winning for longer than the retries last
    store.concurrent_writes = 99
    monkeypatch.setattr("imgpipe.edge_store.time.sleep", lambda _: None)
    assert main(["keys", "retire", "k1", "--stack-outputs", str(deployed)]) == 1
    err = capsys.readouterr().err
    assert "the secret is updated but the edge store is not" in err and "imgpipe keys sync" in err
    assert KEYS["k1"] in store.items[EDGE_KVS_SIGNING_KEYS]  # the edge still accepts it
    # When the contention is over, sync copies the secret's document
    store.concurrent_writes = 0
    assert main(["keys", "sync", "--stack-outputs", str(deployed)]) == 0
    assert json.loads(store.items[EDGE_KVS_SIGNING_KEYS]) == _secret(aws, secret_arn) == {"k-2": KEYS["k-2"]}


def test_a_key_that_would_overflow_the_edge_value_is_refused_before_any_write(
    aws: Any, store: FakeKeyValueStore, deployed: Path, capsys: pytest.CaptureFixture[str], secret_arn: str
) -> None:
    full = {f"key-{n:02d}": "s" * 43 for n in range(18)}  # 991 bytes: one more does not fit
    aws.client("secretsmanager").put_secret_value(SecretId=secret_arn, SecretString=json.dumps(full))
    calls = len(store.calls)
    assert main(["keys", "add", "--stack-outputs", str(deployed)]) != 0
    assert "retire a key" in capsys.readouterr().err
    assert _secret(aws, secret_arn) == full and len(store.calls) == calls


def test_locally_the_data_dirs_key_file_changes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    assert main(["keys", "list", "--data", str(data)]) == 0  # created with one key on first use
    [first] = json.loads((data / KEYS_FILE).read_text())
    assert main(["keys", "add", "--show", "--data", str(data)]) == 0
    document = json.loads((data / KEYS_FILE).read_text())
    [added] = set(document) - {first}
    assert document[added] in capsys.readouterr().out  # asked for with --show
    assert stat.S_IMODE((data / KEYS_FILE).stat().st_mode) == 0o600
    assert main(["keys", "retire", first, "--data", str(data)]) == 0
    assert list(json.loads((data / KEYS_FILE).read_text())) == [added]
    assert main(["keys", "retire", added, "--data", str(data)]) != 0
    assert main(["keys", "sync", "--data", str(data)]) != 0  # nothing to sync locally
