"""What the API service needs from the outside world, beyond `imgpipe.ports`.

`imgpipe.adapters.api_dynamodb` and `imgpipe.adapters.api_s3` implement these over boto3;
`tests.fakes.api` holds in-memory ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from imgpipe.plans import Usage
from imgpipe.records import BatchRecord, ImageRecord


@dataclass(frozen=True)
class ApiKeyBinding:
    """The table item that maps one API Gateway key id to its tenant (and, optionally, a plan)."""

    api_key_id: str
    tenant: str
    plan: str | None = None


@dataclass(frozen=True)
class ImageListing:
    """What to list: one tenant's images (or one of its batches), newest first, from `before` on."""

    tenant: str
    limit: int
    batch_id: str | None = None
    status: str | None = None
    exclude_status: str | None = None
    tag: str | None = None
    since: str | None = None  # created_at lower bound (inclusive), ISO 8601 text
    before: str | None = None  # the order key of the last item already seen (exclusive)


@dataclass(frozen=True)
class ImageSlice:
    items: list[ImageRecord] = field(default_factory=list)
    # The order key (`{created_at}#{image_id}`) to continue before; None when nothing is left.
    next_before: str | None = None


def order_key(record: ImageRecord) -> str:
    """The tenant and batch indexes' sort key (imgpipe.adapters.dynamodb.image_item)."""
    return f"{record.created_at}#{record.image_id}"


class ApiRepository(Protocol):
    def api_key(self, api_key_id: str) -> ApiKeyBinding | None: ...

    def tenant_plan(self, tenant: str) -> str | None:
        """The plan named by the tenant's own item (a JWT caller has no API key item)."""
        ...

    def usage(self, tenant: str, month: str) -> Usage: ...

    def get_image(self, image_id: str) -> ImageRecord | None: ...

    def list_images(self, listing: ImageListing) -> ImageSlice:
        """Up to `listing.limit` matching records. Fewer (even none) with a `next_before` is allowed when a
        filter skipped many items: the read per call is bounded, the caller continues from `next_before`."""
        ...

    def batch_images(self, tenant: str, batch_id: str) -> Iterator[ImageRecord]:
        """Every record of the batch, oldest first."""
        ...

    def get_batch(self, tenant: str, batch_id: str) -> BatchRecord | None: ...

    def save_image(self, record: ImageRecord, *, expected_status: str) -> None:
        """Write the record if the stored one still has `expected_status`; raises ConditionFailed."""
        ...

    def create_batch(self, batch: BatchRecord) -> None:
        """Raises imgpipe.ports.ConditionFailed when the batch exists."""
        ...


class UploadSigner(Protocol):
    def presign_post(
        self, key: str, *, content_type: str, max_bytes: int, expires_in: int
    ) -> tuple[str, dict[str, str]]:
        """URL and form fields of a POST that only accepts `key`, that type and 1..max_bytes bytes."""
        ...

    def presign_get(self, key: str, *, filename: str, expires_in: int) -> str:
        """A GET URL of `key` in the exports bucket that downloads as `filename`."""
        ...


class PartSink(Protocol):
    """A file being written in parts (an S3 multipart upload)."""

    def write(self, data: bytes) -> int: ...

    def close(self) -> None:
        """Complete the file."""
        ...

    def abort(self) -> None: ...


class ExportStore(Protocol):
    def open(self, key: str, *, content_type: str) -> PartSink: ...
