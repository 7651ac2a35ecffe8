"""The management API's behaviour: tenants, uploads, images, batches and exports.

The service only talks to ports (api.ports, imgpipe.ports), so unit tests hand it in-memory fakes and
integration tests hand it the boto3 adapters under moto. Every method takes the authenticated `Tenant`
and works inside it: a record of another tenant is answered exactly like a missing one.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import json
import re
import secrets
import time
import zipfile
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from api.bodies import parse_json
from api.models import (
    BatchOut,
    BatchRequest,
    DeleteResponse,
    ExportOut,
    ImageOut,
    ImagePage,
    ImageSummary,
    Placeholder,
    RenditionOut,
    UploadRequest,
    UploadResponse,
)
from api.ports import ApiRepository, ExportStore, ImageListing, PartSink, UploadSigner
from api.problems import ApiProblem, not_found, too_many
from api.settings import ApiSettings
from api.tenants import RateLimiter, Tenant, check_upload, month_of
from imgpipe.client import ImageUrls, SigningKeyMissingError
from imgpipe.core import Rejected, render
from imgpipe.naming import BatchNames, seo_name
from imgpipe.plans import plan_named
from imgpipe.ports import ConditionFailed, EventPublisher, ObjectNotFound, ObjectStore, ObjectTooLarge
from imgpipe.records import BatchRecord, ImageDeleted, ImageRecord, Rendition, utc_now_text
from imgpipe.uploads import InvalidUploadKey, UploadKey, batch_key_prefix
from infra.constants import (
    EXPORTS_PREFIX,
    IMAGE_DELETED,
    QUARANTINE_IMAGE_METADATA,
    STATUS_DELETED,
    STATUS_READY,
    STATUS_REJECTED,
    UPLOADS_PREFIX,
)

_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# How long an API key -> tenant mapping is trusted before it is read again (a revoked mapping takes this
# long to bite; API Gateway refuses a deleted key at once anyway).
BINDING_TTL_SECONDS = 60.0
EXPORT_CSV = "names.csv"
CSV_COLUMNS = ("original", "name", "image_id", "format", "width", "height", "bytes")


@dataclass(frozen=True)
class CallerIdentity:
    """What API Gateway says about the caller: the API key id, and the JWT claims when an authoriser ran."""

    api_key_id: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)


def _token(prefix: str) -> str:
    return prefix + secrets.token_hex(10)


def safe_filename(filename: str) -> str:
    """The last path segment, reduced to `A-Z a-z 0-9 . _ -` (a key segment that needs no escaping)."""
    last = filename.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("-", last).strip("-.")
    return cleaned[-100:].lstrip("-.") or "upload"


def _problem_for_cursor() -> ApiProblem:
    return ApiProblem(400, "invalid-cursor", "the cursor is not one this listing returned")


class ApiService:
    def __init__(
        self,
        settings: ApiSettings,
        *,
        repository: ApiRepository,
        originals: ObjectStore,
        signer: UploadSigner,
        exports: ExportStore,
        publisher: EventPublisher | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        ticks: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.repository = repository
        self.originals = originals
        self.signer = signer
        self.exports = exports
        # The stage's event bus (`Image Deleted` of a rejected upload); None where the stage has none.
        self.publisher = publisher
        self.clock = clock
        self.ticks = ticks
        self.limiter = RateLimiter()
        self._urls = (
            ImageUrls(
                settings.delivery_base_url,
                keys=settings.signing_keys,
                policy=settings.signing_policy,
                presets=settings.presets,
            )
            if settings.delivery_base_url
            else None
        )
        self._bindings: dict[str, tuple[float, str, str | None]] = {}

    # Tenants

    def authenticate(self, caller: CallerIdentity) -> Tenant:
        """The caller's tenant and plan, or 401 (no credentials) / 403 (credentials that name no tenant)."""
        key_tenant: str | None = None
        key_plan: str | None = None
        if caller.api_key_id:
            key_tenant, key_plan = self._binding(caller.api_key_id)
        claim = caller.claims.get(self.settings.tenant_claim)
        claim_tenant = str(claim) if claim else None
        if key_tenant is None and claim_tenant is None:
            if caller.api_key_id:
                raise ApiProblem(403, "unknown-key", "this API key belongs to no tenant")
            raise ApiProblem(401, "unauthenticated", "send an API key (x-api-key) or a bearer token")
        if key_tenant and claim_tenant and key_tenant != claim_tenant:
            raise ApiProblem(403, "tenant-mismatch", "the API key and the token name different tenants")
        tenant_id = key_tenant or claim_tenant
        assert tenant_id is not None
        if not _ID.fullmatch(tenant_id):
            raise ApiProblem(403, "invalid-tenant", "the tenant id is not usable")
        plan_name = key_plan if key_tenant else None
        if plan_name is None:
            plan_name = self.repository.tenant_plan(tenant_id)
        plan = plan_named(self.settings.plans, plan_name, self.settings.default_plan)
        return Tenant(tenant_id=tenant_id, plan=plan)

    def _binding(self, api_key_id: str) -> tuple[str | None, str | None]:
        now = self.ticks()
        cached = self._bindings.get(api_key_id)
        if cached is not None and now - cached[0] < BINDING_TTL_SECONDS:
            return cached[1], cached[2]
        binding = self.repository.api_key(api_key_id)
        if binding is None:
            return None, None
        self._bindings[api_key_id] = (now, binding.tenant, binding.plan)
        return binding.tenant, binding.plan

    def throttle(self, tenant: Tenant) -> None:
        verdict = self.limiter.take(tenant, self.ticks())
        if verdict is not None:
            raise too_many(verdict.code, verdict.detail, verdict.retry_after)

    # Uploads

    def create_upload(self, tenant: Tenant, request: UploadRequest) -> UploadResponse:
        content_type = request.content_type
        if content_type not in self.settings.upload_types:
            raise ApiProblem(
                415, "unsupported-type", f"accepted types are {', '.join(self.settings.upload_types)}"
            )
        if request.size is not None and request.size > self.settings.upload_max_bytes:
            raise ApiProblem(
                413, "too-large", f"an upload may have at most {self.settings.upload_max_bytes:,} bytes"
            )
        if request.batch_id is not None:
            self._own_batch(tenant, request.batch_id)
        now = self.clock()
        usage = self.repository.usage(tenant.tenant_id, month_of(now))
        verdict = check_upload(tenant.plan, usage, request.size or 1, now)
        if verdict is not None:
            raise too_many(verdict.code, verdict.detail, verdict.retry_after)
        upload_id = _token("up_")
        # A batch member has its own top-level prefix, which S3 notifies straight to the bulk lane.
        if request.batch_id is not None:
            folder = batch_key_prefix(tenant.tenant_id, request.batch_id)
        else:
            folder = f"{UPLOADS_PREFIX}{tenant.tenant_id}/"
        key = f"{folder}{upload_id}/{safe_filename(request.filename)}"
        try:
            parsed = UploadKey.parse(key)
        except InvalidUploadKey:
            raise ApiProblem(422, "invalid-filename", "the file name cannot be used in a key") from None
        if parsed.tenant != tenant.tenant_id or parsed.batch_id != request.batch_id:
            raise ApiProblem(422, "invalid-filename", "the file name cannot be used in a key")
        max_bytes = request.size or self.settings.upload_max_bytes
        url, fields = self.signer.presign_post(
            key,
            content_type=content_type,
            max_bytes=max_bytes,
            expires_in=self.settings.upload_expiry_seconds,
        )
        expires = now + timedelta(seconds=self.settings.upload_expiry_seconds)
        return UploadResponse(
            upload_id=upload_id,
            key=key,
            url=url,
            fields=fields,
            max_bytes=max_bytes,
            expires_at=utc_now_text(expires),
        )

    # Images

    def _own_image(self, tenant: Tenant, image_id: str) -> ImageRecord:
        record = self.repository.get_image(image_id) if _ID.fullmatch(image_id) else None
        if record is None or record.tenant != tenant.tenant_id:
            raise not_found("image")
        return record

    def get_image(self, tenant: Tenant, image_id: str) -> ImageOut:
        record = self._own_image(tenant, image_id)
        return ImageOut(
            image_id=record.image_id,
            status=record.status,
            reason=record.reason,
            reason_message=record.reason_message,
            source_key=record.source_key,
            batch_id=record.batch_id,
            format=record.format,
            media_type=record.media_type,
            width=record.width,
            height=record.height,
            bytes=record.bytes,
            sha256=record.sha256,
            frames=record.frames,
            animated=record.animated,
            orientation=record.orientation,
            has_alpha=record.has_alpha,
            colour_profile=record.colour_profile,
            camera=record.camera,
            taken_at=record.taken_at,
            had_gps=record.had_gps,
            phash=record.phash,
            focal_point=record.focal_point,
            tags=record.tags,
            seo_name=record.seo_name,
            created_at=record.created_at,
            updated_at=record.updated_at,
            processed_at=record.processed_at,
            placeholder=Placeholder(
                blurhash=record.blurhash,
                dominant_colour=record.dominant_colour,
                width=record.width,
                height=record.height,
            ),
            renditions=[self._rendition(record, rendition) for rendition in record.renditions],
            animation_fallback=record.animation_fallback,
            urls=self._preset_urls(record),
        )

    def _url(self, source_key: str, **params: str) -> str | None:
        """A delivery URL in the edge's canonical form, signed when the policy asks and a key is held;
        None when there is no delivery base URL or the URL would need a key this function lacks."""
        if self._urls is None:
            return None
        try:
            # `sign`, `expires_*` spelled out so the query parameters cannot be taken for them.
            return self._urls.url(source_key, sign=None, expires_in=None, expires_at=None, **params)
        except (SigningKeyMissingError, ValueError):
            return None

    def _rendition(self, record: ImageRecord, rendition: Rendition) -> RenditionOut:
        url = None
        if record.status == STATUS_READY:
            if rendition.preset is not None:
                # A preset with `fm` stays "preset only": unsigned under the default policy.
                url = self._url(record.source_key, preset=rendition.preset, fm=rendition.format)
            else:
                url = self._url(record.source_key, **dict(parse_qsl(rendition.query)))
        return RenditionOut(
            key=rendition.key,
            preset=rendition.preset,
            format=rendition.format,
            media_type=rendition.media_type,
            width=rendition.width,
            height=rendition.height,
            bytes=rendition.bytes,
            url=url,
        )

    def _preset_urls(self, record: ImageRecord) -> dict[str, str]:
        if record.status != STATUS_READY:
            return {}
        urls: dict[str, str] = {}
        for name in sorted(self.settings.presets):
            url = self._url(record.source_key, preset=name)
            if url is not None:
                urls[name] = url
        return urls

    def list_images(
        self,
        tenant: Tenant,
        *,
        limit: int,
        cursor: str | None,
        status: str | None,
        batch_id: str | None,
        tag: str | None,
        since: datetime | None,
    ) -> ImagePage:
        since_text = utc_now_text(since) if since is not None else None
        filters = {"status": status, "batch": batch_id, "tag": tag, "since": since_text}
        fingerprint = hashlib.sha256(json.dumps(filters, sort_keys=True).encode()).hexdigest()[:16]
        before = self._read_cursor(cursor, tenant, fingerprint) if cursor else None
        page = self.repository.list_images(
            ImageListing(
                tenant=tenant.tenant_id,
                limit=limit,
                batch_id=batch_id,
                status=status,
                # Deleted images stay as records (DESIGN.md) but are only listed when asked for.
                exclude_status=None if status else STATUS_DELETED,
                tag=tag.lower() if tag else None,
                since=since_text,
                before=before,
            )
        )
        next_cursor = None
        if page.next_before is not None:
            next_cursor = self._write_cursor(tenant, fingerprint, page.next_before)
        return ImagePage(items=[_summary(record) for record in page.items], next_cursor=next_cursor)

    @staticmethod
    def _write_cursor(tenant: Tenant, fingerprint: str, before: str) -> str:
        document = json.dumps({"t": tenant.tenant_id, "f": fingerprint, "b": before}, separators=(",", ":"))
        return base64.urlsafe_b64encode(document.encode()).decode().rstrip("=")

    @staticmethod
    def _read_cursor(cursor: str, tenant: Tenant, fingerprint: str) -> str:
        # The cursor only says where to continue; the partition read is always the caller's, so a forged
        # cursor cannot reach another tenant. Checking it still turns a mixed-up cursor into a clear 400.
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            # A cursor is a flat object: api.bodies bounds the nesting, so no cursor reaches recursion.
            document = parse_json(
                base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8"), max_depth=1
            )
        except (ValueError, binascii.Error, UnicodeError):
            raise _problem_for_cursor() from None
        if not isinstance(document, dict):
            raise _problem_for_cursor()
        before = document.get("b")
        if document.get("t") != tenant.tenant_id or document.get("f") != fingerprint:
            raise _problem_for_cursor()
        if not isinstance(before, str) or not before:
            raise _problem_for_cursor()
        return before

    def delete_image(self, tenant: Tenant, image_id: str) -> DeleteResponse:
        record = self._own_image(tenant, image_id)
        if record.status == STATUS_DELETED:
            if record.quarantine_key is not None:  # a rejected upload deleted here: finish announcing it
                self._announce_deleted(record)
            return DeleteResponse(image_id=record.image_id, status="DELETED")
        if record.status == STATUS_REJECTED:
            return self._delete_rejected(record)
        # Ingest's ObjectRemoved path deletes the renditions, marks the record and announces it.
        self.originals.delete(record.source_key)
        return DeleteResponse(image_id=record.image_id, status="DELETING")

    def _delete_rejected(self, record: ImageRecord) -> DeleteResponse:
        """A rejected upload is done here, not by ingest: its original was moved to `quarantine/`, so
        deleting the upload key would remove nothing of it (and could remove a newer upload to that key),
        and no S3 event of `quarantine/` reaches ingest. It has no renditions, and its batch counted it
        and its quota was given back when it was rejected, so REJECTED → DELETED changes neither."""
        quarantined = record.quarantine_key
        if quarantined is not None:
            try:
                head = self.originals.head(quarantined)
            except ObjectNotFound:
                pass  # gone already (an earlier attempt, or the quarantine's expiry)
            else:
                # The same upload key rejected twice shares one quarantine key: only remove this image's.
                owner = head.metadata.get(QUARANTINE_IMAGE_METADATA)
                if owner in (None, record.image_id):
                    self.originals.delete(quarantined)
        now = utc_now_text(self.clock())
        deleted = record.model_copy(
            update={
                "status": STATUS_DELETED,
                "reason": "deleted",
                "reason_message": None,
                "renditions_deleted": 0,
                "deleted_at": now,
                "updated_at": now,
            }
        )
        try:
            self.repository.save_image(deleted, expected_status=STATUS_REJECTED)
        except ConditionFailed:
            latest = self.repository.get_image(record.image_id)
            if latest is None or latest.status != STATUS_DELETED:
                raise  # changed between read and write in a way a delete cannot follow: a 500, retry
            deleted = latest
        self._announce_deleted(deleted)
        return DeleteResponse(image_id=deleted.image_id, status="DELETED")

    def _announce_deleted(self, record: ImageRecord) -> None:
        """`Image Deleted` once per record while nothing fails, as ingest announces: a failure before the
        flag is saved means the next DELETE announces again (at least once), never that it is lost."""
        if self.publisher is None or IMAGE_DELETED in record.announced:
            return
        self.publisher.publish(
            [
                ImageDeleted(
                    image_id=record.image_id,
                    tenant=record.tenant,
                    source_key=record.source_key,
                    batch_id=record.batch_id,
                    cause="deleted",
                    renditions_deleted=record.renditions_deleted or 0,
                    deleted_at=record.deleted_at or record.updated_at,
                )
            ]
        )
        announced = record.model_copy(update={"announced": [*record.announced, IMAGE_DELETED]})
        with suppress(ConditionFailed):
            self.repository.save_image(announced, expected_status=STATUS_DELETED)

    # Batches

    def _batch_out(self, tenant: Tenant, batch: BatchRecord) -> BatchOut:
        progress = None
        if batch.expected:
            progress = min(1.0, batch.done / batch.expected)
        return BatchOut(
            batch_id=batch.batch_id,
            expected=batch.expected,
            ready=batch.ready,
            rejected=batch.rejected,
            deleted=batch.deleted,
            done=batch.done,
            completed=batch.completed,
            progress=progress,
            upload_prefix=batch_key_prefix(tenant.tenant_id, batch.batch_id),
            created_at=batch.created_at,
            completed_at=batch.completed_at,
        )

    def create_batch(self, tenant: Tenant, request: BatchRequest) -> BatchOut:
        now = utc_now_text(self.clock())
        batch = BatchRecord(
            tenant=tenant.tenant_id,
            batch_id=request.batch_id or _token("b_"),
            expected=request.expected,
            created_at=now,
            updated_at=now,
        )
        try:
            self.repository.create_batch(batch)
        except ConditionFailed:
            raise ApiProblem(409, "batch-exists", "a batch with this id exists") from None
        return self._batch_out(tenant, batch)

    def _own_batch(self, tenant: Tenant, batch_id: str) -> BatchRecord:
        batch = self.repository.get_batch(tenant.tenant_id, batch_id) if _ID.fullmatch(batch_id) else None
        if batch is None:
            raise not_found("batch")
        return batch

    def get_batch(self, tenant: Tenant, batch_id: str) -> BatchOut:
        return self._batch_out(tenant, self._own_batch(tenant, batch_id))

    # Export

    def export_batch(self, tenant: Tenant, batch_id: str) -> ExportOut:
        """Build the ZIP now (within this request) and answer with a presigned download."""
        batch = self._own_batch(tenant, batch_id)
        records = list(self.repository.batch_images(tenant.tenant_id, batch.batch_id))
        ready = [record for record in records if record.status == STATUS_READY]
        total = sum(record.bytes or 0 for record in ready)
        if len(ready) > self.settings.export_max_images or total > self.settings.export_max_bytes:
            raise ApiProblem(
                413,
                "export-too-large",
                f"a synchronous export holds at most {self.settings.export_max_images:,} images and "
                f"{self.settings.export_max_bytes:,} bytes of originals; this batch has {len(ready):,} "
                f"and {total:,}",
            )
        if not ready:
            raise ApiProblem(409, "nothing-to-export", "the batch has no processed images yet")
        export_id = _token("exp_")
        key = f"{EXPORTS_PREFIX}{tenant.tenant_id}/{batch.batch_id}/{export_id}.zip"
        sink = self.exports.open(key, content_type="application/zip")
        try:
            files, written = self._write_zip(sink, ready)
            sink.close()
        except BaseException:
            sink.abort()
            raise
        expires_in = self.settings.download_expiry_seconds
        url = self.signer.presign_get(key, filename=f"{batch.batch_id}.zip", expires_in=expires_in)
        return ExportOut(
            export_id=export_id,
            batch_id=batch.batch_id,
            status="READY",
            files=files,
            skipped=len(records) - files,
            bytes=written,
            key=key,
            url=url,
            expires_at=utc_now_text(self.clock() + timedelta(seconds=expires_in)),
        )

    def _write_zip(self, sink: PartSink, records: list[ImageRecord]) -> tuple[int, int]:
        target = _CountingTarget(sink)
        names = BatchNames()
        rows: list[tuple[str, ...]] = []
        # Stored, not deflated: the images are compressed already; only the CSV is worth deflating.
        with zipfile.ZipFile(target, mode="w", compression=zipfile.ZIP_STORED) as archive:
            for record in records:
                try:
                    original = self.originals.get(record.source_key, max_bytes=self.settings.upload_max_bytes)
                    rendered = render(original.data, self.settings.export_query)
                except (ObjectNotFound, ObjectTooLarge, Rejected):
                    continue  # deleted since, or unreadable now: counted as skipped
                # The record's own SEO name (imgpipe.naming, set by ingest); a record written before ingest
                # set one gets it by the same rule now.
                base = record.seo_name or seo_name(
                    record.tags, upload_name=record.source_key, taken_at=record.taken_at
                )
                name = names.claim(base, rendered.format)
                archive.writestr(name, rendered.data)
                rows.append(
                    (
                        record.source_key.rsplit("/", 1)[-1],
                        name,
                        record.image_id,
                        rendered.format,
                        str(rendered.width),
                        str(rendered.height),
                        str(len(rendered.data)),
                    )
                )
            text = io.StringIO()
            writer = csv.writer(text, lineterminator="\n")
            writer.writerow(CSV_COLUMNS)
            writer.writerows(rows)
            archive.writestr(EXPORT_CSV, text.getvalue().encode("utf-8"), compress_type=zipfile.ZIP_DEFLATED)
        return len(rows), target.written


class _CountingTarget:
    """What zipfile writes to: a stream without seek, so it streams entries with data descriptors."""

    def __init__(self, sink: PartSink) -> None:
        self._sink = sink
        self.written = 0

    def write(self, data: bytes) -> int:
        self._sink.write(bytes(data))
        self.written += len(data)
        return len(data)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        # The ZIP's end is not the upload's end: the service completes (or aborts) the sink itself.
        return None


def _summary(record: ImageRecord) -> ImageSummary:
    return ImageSummary(
        image_id=record.image_id,
        status=record.status,
        source_key=record.source_key,
        batch_id=record.batch_id,
        format=record.format,
        width=record.width,
        height=record.height,
        bytes=record.bytes,
        tags=record.tags,
        seo_name=record.seo_name,
        created_at=record.created_at,
    )
