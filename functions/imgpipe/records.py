"""What ingest stores and announces: the image record, the batch record and the event details.

Every model carries `version` so readers (the API, event subscribers) can tell layouts apart when one
changes; a change that breaks readers bumps it. Timestamps are ISO 8601 UTC strings ending in `Z`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from infra.constants import (
    BATCH_COMPLETED,
    IMAGE_DELETED,
    IMAGE_PROCESSED,
    IMAGE_REJECTED,
    IMAGE_UPLOADED,
)

Status = Literal["PROCESSING", "READY", "REJECTED", "DELETED"]
RECORD_VERSION: Literal["1"] = "1"


def utc_now_text(now: datetime | None = None) -> str:
    """`2026-12-01T11:32:53.123456Z`: sorts as text in time order (fixed width), so it can be a sort key."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Record(BaseModel):
    # Unknown attributes come from newer writers; keeping them out of the model (not failing) lets an
    # older reader keep working during a rolling deploy.
    model_config = ConfigDict(extra="ignore")


class Rendition(_Record):
    """One stored rendition: `query` is its canonical variant query, `key` its object key."""

    key: str
    query: str
    preset: str | None = None
    format: str
    media_type: str
    width: int
    height: int
    bytes: int


class ImageRecord(_Record):
    version: Literal["1"] = RECORD_VERSION
    image_id: str
    tenant: str
    source_key: str
    sequencer: str  # normalised ordering token of the upload event (imgpipe.uploads.order_token)
    etag: str | None = None
    status: Status = "PROCESSING"
    reason: str | None = None
    reason_message: str | None = None
    batch_id: str | None = None
    # Facts (imgpipe.core.ImageInfo); None until the object was read.
    sha256: str | None = None
    bytes: int | None = None
    format: str | None = None
    media_type: str | None = None
    width: int | None = None
    height: int | None = None
    frames: int | None = None
    animated: bool | None = None
    orientation: int | None = None
    has_alpha: bool | None = None
    colour_profile: str | None = None
    camera: str | None = None
    taken_at: str | None = None
    had_gps: bool | None = None  # GPS is stripped from every output; this only says the source had it
    dominant_colour: str | None = None
    blurhash: str | None = None
    phash: str | None = None
    focal_point: tuple[float, float] | None = None
    tags: list[str] = Field(default_factory=list)
    tags_source: str | None = None  # the tagger that named them: offline | rekognition | bedrock
    caption: str | None = None
    tags_refresh: bool = False  # the offline tagger stood in for the configured remote one: ask it again
    seo_name: str | None = None
    renditions: list[Rendition] = Field(default_factory=list)
    # Set when an animated source's renditions hold only its first frame because the animated set would
    # not have been done before the function's deadline (the reason, as `Rendered.operations` says it).
    animation_fallback: str | None = None
    mezzanine_key: str | None = None
    duplicate_of: str | None = None  # image id whose renditions were copied instead of rendering again
    replaces: str | None = None  # image id of the previous upload to the same key
    quarantine_key: str | None = None
    renditions_deleted: int | None = None
    announced: list[str] = Field(default_factory=list)  # detail types already published for this image
    quota_counted: bool = False  # the quota gate admitted (and counted) this upload: a retry does not ask
    created_at: str
    updated_at: str
    processed_at: str | None = None
    deleted_at: str | None = None


class SourcePointer(_Record):
    """The latest event seen for one originals key: what orders uploads and deletes of that key."""

    version: Literal["1"] = RECORD_VERSION
    source_key: str
    sequencer: str
    image_id: str | None  # the image this event is about (for a delete: the one it removed, if any)
    previous_image_id: str | None = None  # the image an upload replaced, so a retry can finish that
    deleted: bool = False
    updated_at: str
    # Epoch seconds when DynamoDB may drop the pointer (set on deletes only: once no event older than the
    # delete can still arrive, the pointer of a deleted key has nothing left to order).
    ttl: int | None = None


class BatchRecord(_Record):
    version: Literal["1"] = RECORD_VERSION
    tenant: str
    batch_id: str
    expected: int | None = None
    ready: int = 0
    rejected: int = 0
    deleted: int = 0  # deleted before they were processed: accounted for, neither ready nor rejected
    done: int = 0  # ready + rejected + deleted, kept as one attribute so a condition can compare it
    completed: bool = False  # `Batch Completed` was published
    created_at: str | None = None
    updated_at: str | None = None
    completed_at: str | None = None
    # Lease of the one ingest worker announcing the completion (ISO time it runs out; absent when free).
    claim_until: str | None = None


# Event details (EventBridge `detail`); `DETAIL_TYPE` is the `detail-type`.


class EventDetail(_Record):
    DETAIL_TYPE: ClassVar[str]
    version: Literal["1"] = RECORD_VERSION


class RenditionRef(_Record):
    key: str
    preset: str | None
    format: str
    width: int
    height: int


class ImageUploaded(EventDetail):
    DETAIL_TYPE: ClassVar[str] = IMAGE_UPLOADED
    image_id: str
    tenant: str
    source_key: str
    bytes: int | None
    batch_id: str | None
    uploaded_at: str


class ImageProcessed(EventDetail):
    DETAIL_TYPE: ClassVar[str] = IMAGE_PROCESSED
    image_id: str
    tenant: str
    source_key: str
    batch_id: str | None
    sha256: str
    format: str
    width: int
    height: int
    renditions: list[RenditionRef]
    mezzanine_key: str | None
    duplicate_of: str | None
    seo_name: str | None
    processed_at: str


class ImageRejected(EventDetail):
    DETAIL_TYPE: ClassVar[str] = IMAGE_REJECTED
    image_id: str
    tenant: str
    source_key: str
    batch_id: str | None
    reason: str
    message: str
    quarantine_key: str | None
    rejected_at: str


class ImageDeleted(EventDetail):
    DETAIL_TYPE: ClassVar[str] = IMAGE_DELETED
    image_id: str
    tenant: str
    source_key: str
    batch_id: str | None
    # `deleted`: the original was deleted; `replaced`: a newer upload took its key; `gone`: the object
    # was gone (deleted or overwritten) before it could be processed.
    cause: Literal["deleted", "replaced", "gone"]
    renditions_deleted: int
    deleted_at: str


class BatchCompleted(EventDetail):
    DETAIL_TYPE: ClassVar[str] = BATCH_COMPLETED
    tenant: str
    batch_id: str
    expected: int
    ready: int
    rejected: int
    deleted: int
    completed_at: str


DETAIL_MODELS: dict[str, type[EventDetail]] = {
    model.DETAIL_TYPE: model
    for model in (ImageUploaded, ImageProcessed, ImageRejected, ImageDeleted, BatchCompleted)
}
