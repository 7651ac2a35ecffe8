"""The edge KeyValueStore's contents: its three items, CloudFront's limits, and one conditional write.

The viewer-request function (`functions/edge/viewer_request.js`) reads three keys: `signing-policy` (the
policy as plain text), `presets` (JSON preset name -> query) and `signing-keys` (JSON key id -> secret,
the same document as the Secrets Manager secret); the viewer-response function reads `presets`. The stack
(infra/edge.py, at synth), the edge-settings custom resource (`functions/edge_settings`, at deploy) and
`imgpipe keys` (rotation) all build the items and check the limits here, so a document that does not
fit is refused with the same reason wherever it is made.

Pure: no boto3. The store itself is a port (`EdgeStore`); `imgpipe.adapters.keyvaluestore` is the
CloudFront one.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from imgpipe.delivery import parse_signing_keys
from infra.constants import EDGE_KVS_PRESETS, EDGE_KVS_SIGNING_KEYS, EDGE_KVS_SIGNING_POLICY

# CloudFront KeyValueStore quotas (Developer Guide, "Quotas", and the import file format): a key of at
# most 512 bytes, a value of at most 1 KB, 5 MB in all. Checked in UTF-8 bytes, the stricter reading.
MAX_KEY_BYTES: Final = 512
MAX_VALUE_BYTES: Final = 1024
MAX_TOTAL_BYTES: Final = 5 * 1024 * 1024
EDGE_KEYS: Final = (EDGE_KVS_PRESETS, EDGE_KVS_SIGNING_POLICY, EDGE_KVS_SIGNING_KEYS)

# `imgpipe keys add`: ids like the generated `k1`, secrets of 43 URL-safe characters (256 random bits),
# inside the 16 to 256 printable characters every verifier accepts.
NEW_KEY_ID_PREFIX: Final = "k-"
NEW_SECRET_BYTES: Final = 32


class EdgeLimitError(ValueError):
    """An item does not fit the KeyValueStore's quotas; the message names it and the limit."""


class StoreConflict(Exception):
    """The store changed between reading its ETag and writing (or is not ready yet): read again."""


def _json(document: Mapping[str, str]) -> str:
    return json.dumps(dict(document), separators=(",", ":"), ensure_ascii=False)


def presets_value(presets: Mapping[str, str]) -> str:
    """The `presets` item: the same text as the functions' IMGPIPE_PRESETS (sorted, compact)."""
    return json.dumps(dict(presets), sort_keys=True, separators=(",", ":"))


def signing_keys_value(document: Mapping[str, str]) -> str:
    """The `signing-keys` item: the secret's document in its own order (signers use its first key)."""
    return _json(document)


def settings_items(presets_json: str, signing_policy: str) -> dict[str, str]:
    """The two items the stack knows at synth time (no secret in a template)."""
    return {EDGE_KVS_PRESETS: presets_json, EDGE_KVS_SIGNING_POLICY: signing_policy}


def check_fits(items: Mapping[str, str]) -> None:
    """Refuse any item over CloudFront's key or value size, or a store over its total size."""
    total = 0
    for key, value in items.items():
        key_bytes, value_bytes = len(key.encode("utf-8")), len(value.encode("utf-8"))
        if not 1 <= key_bytes <= MAX_KEY_BYTES:
            raise EdgeLimitError(f"edge key {key[:40]!r} is {key_bytes} bytes; CloudFront allows 1 to 512")
        if not 1 <= value_bytes <= MAX_VALUE_BYTES:
            hint = {
                EDGE_KVS_PRESETS: "use fewer or shorter presets",
                EDGE_KVS_SIGNING_KEYS: "retire a key (`imgpipe keys retire KEY_ID`) before adding one",
            }.get(key, "shorten it")
            raise EdgeLimitError(
                f"edge item {key!r} is {value_bytes} bytes; a CloudFront KeyValueStore value holds 1 to "
                f"{MAX_VALUE_BYTES}: {hint}"
            )
        total += key_bytes + value_bytes
    if total > MAX_TOTAL_BYTES:
        raise EdgeLimitError(f"the edge items are {total} bytes; a KeyValueStore holds {MAX_TOTAL_BYTES}")


