"""Ports: what the services need from the outside world, as Protocols.

Services receive implementations of these; `imgpipe.adapters` holds the boto3 ones and `tests/` holds
in-memory fakes, so a service never knows which it got.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


class ObjectNotFound(LookupError):
    """The key names no object (or no current version of one)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class ObjectTooLarge(ValueError):
    """The object is bigger than the caller allows; raised before its body is read."""

    def __init__(self, key: str, size: int, limit: int) -> None:
        super().__init__(f"{key}: {size} bytes is over the limit of {limit}")
        self.key = key
        self.size = size
        self.limit = limit


@dataclass(frozen=True)
class ObjectHead:
    """What an object store knows about an object without reading its body."""

    key: str
    size: int
    content_type: str | None = None
    etag: str | None = None
    version_id: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredObject:
    """An object's body with its head."""

    head: ObjectHead
    data: bytes


class ObjectStore(Protocol):
    """One bucket (or a local stand-in for it)."""

    def head(self, key: str) -> ObjectHead:
        """Raises ObjectNotFound."""
        ...

    def get(self, key: str, *, max_bytes: int | None = None) -> StoredObject:
        """Raises ObjectNotFound, or ObjectTooLarge before reading a body over `max_bytes`."""
        ...

    def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str,
        cache_control: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None: ...

    def delete(self, key: str) -> None:
        """Deleting a missing key is not an error (as in S3)."""
        ...
