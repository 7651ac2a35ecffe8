"""Request and response bodies of `/v1`: the one schema, from which the OpenAPI document is generated."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

# Tenant and batch ids share ingest's alphabet (imgpipe.uploads): they become key segments and URL parts.
ID_PATTERN = r"^[A-Za-z0-9._-]{1,128}$"
BatchId = Annotated[str, Field(pattern=ID_PATTERN, min_length=1, max_length=128)]
ImageStatus = Literal["PROCESSING", "READY", "REJECTED", "DELETED"]
# What a presigned POST can accept; a deployment may accept fewer (IMGPIPE settings), never more. Ingest
# sniffs the bytes anyway and rejects a mismatch.
UploadType = Literal[
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/avif",
    "image/gif",
    "image/heic",
    "image/heif",
    "image/tiff",
]
UPLOAD_TYPES: tuple[str, ...] = get_args(UploadType)
# The engine refuses sources over 50 MiB (imgpipe.core.Limits): a larger upload could only be quarantined.
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
# A media type as RFC 9110 spells one (`type/subtype`, no parameters).
MEDIA_TYPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}$"


class _Request(BaseModel):
    # A misspelt field is a client bug worth a 422, not something to ignore silently.
    model_config = ConfigDict(extra="forbid")


def _json_integer(value: object) -> object:
    """JSON Schema's `integer`: 3 and 3.0 (a number without a fraction), never `true` or `"3"`, which
    pydantic's lax mode would take as 1 and 3 (and its strict mode refuses 3.0)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


# The validator goes after the constraints in `Annotated[int, Field(...), JSON_INTEGER]`: before them, the
# constraints leave the document as `ge`/`le` instead of `minimum`/`maximum`.
JSON_INTEGER = BeforeValidator(_json_integer)


class FieldError(BaseModel):
    loc: str = Field(description="where: `body.size`, `query.limit`, `path.image_id`")
    type: str = Field(description="what kind, as pydantic names it: `missing`, `too_long`, ...")


class Problem(BaseModel):
    """RFC 9457 problem details: the body of every error response (`application/problem+json`)."""

    type: str = Field(description="urn:imgpipe:problem:{code}")
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = Field(
        default=None, description="validation errors: where (`loc`) and what kind (`type`), never values"
    )


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str


# Uploads


class UploadRequest(_Request):
    filename: str = Field(min_length=1, max_length=200, description="the file's name; kept in the object key")
    # The document lists what is accepted (`enum`, `maximum`); the model takes any media type and any size
    # so that the service can answer what docs/api.md promises: 415 `unsupported-type` for a type not
    # accepted, 413 `too-large` for a size over the maximum, instead of a generic 422.
    content_type: str = Field(
        pattern=MEDIA_TYPE_PATTERN,
        json_schema_extra={"enum": list(UPLOAD_TYPES)},
        description="one of the accepted image types (others: 415 `unsupported-type`)",
    )
    size: (
        Annotated[int, Field(ge=1, json_schema_extra={"maximum": MAX_UPLOAD_BYTES}), JSON_INTEGER] | None
    ) = Field(
        default=None,
        description="exact size in bytes if known (over the maximum: 413 `too-large`); otherwise the "
        "configured maximum bounds the upload",
    )
    batch_id: BatchId | None = Field(default=None, description="an existing batch of the caller's")


class UploadResponse(BaseModel):
    upload_id: str
    key: str = Field(description="the object key in the originals bucket")
    url: str = Field(description="POST a multipart/form-data body here: `fields`, then `file`")
    fields: dict[str, str]
    max_bytes: int
    expires_at: str


# Images


class RenditionOut(BaseModel):
    key: str
    preset: str | None
    format: str
    media_type: str
    width: int
    height: int
    bytes: int
    url: str | None


class Placeholder(BaseModel):
    blurhash: str | None
    dominant_colour: str | None
    width: int | None
    height: int | None


class ImageOut(BaseModel):
    image_id: str
    status: ImageStatus
    reason: str | None
    reason_message: str | None = Field(description="what the reason means for this upload, in words")
    source_key: str
    batch_id: str | None
    format: str | None
    media_type: str | None
    width: int | None = Field(description="upright: EXIF orientation applied")
    height: int | None
    bytes: int | None
    sha256: str | None
    frames: int | None = Field(description="1 for a still image")
    animated: bool | None
    orientation: int | None = Field(description="the source's EXIF orientation (1-8); outputs are upright")
    has_alpha: bool | None
    colour_profile: str | None = Field(description="the source's ICC profile description; outputs are sRGB")
    camera: str | None
    taken_at: str | None
    had_gps: bool | None = Field(
        description="the source carried GPS coordinates; they were stripped, as from every output"
    )
    phash: str | None = Field(
        description="64-bit DCT perceptual hash, 16 hex digits: near-duplicates differ in few bits"
    )
    focal_point: tuple[float, float] | None = Field(
        description="x, y in 0-1: where `fit=cover` crops centre (the `fp` of delivery URLs)"
    )
    tags: list[str]
    seo_name: str | None = Field(
        description="the SEO name without extension; the batch export names the file `{seo_name}.{ext}`"
    )
    created_at: str
    updated_at: str
    processed_at: str | None
    placeholder: Placeholder
    renditions: list[RenditionOut]
    animation_fallback: str | None = Field(
        description="set when an animated source's renditions hold only its first frame, and why"
    )
    urls: dict[str, str] = Field(
        description="on-demand delivery URLs by preset name (empty when no delivery URL is configured)"
    )


class ImageSummary(BaseModel):
    image_id: str
    status: ImageStatus
    source_key: str
    batch_id: str | None
    format: str | None
    width: int | None
    height: int | None
    bytes: int | None
    tags: list[str]
    seo_name: str | None
    created_at: str


class ImagePage(BaseModel):
    items: list[ImageSummary]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class DeleteResponse(BaseModel):
    image_id: str
    status: Literal["DELETING", "DELETED"]


# Batches


class BatchRequest(_Request):
    batch_id: BatchId | None = Field(default=None, description="generated when absent")
    expected: Annotated[int, Field(ge=1, le=1_000_000), JSON_INTEGER] | None = Field(
        default=None, description="images the batch will hold"
    )


class BatchOut(BaseModel):
    batch_id: str
    expected: int | None
    ready: int
    rejected: int
    deleted: int
    done: int
    completed: bool
    progress: float | None = Field(description="done / expected, 0..1; null while `expected` is unknown")
    upload_prefix: str
    created_at: str | None
    completed_at: str | None


class ExportOut(BaseModel):
    export_id: str
    batch_id: str
    status: Literal["READY"]
    files: int
    skipped: int = Field(description="images of the batch not exported (not READY, or gone)")
    bytes: int
    key: str
    url: str = Field(description="presigned GET of the ZIP")
    expires_at: str