def parse_key_document(text: str) -> dict[str, str]:
    """A signing-key document as the secret holds it, every secret checked as the verifiers check it."""
    try:
        document = json.loads(text)
    except ValueError as error:
        raise ValueError(f"the signing-key document is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise ValueError("the signing-key document is a JSON object of key id -> secret")
    parse_signing_keys(document)  # raises ValueError naming the unusable key
    if not document:
        raise ValueError("the signing-key document holds no key; the edge could verify no signature")
    return {str(key): str(value) for key, value in document.items()}


def edge_items(presets_json: str, signing_policy: str, keys: Mapping[str, str]) -> dict[str, str]:
    """All three items, checked against the limits."""
    items = {**settings_items(presets_json, signing_policy), EDGE_KVS_SIGNING_KEYS: signing_keys_value(keys)}
    check_fits(items)
    return items


def settings_hash(items: Mapping[str, str]) -> str:
    """A digest of the non-secret items: a property of the custom resource, so any change is an Update."""
    digest = hashlib.sha256()
    for key in sorted(items):
        digest.update(key.encode("utf-8") + b"\0" + items[key].encode("utf-8") + b"\0")
    return digest.hexdigest()[:32]


def new_key_id(existing: Collection[str]) -> str:
    while True:
        key_id = NEW_KEY_ID_PREFIX + secrets.token_hex(4)
        if key_id not in existing:
            return key_id


def new_secret() -> str:
    return secrets.token_urlsafe(NEW_SECRET_BYTES)


def with_key_added(document: Mapping[str, str], key_id: str, secret: str) -> dict[str, str]:
    """The document with a new key appended: verifiers accept it at once, signers that take the first
    key keep signing with the old one until it is retired."""
    if key_id in document:
        raise ValueError(f"signing key {key_id!r} exists already")
    added = {**document, key_id: secret}
    parse_signing_keys(added)
    check_fits({EDGE_KVS_SIGNING_KEYS: signing_keys_value(added)})
    return added


def with_key_retired(document: Mapping[str, str], key_id: str) -> dict[str, str]:
    if key_id not in document:
        raise KeyError(f"no signing key {key_id!r} (keys: {', '.join(document) or 'none'})")
    if len(document) == 1:
        raise ValueError(
            f"{key_id!r} is the last signing key; add its successor first (`imgpipe keys add`), "
            "then retire it"
        )
    return {key: value for key, value in document.items() if key != key_id}


# The store


@dataclass(frozen=True)
class StoreState:
    etag: str
    status: str  # READY once CloudFront has provisioned the store
    item_count: int
    total_bytes: int


class EdgeStore(Protocol):
    """One CloudFront KeyValueStore's data plane."""

    def describe(self) -> StoreState: ...

    def update_keys(self, etag: str, puts: Mapping[str, str], deletes: Collection[str]) -> StoreState:
        """All or nothing, if the store's ETag is still `etag`; raises StoreConflict otherwise."""
        ...


@dataclass(frozen=True)
class WriteResult:
    puts: tuple[str, ...]
    deletes: tuple[str, ...]
    attempts: int
    state: StoreState


READY: Final = "READY"


def write_items(
    store: EdgeStore,
    puts: Mapping[str, str],
    deletes: Collection[str] = (),
    *,
    attempts: int = 6,
    backoff_s: float = 0.5,
    sleep: Callable[[float], None] | None = None,
) -> WriteResult:
    """Put and delete in one conditional UpdateKeys, reading the ETag again after a conflict.

    A conflict means someone else wrote between our read and our write (another deploy, `imgpipe keys`),
    or that the store is still being provisioned; both pass, so a few tries with a growing pause do.
    """
    check_fits(puts)
    deletes = tuple(sorted(set(deletes) - set(puts)))
    for attempt in range(1, attempts + 1):
        state = store.describe()
        try:
            if state.status != READY:
                raise StoreConflict(f"the store is {state.status}, not {READY}")
            written = store.update_keys(state.etag, puts, deletes)
        except StoreConflict:
            if attempt == attempts:
                raise
            (sleep or time.sleep)(backoff_s * 2 ** (attempt - 1))
            continue
        return WriteResult(puts=tuple(sorted(puts)), deletes=deletes, attempts=attempt, state=written)
    raise AssertionError("unreachable")  # pragma: no cover
