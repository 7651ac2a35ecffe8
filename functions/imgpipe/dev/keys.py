"""URL-signing keys of a stack: list, add, retire (`imgpipe keys`), and sync the edge copy.

Deployed, the keys live in two places that must agree: the Secrets Manager secret (read by the resize
function, cached up to five minutes) and the edge KeyValueStore's `signing-keys` item (read by the
viewer-request function). Every change is made to the secret first (the source of truth, which the
edge-settings custom resource also copies on each deploy) and then the whole document is written to the
store with a conditional UpdateKeys; if that second write fails, `imgpipe keys sync` repeats it.

Locally the keys are the data directory's `signing-keys.json`; `imgpipe dev` reads it when it starts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import boto3  # type: ignore[import-untyped]

from imgpipe.adapters.keyvaluestore import CloudFrontKeyValueStore, sigv4a_available
from imgpipe.adapters.signing_keys import SecretSigningKeys
from imgpipe.dev.datadir import DataDir, _write_json
from imgpipe.dev.ops import TargetError, read_stack_outputs
from imgpipe.edge_store import (
    EdgeStore,
    new_key_id,
    new_secret,
    parse_key_document,
    signing_keys_value,
    with_key_added,
    with_key_retired,
    write_items,
)
from infra.constants import EDGE_KVS_SIGNING_KEYS


class KeyChangeIncomplete(RuntimeError):
    """The secret changed but the edge store did not; the message says how to finish."""


class KeyRing(Protocol):
    description: str

    def read(self) -> dict[str, str]: ...

    def write(self, document: Mapping[str, str]) -> None: ...


def fingerprint(secret: str) -> str:
    """Tells keys apart in a listing without showing them."""
    return "sha256:" + hashlib.sha256(secret.encode("ascii")).hexdigest()[:12]


class LocalKeyRing:
    def __init__(self, data_dir: Path) -> None:
        self.data = DataDir(data_dir)
        self.description = f"local keys in {self.data.keys_file} (`imgpipe dev` reads them when it starts)"

    def read(self) -> dict[str, str]:
        self.data.ensure()
        document = self.data.signing_keys()  # created with one key on first use
        try:
            return parse_key_document(signing_keys_value(document))
        except ValueError as error:
            raise TargetError(f"{self.data.keys_file}: {error}") from None

    def write(self, document: Mapping[str, str]) -> None:
        _write_json(self.data.keys_file, dict(document), mode=0o600)


class DeployedKeyRing:
    """The stack's secret and its edge store, from `cdk deploy --outputs-file` outputs."""

    def __init__(self, secret: SecretSigningKeys, store: EdgeStore, description: str) -> None:
        self.secret = secret
        self.store = store
        self.description = description

    @classmethod
    def from_outputs(cls, path: Path, session: Any = None) -> DeployedKeyRing:
        outputs = read_stack_outputs(path)
        missing = [name for name in ("SigningKeysSecret", "EdgeKeyValueStore") if not outputs.get(name)]
        if missing:
            raise TargetError(f"{path}: missing stack outputs {', '.join(missing)}")
        if not sigv4a_available():
            raise TargetError(
                "the edge KeyValueStore API is signed with SigV4A, which needs the AWS CRT: "
                "pip install awscrt (make install has it)"
            )
        secret_arn, store_arn = outputs["SigningKeysSecret"], outputs["EdgeKeyValueStore"]
        region = secret_arn.split(":")[3] if secret_arn.count(":") >= 6 else None
        session = session or boto3.session.Session(region_name=region)
        return cls(
            SecretSigningKeys(session.client("secretsmanager", region_name=region), secret_arn),
            CloudFrontKeyValueStore(
                session.client("cloudfront-keyvaluestore", region_name=region), store_arn
            ),
            f"deployed keys in {secret_arn} and {store_arn}",
        )

    def read(self) -> dict[str, str]:
        try:
            return self.secret.read()
        except ValueError as error:
            raise TargetError(str(error)) from None

    def write(self, document: Mapping[str, str]) -> None:
        self.secret.write(document)
        self.sync(document, changed_secret=True)

    def edge_in_step(self, document: Mapping[str, str]) -> bool:
        """Whether the store's `signing-keys` item is this document (what the edge verifies with)."""
        if not isinstance(self.store, CloudFrontKeyValueStore):
            return True
        return self.store.get(EDGE_KVS_SIGNING_KEYS) == signing_keys_value(document)

    def sync(self, document: Mapping[str, str] | None = None, *, changed_secret: bool = False) -> None:
        """Write the secret's document to the edge store (what `cdk deploy` also does)."""
        document = self.read() if document is None else document
        try:
            write_items(self.store, {EDGE_KVS_SIGNING_KEYS: signing_keys_value(document)})
        except Exception as error:
            if not changed_secret:
                raise
            raise KeyChangeIncomplete(
                f"the secret is updated but the edge store is not ({type(error).__name__}: {error}); "
                "run `imgpipe keys sync` with the same --stack-outputs to finish"
            ) from error


@dataclass(frozen=True)
class KeyView:
    key_id: str
    length: int
    fingerprint: str
    signs: bool  # the document's first key: what `imgpipe url --sign` and the SDK helpers sign with
    secret: str

    def line(self, show: bool) -> str:
        role = "  (signs new URLs)" if self.signs else ""
        secret = f"  {self.secret}" if show else ""
        return f"{self.key_id}\t{self.length} chars\t{self.fingerprint}{role}{secret}"


def describe(document: Mapping[str, str]) -> list[KeyView]:
    return [
        KeyView(key_id, len(secret), fingerprint(secret), index == 0, secret)
        for index, (key_id, secret) in enumerate(document.items())
    ]


def add_key(ring: KeyRing, *, make_secret: Callable[[], str] = new_secret) -> KeyView:
    document = ring.read()
    key_id = new_key_id(document)
    try:
        added = with_key_added(document, key_id, make_secret())
    except ValueError as error:
        raise TargetError(str(error)) from None
    ring.write(added)
    return describe(added)[-1]


def retire_key(ring: KeyRing, key_id: str) -> dict[str, str]:
    document = ring.read()
    try:
        retired = with_key_retired(document, key_id)
    except KeyError as error:
        raise TargetError(str(error.args[0])) from None
    except ValueError as error:
        raise TargetError(str(error)) from None
    ring.write(retired)
    return retired
