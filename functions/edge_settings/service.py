"""Edge settings on every deploy: what the custom resource writes into the KeyValueStore, and how.

On Create and Update the stage's non-secret items (presets, signing policy: the resource's properties,
so any change of them in cdk.json is an Update) and the signing keys (read from the secret here, never
in a template) are put in one conditional `UpdateKeys`; items an older version of the resource wrote and
this one no longer does are deleted. Delete writes nothing: the store goes with the stack (or stays, for a
retained production stage), and removing the keys from a live store would make the edge refuse every
signed URL.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Protocol

from imgpipe.edge_store import (
    EDGE_KEYS,
    EdgeLimitError,
    EdgeStore,
    WriteResult,
    check_fits,
    settings_hash,
    signing_keys_value,
    write_items,
)
from infra.constants import EDGE_KVS_SIGNING_KEYS


class SigningKeySource(Protocol):
    def read(self) -> dict[str, str]:
        """The signing-key document; raises ValueError naming what is wrong with it."""
        ...


class SettingsRefused(ValueError):
    """The settings cannot be written as they are; the message is the deploy's failure reason."""


@dataclass(frozen=True)
class EdgeSettings:
    """What one deploy asks for: the non-secret items and their digest, from the resource's properties."""

    items: Mapping[str, str]
    digest: str

    @classmethod
    def from_properties(cls, properties: Mapping[str, object]) -> EdgeSettings:
        items = properties.get("Items")
        if not isinstance(items, Mapping) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in items.items()
        ):
            raise SettingsRefused("the resource's Items property must map edge keys to text")
        if EDGE_KVS_SIGNING_KEYS in items:
            raise SettingsRefused(f"{EDGE_KVS_SIGNING_KEYS!r} comes from the secret, never a template")
        digest = settings_hash(items)
        declared = properties.get("SettingsHash")
        if declared != digest:
            raise SettingsRefused(f"SettingsHash {declared!r} does not match the items ({digest})")
        return cls(items=dict(items), digest=digest)

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(self.items) | {EDGE_KVS_SIGNING_KEYS}


@dataclass(frozen=True)
class Applied:
    result: WriteResult
    digest: str
    signing_keys: int


class EdgeSettingsService:
    def __init__(self, store: EdgeStore, signing_keys: SigningKeySource) -> None:
        self._store = store
        self._signing_keys = signing_keys

    def apply(self, settings: EdgeSettings, previous_keys: Collection[str] = EDGE_KEYS) -> Applied:
        try:
            keys = self._signing_keys.read()
        except ValueError as error:
            raise SettingsRefused(f"the signing-key secret cannot be used: {error}") from None
        puts = {**settings.items, EDGE_KVS_SIGNING_KEYS: signing_keys_value(keys)}
        try:
            check_fits(puts)
        except EdgeLimitError as error:
            raise SettingsRefused(str(error)) from None
        deletes = set(previous_keys) - settings.keys
        result = write_items(self._store, puts, deletes)
        return Applied(result=result, digest=settings.digest, signing_keys=len(keys))
