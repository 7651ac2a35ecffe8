"""Ports: what the services need from the outside world, as Protocols.

Services receive implementations of these; `imgpipe.adapters` holds the boto3 ones and `tests/` holds
in-memory fakes, so a service never knows which it got.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from imgpipe.records import BatchRecord, EventDetail, ImageRecord, SourcePointer


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
        content_disposition: str | None = None,
    ) -> None: ...

    def delete(self, key: str) -> None:
        """Deleting a missing key is not an error (as in S3)."""
        ...


# Ingest's extra needs. Separate Protocols so `ObjectStore` (which delivery implements and fakes) stays as
# it is; `S3ObjectStore` and `tests.fakes.FakeObjectStore` implement all of them.


class ObjectTags(Protocol):
    def tags(self, key: str) -> dict[str, str]:
        """The object's tags. Raises ObjectNotFound."""
        ...


class ObjectMover(Protocol):
    def move(
        self, key: str, new_key: str, *, metadata: Mapping[str, str], if_match: str | None = None
    ) -> None:
        """Copy to `new_key` in the same bucket with `metadata` added, then delete `key`.

        With `if_match` (an ETag) only that version of the object is moved. Raises ObjectNotFound when
        `key` is gone or holds another version. Not atomic: repeating a half-done move finishes it.
        """
        ...


class ObjectCopier(Protocol):
    def copy(self, key: str, new_key: str) -> None:
        """Server-side copy within the bucket, keeping content type, cache control and metadata.

        Raises ObjectNotFound.
        """
        ...


class PrefixDeleter(Protocol):
    def list_keys(self, prefix: str) -> list[str]: ...

    def delete_many(self, keys: list[str]) -> None:
        """Missing keys are not an error."""
        ...


class OriginalsStore(ObjectStore, ObjectTags, ObjectMover, Protocol):
    """The originals bucket as ingest uses it: read, check scan tags, move to quarantine."""


class RenditionStore(ObjectStore, ObjectCopier, PrefixDeleter, Protocol):
    """The transformed bucket as ingest uses it: write, copy for duplicates, delete a source's renditions."""


class ConditionFailed(Exception):
    """A conditional write found the item in another state than the one it required."""


class QuotaGate(Protocol):
    """Per-tenant plan limits enforced at ingest (the plans are `imgpipe.plans`; ingest only asks)."""

    def admits(self, tenant: str, size: int) -> bool:
        """Count one upload of `size` bytes, or return False (nothing counted): reason `quota`."""
        ...

    def release(self, tenant: str, size: int) -> None:
        """Give back the storage of an upload that was rejected or deleted (the image count stays spent)."""
        ...


class EventPublisher(Protocol):
    def publish(self, details: Sequence[EventDetail]) -> None:
        """Put every detail on the bus (detail type from the model); raises if any entry failed."""
        ...


BatchCounter = Literal["ready", "rejected", "deleted"]


class MetadataRepository(Protocol):
    """Image records, source pointers and batches in one table (docs/ingest.md)."""

    def get_source(self, source_key: str) -> SourcePointer | None: ...

    def claim_source(self, pointer: SourcePointer) -> SourcePointer | None:
        """Store `pointer` if no pointer is stored or the stored one has a smaller sequencer.

        Returns the pointer it replaced (None when there was none); raises ConditionFailed when the
        stored sequencer is equal or greater (a duplicate or an older event).
        """
        ...

    def save_source(self, pointer: SourcePointer) -> None:
        """Rewrite the pointer if its stored sequencer is still `pointer.sequencer`; else ConditionFailed."""
        ...

    def get_image(self, image_id: str) -> ImageRecord | None:
        """Strongly consistent."""
        ...

    def create_image(self, record: ImageRecord) -> None:
        """Raises ConditionFailed when a record with this id exists."""
        ...

    def save_image(self, record: ImageRecord, *, expected_status: str) -> None:
        """Replace the record if its stored status is `expected_status`; raises ConditionFailed."""
        ...

    def finish_image(self, record: ImageRecord, *, expected_status: str, count: BatchCounter | None) -> None:
        """Replace the record (status change) and, in the same transaction, add one to the batch counter
        `count` (and to `done`) of `record.batch_id`. Raises ConditionFailed when the stored status is not
        `expected_status`, in which case nothing was written.
        """
        ...

    def find_by_checksum(self, tenant: str, sha256: str) -> list[ImageRecord]:
        """Records of this tenant with this checksum (eventually consistent index)."""
        ...

    def get_batch(self, tenant: str, batch_id: str) -> BatchRecord | None:
        """Strongly consistent."""
        ...

    def set_batch_expected(self, tenant: str, batch_id: str, expected: int, now: str) -> BatchRecord:
        """Set `expected` once; setting the same value again is a no-op, another value ConditionFailed."""
        ...

    def claim_batch_completion(self, tenant: str, batch_id: str, now: str, until: str) -> BatchRecord | None:
        """Take the right to announce `Batch Completed`, until `until` (a lease; times as utc_now_text).

        Succeeds (returns the batch) only if `expected` is set, `done >= expected`, the batch is not
        completed yet and no other caller holds an unexpired claim (`claim_until` absent or < `now`);
        everyone else gets None. A claimant that dies or cannot publish simply lets the lease run out.
        """
        ...

    def mark_batch_completed(self, tenant: str, batch_id: str, now: str) -> None:
        """Record that `Batch Completed` was published: `completed`, `completed_at` set, claim cleared."""
        ...

    def release_batch_claim(self, tenant: str, batch_id: str) -> None:
        """Give a claim up early (the announcement failed) so the next attempt need not wait for the lease."""
        ...
