"""`FakeObjectStore`: one bucket in a dict, with the same errors and extras as `S3ObjectStore`."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from imgpipe.ports import ObjectHead, ObjectNotFound, ObjectTooLarge, StoredObject


@dataclass
class FakeObject:
    data: bytes
    content_type: str
    cache_control: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    content_disposition: str | None = None

    @property
    def etag(self) -> str:
        return hashlib.md5(self.data).hexdigest()  # S3's ETag of a single-part upload


class FakeObjectStore:
    """A bucket held in memory. `fail_on` lets a test make one operation raise (fault injection)."""

    def __init__(self, bucket: str = "fake-bucket") -> None:
        self.bucket = bucket
        self.objects: dict[str, FakeObject] = {}
        self.calls: list[tuple[str, str]] = []  # (operation, key), to assert what was (not) touched
        # operation name -> callable(key) that may raise; e.g. {"get": raise_throttling}
        self.fail_on: dict[str, Callable[[str], None]] = {}
        self._lock = threading.Lock()

    def _record(self, operation: str, key: str) -> None:
        with self._lock:
            self.calls.append((operation, key))
        failure = self.fail_on.get(operation)
        if failure is not None:
            failure(key)

    def _object(self, key: str) -> FakeObject:
        found = self.objects.get(key)
        if found is None:
            raise ObjectNotFound(key)
        return found

    def _head(self, key: str, obj: FakeObject) -> ObjectHead:
        return ObjectHead(
            key=key,
            size=len(obj.data),
            content_type=obj.content_type,
            etag=obj.etag,
            metadata=dict(obj.metadata),
        )

    # ObjectStore

    def head(self, key: str) -> ObjectHead:
        self._record("head", key)
        return self._head(key, self._object(key))

    def get(self, key: str, *, max_bytes: int | None = None) -> StoredObject:
        self._record("get", key)
        obj = self._object(key)
        if max_bytes is not None and len(obj.data) > max_bytes:
            raise ObjectTooLarge(key, len(obj.data), max_bytes)
        return StoredObject(head=self._head(key, obj), data=obj.data)

    def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str,
        cache_control: str | None = None,
        metadata: Mapping[str, str] | None = None,
        content_disposition: str | None = None,
    ) -> None:
        self._record("put", key)
        with self._lock:
            self.objects[key] = FakeObject(
                data=bytes(data),
                content_type=content_type,
                cache_control=cache_control,
                metadata=dict(metadata or {}),
                content_disposition=content_disposition,
            )

    def delete(self, key: str) -> None:
        self._record("delete", key)
        with self._lock:
            self.objects.pop(key, None)

    # Extras (ObjectTags, ObjectMover, ObjectCopier, PrefixDeleter)

    def tags(self, key: str) -> dict[str, str]:
        self._record("tags", key)
        return dict(self._object(key).tags)

    def move(
        self, key: str, new_key: str, *, metadata: Mapping[str, str], if_match: str | None = None
    ) -> None:
        self._record("move", key)
        with self._lock:
            source = self.objects.get(key)
            if source is None or (if_match is not None and source.etag != if_match.strip('"')):
                raise ObjectNotFound(key)
            self.objects[new_key] = FakeObject(
                data=source.data,
                content_type=source.content_type,
                cache_control=source.cache_control,
                metadata={**source.metadata, **metadata},
                tags=dict(source.tags),
            )
            del self.objects[key]

    def copy(self, key: str, new_key: str) -> None:
        self._record("copy", key)
        with self._lock:
            source = self.objects.get(key)
            if source is None:
                raise ObjectNotFound(key)
            self.objects[new_key] = FakeObject(
                data=source.data,
                content_type=source.content_type,
                cache_control=source.cache_control,
                metadata=dict(source.metadata),
            )

    def list_keys(self, prefix: str) -> list[str]:
        self._record("list", prefix)
        with self._lock:
            return sorted(key for key in self.objects if key.startswith(prefix))

    def delete_many(self, keys: list[str]) -> None:
        for key in keys:
            self._record("delete", key)
        with self._lock:
            for key in keys:
                self.objects.pop(key, None)

    # Test helpers

    def add(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Put an object without recording a call (a test's Given)."""
        self.objects[key] = FakeObject(
            data=bytes(data),
            content_type=content_type,
            metadata=dict(metadata or {}),
            tags=dict(tags or {}),
        )

    def data(self, key: str) -> bytes:
        return self._object(key).data

    def keys(self) -> list[str]:
        return sorted(self.objects)
