"""Ingest: one S3 event in, renditions, a record and events out.

The service only talks to ports, so unit tests hand it in-memory fakes and integration tests hand it the
boto3 adapters under moto. Every step can be repeated: SQS delivers at least once, a worker can die
anywhere, and a retry must finish the job without doing any of it twice where it shows (records, counters,
events). How that works is in docs/ingest.md ("Idempotency in one table").
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from time import monotonic, perf_counter
from typing import Literal

from imgpipe.core import (
    DEFAULT_LIMITS,
    DEFAULT_PRESETS,
    Limits,
    Rejected,
    RenderOptions,
    TransformSpec,
    inspect,
    negotiate,
    render_many,
)
from imgpipe.core.keys import variant_key
from imgpipe.core.mezzanine import mezzanine_key, mezzanine_metadata, mezzanine_spec, needs_mezzanine
from imgpipe.core.models import ImageInfo, OutputFormat
from imgpipe.core.sniff import check_declared_type
from imgpipe.naming import seo_name
from imgpipe.notifications import S3EventRecord
from imgpipe.ports import (
    BatchCounter,
    ConditionFailed,
    EventPublisher,
    MetadataRepository,
    ObjectNotFound,
    ObjectTooLarge,
    OriginalsStore,
    QuotaGate,
    RenditionStore,
)
from imgpipe.records import (
    BatchCompleted,
    BatchRecord,
    EventDetail,
    ImageDeleted,
    ImageProcessed,
    ImageRecord,
    ImageRejected,
    ImageUploaded,
    Rendition,
    RenditionRef,
    SourcePointer,
    utc_now_text,
)
from imgpipe.tagging import REMOTE_MAX_SIDE, OfflineTagger, Tagger, TagInput, remote_jpeg
from imgpipe.uploads import (
    InvalidUploadKey,
    UploadKey,
    batch_key_prefix,
    derived_tags,
    image_id,
    is_rendition_key,
    order_token,
    quarantine_key,
    tenant_of,
)
from infra.constants import (
    MALWARE_SCAN_TAG,
    MEZZANINE_PREFIX,
    QUARANTINE_IMAGE_METADATA,
    QUARANTINE_REASON_METADATA,
    SOURCE_PREFIXES,
    STATUS_DELETED,
    STATUS_PROCESSING,
    STATUS_READY,
    STATUS_REJECTED,
)

IMMUTABLE = "public, max-age=31536000, immutable"
# How long the one worker that claimed a batch's completion may take to announce it before another may.
# Shorter than the queues' visibility timeout (6 x the function timeout), so the retry of a worker that died
# holding the claim always finds it expired.
BATCH_CLAIM_SECONDS = 60.0
# A deleted key's source pointer outlives every event that could still be older than the delete: 4 days in
# the queue, 14 in the dead-letter queue and a redrive.
DELETED_POINTER_DAYS = 30
# Accept headers standing for the three kinds of client the edge tells apart; negotiate() on each gives
# every format `fm=auto` can resolve to for one image, without copying its rules here.
_CLIENT_ACCEPTS = ("image/avif,image/webp,*/*", "image/webp,*/*", "*/*")
# Reasons ingest adds to the engine's (imgpipe.core.RejectionReason).
REASON_MALWARE = "malware"
REASON_SCAN_FAILED = "malware-scan-failed"
REASON_QUOTA = "quota"
REASON_INVALID_KEY = "invalid-key"
# GuardDuty Malware Protection for S3 scan results (tag `GuardDutyMalwareScanStatus`).
SCAN_CLEAN = "NO_THREATS_FOUND"
SCAN_INFECTED = "THREATS_FOUND"
SCAN_UNSUPPORTED = "UNSUPPORTED"
SCAN_FAILED = ("ACCESS_DENIED", "FAILED")
_GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
# The cost of one animated rendition (GIF or WebP), fitted in bench/animation.py (bench/results/animation.md):
# decoding and resizing grow with the decoded pixels (frames x canvas), encoding with how much there is to
# encode, for which the source's compressed size stands (per pixel, the flat 150 MP GIF of 0.55 MB costs a
# third of a photographic one of 21 MB). The fit (0.0064 s/MP + 0.032 s/MB of CPU on the bench machine) x 1.25
# for Lambda's arm64 core and a margin, so the estimate errs on the slow side (1.1-1.5x the measured CPU).
ANIMATION_SECONDS_PER_MEGAPIXEL = 0.008
ANIMATION_SECONDS_PER_MEGABYTE = 0.04
# Kept after the renders for what follows them: ~10 S3 puts, the tagger, the DynamoDB writes, the events.
DEADLINE_MARGIN_SECONDS = 5.0

Action = Literal[
    "processed", "duplicate", "rejected", "deleted", "gone", "superseded", "skipped", "stale", "ignored"
]


class DeadlineNear(Exception):
    """Too little of the invocation is left to render anything: fail the message so SQS retries it with a
    whole invocation's time, instead of being stopped halfway."""


class ScanPending(Exception):
    """Scanning is on and GuardDuty has not tagged the object yet: fail the message so SQS retries later."""

    def __init__(self, key: str) -> None:
        super().__init__(f"{key}: no {MALWARE_SCAN_TAG} tag yet; retrying after the visibility timeout")
        self.key = key


@dataclass(frozen=True)
class IngestConfig:
    presets: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_PRESETS))
    # None: every format `fm=auto` can choose for the image; else only these (where the edge can pick them).
    eager_formats: tuple[OutputFormat, ...] | None = None
    malware_scan: bool = False
    limits: Limits = DEFAULT_LIMITS
    batch_claim_seconds: float = BATCH_CLAIM_SECONDS
    # What one animated rendition costs, to decide before rendering whether they fit in the time left.
    animation_seconds_per_megapixel: float = ANIMATION_SECONDS_PER_MEGAPIXEL
    animation_seconds_per_megabyte: float = ANIMATION_SECONDS_PER_MEGABYTE
    deadline_margin_s: float = DEADLINE_MARGIN_SECONDS


@dataclass
class Outcome:
    """What one S3 event came to; the handler turns it into metrics and a log line."""

    action: Action
    key: str
    image_id: str | None = None
    reason: str | None = None
    bytes_in: int = 0
    bytes_out: int = 0
    renditions: int = 0
    duration_ms: float = 0.0


class Unlimited:
    """The quota seam's default when no plans are configured: every tenant may upload."""

    def admits(self, tenant: str, size: int) -> bool:
        return True

    def release(self, tenant: str, size: int) -> None:
        return None


def _utc_now() -> datetime:
    return datetime.now(UTC)


def eager_formats(info: ImageInfo, configured: Sequence[OutputFormat] | None) -> list[OutputFormat]:
    """The formats `fm=auto` can resolve to for this image, in a stable order, narrowed by `configured`.

    A configured format the edge would never pick for the image (GIF for a still, JPEG for a picture with
    alpha) is skipped: no request could ever hit it.
    """
    candidates: list[OutputFormat] = []
    for accept in _CLIENT_ACCEPTS:
        fmt = negotiate(accept, info.has_alpha, info.animated)
        if fmt not in candidates:
            candidates.append(fmt)
    if configured is None:
        return candidates
    return [fmt for fmt in configured if fmt in candidates]


def eager_specs(
    info: ImageInfo, presets: Mapping[str, str], configured: Sequence[OutputFormat] | None
) -> list[tuple[str, TransformSpec]]:
    """(preset name, concrete spec) for every eager rendition of this image.

    A preset with `fm=auto` (the usual case) is rendered in every format `eager_formats` gives; a preset
    that fixes its format is rendered in that one format only (unless the configured list leaves it out),
    because that is the only variant its URL can name.
    """
    auto = eager_formats(info, configured)
    wanted: list[tuple[str, TransformSpec]] = []
    for preset in presets:
        base = TransformSpec.parse(f"preset={preset}", presets)
        if base.fm == "auto":
            formats: list[OutputFormat] = auto
        else:
            fixed: OutputFormat = base.fm
            formats = [fixed] if configured is None or fixed in configured else []
        wanted.extend((preset, base.with_format(fmt)) for fmt in formats)
    return wanted


class IngestService:
    def __init__(
        self,
        *,
        originals: OriginalsStore,
        renditions: RenditionStore,
        repository: MetadataRepository,
        publisher: EventPublisher,
        config: IngestConfig | None = None,
        quota: QuotaGate | None = None,
        tagger: Tagger | None = None,
        clock: Callable[[], datetime] = _utc_now,
        monotonic: Callable[[], float] = monotonic,
    ) -> None:
        self.originals = originals
        self.renditions = renditions
        self.repository = repository
        self.publisher = publisher
        self.config = config or IngestConfig()
        self.quota: QuotaGate = quota or Unlimited()
        self.tagger: Tagger = tagger or OfflineTagger()
        self.clock = clock
        self.monotonic = monotonic  # the clock of the `deadline` that `handle` is given

    def _now(self) -> str:
        return utc_now_text(self.clock())

    # Entry points

    def handle(self, event: S3EventRecord, *, deadline: float | None = None) -> Outcome:
        """One record of an S3 notification. Raises on a transient fault (the message is retried).

        `deadline` is when the function is stopped, on the `monotonic` clock (the handler takes it from the
        Lambda context); an animation whose renditions would not be done by then is rendered from its
        first frame, and the record says so (`animation_fallback`). None: no deadline.
        """
        started = perf_counter()
        key = event.key
        if not key.startswith(SOURCE_PREFIXES):
            outcome = Outcome("ignored", key)
        elif event.created:
            outcome = self.ingest(
                key,
                sequencer=event.s3.object.sequencer,
                event_time=event.event_time,
                etag=event.s3.object.etag,
                size=event.s3.object.size,
                deadline=deadline,
            )
        elif event.removed:
            outcome = self.remove(key, sequencer=event.s3.object.sequencer, event_time=event.event_time)
        else:
            outcome = Outcome("ignored", key)
        outcome.duration_ms = (perf_counter() - started) * 1000
        return outcome

    def open_batch(self, tenant: str, batch_id: str, expected: int) -> BatchRecord:
        """Declare how many uploads a batch will have (the API calls this when it creates the batch).

        May come before, during or after the uploads are processed; `Batch Completed` follows once, when
        the last of them is accounted for or now, if they all are already.
        """
        if expected < 1:
            raise ValueError("a batch expects at least one upload")
        UploadKey.parse(f"{batch_key_prefix(tenant, batch_id)}probe")  # same id rules as keys
        batch = self.repository.set_batch_expected(tenant, batch_id, expected, self._now())
        completed = self._complete_batch(tenant, batch_id)
        return completed or batch

    # Uploads

    def ingest(
        self,
        key: str,
        *,
        sequencer: str | None,
        event_time: datetime | None,
        etag: str | None,
        size: int | None,
        deadline: float | None = None,
    ) -> Outcome:
        etag = etag.strip('"') if etag else None
        token = order_token(sequencer, event_time, etag)
        iid = image_id(key, token)
        try:
            upload: UploadKey | None = UploadKey.parse(key)
        except InvalidUploadKey:
            upload = None
        now = self._now()
        stored = self.repository.get_source(key)
        pointer = SourcePointer(
            source_key=key,
            sequencer=token,
            image_id=iid,
            previous_image_id=_live_image(stored),
            updated_at=now,
        )
        stale = False
        try:
            replaced = _live_image(self.repository.claim_source(pointer))
            if replaced != pointer.previous_image_id:
                # Another event moved the pointer between the read and the claim.
                pointer.previous_image_id = replaced
                self.repository.save_source(pointer)
        except ConditionFailed:
            stored = self.repository.get_source(key)
            if stored is not None and stored.sequencer == token:
                pointer = stored  # a redelivery: carry on where the last attempt stopped
            else:
                stale = True

        record = self.repository.get_image(iid)
        if record is None:
            tenant = upload.tenant if upload else tenant_of(key)
            record = ImageRecord(
                image_id=iid,
                tenant=tenant,
                source_key=key,
                sequencer=token,
                etag=etag,
                batch_id=upload.batch_id if upload else None,
                bytes=size,
                replaces=None if stale else pointer.previous_image_id,
                created_at=now,
                updated_at=now,
            )
            try:
                self.repository.create_image(record)
            except ConditionFailed:
                record = self.repository.get_image(iid) or record
        if stale:
            # A newer upload or delete of this key was seen first: this object version is gone. It is
            # recorded as such (a batch counts every upload once) and nothing of the newer state is touched.
            if record.status == STATUS_PROCESSING:
                outcome = self._gone(record)
                outcome.action = "stale"
                return outcome
            if _superseded_while_processing(record):
                # An earlier attempt of this event may have written renditions after the newer event had
                # cleared the key, and then died before it could clean up: clear again. Renditions are a
                # cache under canonical keys; delivery renders a missing one from the current original.
                self._delete_renditions(key)
            self._settle(record)
            return Outcome("stale", key, iid)
        if record.replaces:
            self._supersede(record.replaces, key)
        if record.status != STATUS_PROCESSING:
            # A duplicate or a redelivery of finished work: only what may not have happened yet.
            self._settle(record)
            return Outcome("skipped", key, iid, reason=record.reason)

        self._announce(
            record,
            ImageUploaded(
                image_id=iid,
                tenant=record.tenant,
                source_key=key,
                bytes=record.bytes,
                batch_id=record.batch_id,
                uploaded_at=record.created_at,
            ),
        )
        if record.quarantine_key is not None:  # a rejection was under way when the last attempt stopped
            return self._reject(record, record.reason or "unknown", record.reason_message or "")
        if upload is None:
            try:
                UploadKey.parse(key)
            except InvalidUploadKey as error:
                return self._reject(record, REASON_INVALID_KEY, str(error))
        return self._process(record, upload.name if upload else key, size, deadline)

    def _process(
        self, record: ImageRecord, name: str, size: int | None, deadline: float | None = None
    ) -> Outcome:
        key = record.source_key
        if self.config.malware_scan:
            try:
                verdict = self.originals.tags(key).get(MALWARE_SCAN_TAG)
            except ObjectNotFound:
                return self._gone(record)
            if verdict is None:
                raise ScanPending(key)
            if verdict == SCAN_INFECTED:
                return self._reject(record, REASON_MALWARE, "GuardDuty Malware Protection found a threat")
            if verdict in SCAN_FAILED:
                return self._reject(record, REASON_SCAN_FAILED, f"the malware scan ended with {verdict}")
            # SCAN_CLEAN, and SCAN_UNSUPPORTED too: the engine decodes under limits and re-encodes every
            # output from pixels, so an unscannable file never reaches a viewer as it was uploaded.
        if size is None:
            try:
                size = self.originals.head(key).size
            except ObjectNotFound:
                return self._gone(record)
        limit = self.config.limits.max_source_bytes
        if size > limit:
            # Refused on the size S3 reported, before a byte of the body is requested.
            return self._reject(record, "too-large", f"{size:,} bytes is over the limit of {limit:,}")
        if not record.quota_counted:
            if not self.quota.admits(record.tenant, size):
                return self._reject(
                    record, REASON_QUOTA, f"the tenant's quota does not admit {size:,} more bytes"
                )
            record.quota_counted = True
            record.bytes = size  # what the gate counted, so a rejection or delete gives back the same
            if not isinstance(self.quota, Unlimited):
                # A real gate counts what it admits: remember that, so a retry of this message is not
                # counted twice. (Only a crash between the two writes counts an upload twice.)
                record.updated_at = self._now()
                try:
                    self.repository.save_image(record, expected_status=STATUS_PROCESSING)
                except ConditionFailed:
                    self._void(record)
                    return Outcome("superseded", key, record.image_id)
        try:
            stored = self.originals.get(key, max_bytes=self.config.limits.max_source_bytes)
        except ObjectNotFound:
            return self._gone(record)
        except ObjectTooLarge as error:
            return self._reject(record, "too-large", str(error))
        if record.etag and stored.head.etag and stored.head.etag.strip('"') != record.etag:
            # Overwritten since this event: the newer event processes the newer object.
            return self._gone(record)
        data = stored.data
        record.sha256 = hashlib.sha256(data).hexdigest()
        record.bytes = len(data)
        declared = (stored.head.content_type or "").split(";", 1)[0].strip().lower()
        declared_type = None if declared in _GENERIC_TYPES else declared

        duplicate = self._copy_duplicate(record, name, declared_type)
        if duplicate is not None:
            return duplicate
        try:
            info = inspect(data, limits=self.config.limits, declared_type=declared_type)
            check_declared_type(info.format, name)  # type: ignore[arg-type]
        except Rejected as rejection:
            return self._reject(record, rejection.reason, rejection.message)
        try:
            written, out_bytes, preview = self._render(record, data, info, deadline)
        except Rejected as rejection:
            return self._reject(record, rejection.reason, rejection.message)
        self._fill_facts(record, info, name)
        # A rendition already made is the tagger's picture; only when none fits is the original decoded again.
        self._tag(record, info, preview or remote_jpeg(data))
        # After tagging: the name falls back on the tags (imgpipe.naming, the export's rule too).
        record.seo_name = seo_name(record.tags, upload_name=name, taken_at=record.taken_at)
        record.renditions = written
        return self._ready(record, bytes_in=len(data), bytes_out=out_bytes)

    def _animation_fallback(
        self, info: ImageInfo, specs: Sequence[TransformSpec], deadline: float | None
    ) -> str | None:
        """Why the animated renditions are rendered from the first frame only, or None when they fit.

        The cost is estimated before rendering (a render cannot be stopped halfway), from the decoded
        pixels and the measured cost per megapixel; what is left must also hold the writes after it.
        """
        if deadline is None or not info.animated:
            return None
        animated = sum(1 for spec in specs if spec.anim and spec.fm in ("gif", "webp"))
        megapixels = info.frames * info.width * info.height / 1e6
        megabytes = info.bytes / 1e6
        per_rendition = (
            megapixels * self.config.animation_seconds_per_megapixel
            + megabytes * self.config.animation_seconds_per_megabyte
        )
        needed = animated * per_rendition
        left = deadline - self.monotonic() - self.config.deadline_margin_s
        if animated == 0 or needed <= left:
            return None
        if left <= 0:
            raise DeadlineNear(
                f"{left + self.config.deadline_margin_s:.1f} s left before the function's deadline"
            )
        return (
            f"animation:first-frame (deadline: {animated} animated renditions of {info.frames} frames "
            f"need about {needed:.0f} s, {left:.0f} s were left)"
        )

    def _render(
        self, record: ImageRecord, data: bytes, info: ImageInfo, deadline: float | None = None
    ) -> tuple[list[Rendition], int, bytes | None]:
        """Write the eager renditions and the mezzanine; return the renditions, their bytes, and the largest
        whole-picture JPEG/PNG rendition within a tagger's size (None when there is none)."""
        key = record.source_key
        wanted = eager_specs(info, self.config.presets, self.config.eager_formats)
        specs = [spec for _, spec in wanted]
        record.animation_fallback = self._animation_fallback(info, specs, deadline)
        if record.animation_fallback is not None:
            # Stored under the animated renditions' keys: what a preset URL serves from now on.
            specs = [spec.model_copy(update={"anim": False}) for spec in specs]
        mezzanine = mezzanine_spec(info) if needs_mezzanine(info) else None
        if mezzanine is not None:
            specs.append(mezzanine)
        # One call, one decode at the largest size needed; the recorded focal point makes g=auto match
        # what delivery computes from the record.
        rendered = render_many(
            data,
            specs,
            options=RenderOptions(
                limits=self.config.limits,
                focal_point=info.focal_point,
                intermediates=frozenset({mezzanine}) if mezzanine is not None else frozenset(),
            ),
        )
        written: list[Rendition] = []
        total = 0
        previews = [
            output
            for (_, spec), output in zip(wanted, rendered[: len(wanted)], strict=True)
            if output.format in ("jpeg", "png")
            and spec.fit != "cover"
            and spec.crop is None
            and max(output.width, output.height) <= REMOTE_MAX_SIDE
        ]
        preview = max(previews, key=lambda output: output.width * output.height).data if previews else None
        for (preset, spec), output in zip(wanted, rendered[: len(wanted)], strict=True):
            target = variant_key(key, spec)
            self.renditions.put(target, output.data, content_type=output.media_type, cache_control=IMMUTABLE)
            total += len(output.data)
            written.append(
                Rendition(
                    key=target,
                    query=spec.variant_query(),
                    preset=preset,
                    format=output.format,
                    media_type=output.media_type,
                    width=output.width,
                    height=output.height,
                    bytes=len(output.data),
                )
            )
        if mezzanine is not None:
            output = rendered[-1]
            target = mezzanine_key(MEZZANINE_PREFIX, key)
            self.renditions.put(
                target,
                output.data,
                content_type=output.media_type,
                cache_control=IMMUTABLE,
                metadata=mezzanine_metadata((output.width, output.height), (info.width, info.height)),
            )
            total += len(output.data)
            record.mezzanine_key = target
        return written, total, preview

    def _fill_facts(self, record: ImageRecord, info: ImageInfo, name: str) -> None:
        record.sha256 = info.sha256
        record.bytes = info.bytes
        record.format = info.format
        record.media_type = info.media_type
        record.width = info.width
        record.height = info.height
        record.frames = info.frames
        record.animated = info.animated
        record.orientation = info.orientation
        record.has_alpha = info.has_alpha
        record.colour_profile = info.colour_profile
        record.camera = info.camera
        record.taken_at = info.taken_at
        record.had_gps = info.had_gps
        record.dominant_colour = info.dominant_colour
        record.blurhash = info.blurhash
        record.phash = info.phash
        record.focal_point = info.focal_point
        record.tags = derived_tags(info)

    def _tag(self, record: ImageRecord, info: ImageInfo, picture: bytes) -> None:
        """The tagger's words first (best first), then the facts' own. `picture` is a small JPEG/PNG of
        the whole image, never the original.

        A remote tagger sits behind a circuit breaker with the offline one as its fallback, so this never
        fails an upload: a fallback marks the record for a later refresh instead.
        """
        preview = TagInput(
            data=picture,
            width=info.width,
            height=info.height,
            taken_at=info.taken_at,
            camera=info.camera,
        )
        result = self.tagger.tag(preview)
        record.tags = list(dict.fromkeys([*result.tags, *derived_tags(info)]))
        record.tags_source = result.source
        record.caption = result.caption
        record.tags_refresh = result.refresh

    def _copy_duplicate(self, record: ImageRecord, name: str, declared_type: str | None) -> Outcome | None:
        """Same tenant, same bytes, already READY: copy its renditions (server side) instead of rendering.

        Each source key keeps its own renditions under its own canonical keys, so delivery finds them and
        deleting either original never breaks the other.
        """
        assert record.sha256 is not None
        candidates = [
            other
            for other in self.repository.find_by_checksum(record.tenant, record.sha256)
            if other.status == STATUS_READY and other.image_id != record.image_id and other.format
        ]
        if not candidates:
            return None
        original = min(candidates, key=lambda other: other.created_at)
        assert original.format is not None
        try:
            if declared_type:
                check_declared_type(original.format, declared_type)  # type: ignore[arg-type]
            check_declared_type(original.format, name)  # type: ignore[arg-type]
        except Rejected as rejection:
            return self._reject(record, rejection.reason, rejection.message)
        key = record.source_key
        copied: list[Rendition] = []
        try:
            for rendition in original.renditions:
                target = variant_key(key, TransformSpec.parse(rendition.query, presets={}))
                self.renditions.copy(rendition.key, target)
                copied.append(rendition.model_copy(update={"key": target}))
            if original.mezzanine_key:
                target = mezzanine_key(MEZZANINE_PREFIX, key)
                self.renditions.copy(original.mezzanine_key, target)
                record.mezzanine_key = target
        except ObjectNotFound:
            return None  # the original went away meanwhile: render as if it never existed
        for name_ in (
            "format",
            "media_type",
            "width",
            "height",
            "frames",
            "animated",
            "orientation",
            "has_alpha",
            "colour_profile",
            "camera",
            "taken_at",
            "had_gps",
            "dominant_colour",
            "blurhash",
            "phash",
            "focal_point",
            "tags",
            "tags_source",
            "caption",
            "tags_refresh",
        ):
            setattr(record, name_, getattr(original, name_))
        record.seo_name = seo_name(record.tags, upload_name=name, taken_at=record.taken_at)
        record.renditions = copied
        record.duplicate_of = original.image_id
        outcome = self._ready(record, bytes_in=record.bytes or 0, bytes_out=0)
        outcome.action = "duplicate" if outcome.action == "processed" else outcome.action
        return outcome

    # Endings of an upload

    def _ready(self, record: ImageRecord, *, bytes_in: int, bytes_out: int) -> Outcome:
        now = self._now()
        record.status = STATUS_READY
        record.processed_at = now
        record.updated_at = now
        if not self._finish(record, "ready"):
            return Outcome("superseded", record.source_key, record.image_id)
        self._settle(record)
        return Outcome(
            "processed",
            record.source_key,
            record.image_id,
            bytes_in=bytes_in,
            bytes_out=bytes_out,
            renditions=len(record.renditions),
        )

    def _reject(self, record: ImageRecord, reason: str, message: str) -> Outcome:
        key = record.source_key
        target = quarantine_key(key)
        if record.quarantine_key is None:
            # The intent is recorded before the move, so the ObjectRemoved event the move causes is known
            # as ours (not a user's delete) whenever it arrives.
            record.quarantine_key = target
            record.reason = reason
            record.reason_message = message
            record.updated_at = self._now()
            try:
                self.repository.save_image(record, expected_status=STATUS_PROCESSING)
            except ConditionFailed:
                return Outcome("superseded", key, record.image_id)
        # ObjectNotFound: moved by an earlier attempt, or deleted by its owner meanwhile.
        with suppress(ObjectNotFound):
            # Only the object version this event is about (its ETag): a newer upload to the same key is
            # never quarantined in its place.
            self.originals.move(
                key,
                target,
                metadata={QUARANTINE_REASON_METADATA: reason, QUARANTINE_IMAGE_METADATA: record.image_id},
                if_match=record.etag,
            )
        now = self._now()
        record.status = STATUS_REJECTED
        record.processed_at = now
        record.updated_at = now
        if not self._finish(record, "rejected"):
            return Outcome("superseded", key, record.image_id)
        self._release_quota(record)
        self._settle(record)
        return Outcome("rejected", key, record.image_id, reason=reason, bytes_in=record.bytes or 0)

    def _gone(self, record: ImageRecord) -> Outcome:
        now = self._now()
        record.status = STATUS_DELETED
        record.reason = "gone"
        record.reason_message = "the object was deleted or overwritten before it was processed"
        record.renditions_deleted = 0
        record.deleted_at = now
        record.updated_at = now
        if not self._finish(record, "deleted"):
            return Outcome("superseded", record.source_key, record.image_id)
        self._settle(record)
        return Outcome("gone", record.source_key, record.image_id)

    def _finish(self, record: ImageRecord, count: BatchCounter) -> bool:
        """PROCESSING → terminal, counted in the batch in the same transaction. False: someone else
        (a delete, a newer upload) changed the record first, and this attempt's work is void."""
        try:
            self.repository.finish_image(record, expected_status=STATUS_PROCESSING, count=count)
        except ConditionFailed:
            self._void(record)
            return False
        return True

    def _void(self, record: ImageRecord) -> None:
        """This attempt's record was changed under it. If a delete or a newer upload of the key did it, what
        this attempt wrote may have landed after they cleared the key: clear it again. (If a concurrent
        delivery of the same event finished the record instead, its renditions are the right ones.)"""
        latest = self.repository.get_image(record.image_id)
        if latest is None or latest.status == STATUS_DELETED:
            self._delete_renditions(record.source_key)

    def _settle(self, record: ImageRecord) -> None:
        """Publish the terminal event if not yet done, then see whether the batch is complete."""
        if record.status == STATUS_READY:
            self._announce(record, _processed_detail(record))
        elif record.status == STATUS_REJECTED:
            self._announce(record, _rejected_detail(record))
        elif record.status == STATUS_DELETED:
            self._announce(record, _deleted_detail(record))
        if record.batch_id is not None:
            self._complete_batch(record.tenant, record.batch_id)

    def _announce(self, record: ImageRecord, detail: EventDetail) -> None:
        """At most once per record and detail type while nothing fails; a failure before the flag is
        saved means a retry publishes again (at least once), never that the event is lost."""
        if detail.DETAIL_TYPE in record.announced:
            return
        self.publisher.publish([detail])
        record.announced = [*record.announced, detail.DETAIL_TYPE]
        # ConditionFailed: the status moved on, and whoever moved it announces what follows.
        with suppress(ConditionFailed):
            self.repository.save_image(record, expected_status=record.status)

    def _complete_batch(self, tenant: str, batch_id: str) -> BatchRecord | None:
        """Announce `Batch Completed` if every upload of the batch is accounted for and nobody has yet.

        Exactly one caller wins the conditional claim (DynamoDB serialises the writes), publishes, then
        marks the batch completed. A winner that cannot publish gives the claim back and fails its message;
        one that dies keeps it only until the lease runs out, before its message is received again.
        """
        moment = self.clock()
        now = utc_now_text(moment)
        until = utc_now_text(moment + timedelta(seconds=self.config.batch_claim_seconds))
        batch = self.repository.claim_batch_completion(tenant, batch_id, now, until)
        if batch is None:
            return None
        assert batch.expected is not None
        try:
            self.publisher.publish(
                [
                    BatchCompleted(
                        tenant=tenant,
                        batch_id=batch_id,
                        expected=batch.expected,
                        ready=batch.ready,
                        rejected=batch.rejected,
                        deleted=batch.deleted,
                        completed_at=now,
                    )
                ]
            )
        except Exception:
            with suppress(Exception):  # if this fails too, the lease runs out on its own
                self.repository.release_batch_claim(tenant, batch_id)
            raise
        self.repository.mark_batch_completed(tenant, batch_id, now)
        return batch.model_copy(update={"completed": True, "completed_at": now, "claim_until": None})

    # Replacements and deletions

    def _supersede(self, old_id: str, key: str) -> None:
        """A newer upload took the key: the old image's renditions go, its record becomes DELETED."""
        old = self.repository.get_image(old_id)
        if old is None or old.status in (STATUS_DELETED, STATUS_REJECTED):
            return
        self._mark_deleted(old, "replaced", self._delete_renditions(key))

    def remove(self, key: str, *, sequencer: str | None, event_time: datetime | None) -> Outcome:
        """ObjectRemoved on an original: delete its renditions, mark the record DELETED, announce it."""
        token = order_token(sequencer, event_time)
        stored = self.repository.get_source(key)
        moment = self.clock()
        pointer = SourcePointer(
            source_key=key,
            sequencer=token,
            image_id=stored.image_id if stored else None,
            deleted=True,
            updated_at=utc_now_text(moment),
            ttl=int((moment + timedelta(days=DELETED_POINTER_DAYS)).timestamp()),
        )
        try:
            previous = self.repository.claim_source(pointer)
            current = previous.image_id if previous else None
        except ConditionFailed:
            stored = self.repository.get_source(key)
            if stored is None or stored.sequencer != token:
                return Outcome("stale", key)
            current = stored.image_id
        if current is None:
            return Outcome("ignored", key)
        record = self.repository.get_image(current)
        if record is None:
            return Outcome("ignored", key, current)
        if record.quarantine_key is not None:
            return Outcome("ignored", key, current, reason="quarantine move")  # our own move
        if record.status == STATUS_DELETED:
            self._settle(record)
            return Outcome("skipped", key, current)
        return self._mark_deleted(record, "deleted", self._delete_renditions(key))

    def _mark_deleted(self, record: ImageRecord, cause: str, renditions_deleted: int) -> Outcome:
        before = record.status
        now = self._now()
        record.status = STATUS_DELETED
        record.reason = cause
        record.reason_message = None
        record.renditions_deleted = renditions_deleted
        record.deleted_at = now
        record.updated_at = now
        # Only a record deleted before it was counted counts now; READY/REJECTED were counted already.
        count: BatchCounter | None = "deleted" if before == STATUS_PROCESSING else None
        try:
            self.repository.finish_image(record, expected_status=before, count=count)
        except ConditionFailed:
            latest = self.repository.get_image(record.image_id)
            if latest is None or latest.status != STATUS_DELETED:
                raise  # changed between read and write: let SQS retry with fresh state
            record = latest
        else:
            if before != STATUS_REJECTED:  # a rejection gave its bytes back already
                self._release_quota(record)
        self._settle(record)
        return Outcome("deleted", record.source_key, record.image_id, renditions=renditions_deleted)

    def _release_quota(self, record: ImageRecord) -> None:
        """Give back the stored bytes of an upload that no longer occupies the tenant's storage.

        Called once, right after the status change that makes the bytes free; a worker dying between the
        two leaves the bytes counted (the tenant's loss, never a free pass).
        """
        if record.quota_counted and record.bytes:
            self.quota.release(record.tenant, record.bytes)

    def _delete_renditions(self, key: str) -> int:
        doomed = [item for item in self.renditions.list_keys(key + "/") if is_rendition_key(key, item)]
        self.renditions.delete_many(doomed)
        self.renditions.delete(mezzanine_key(MEZZANINE_PREFIX, key))
        return len(doomed)


def _superseded_while_processing(record: ImageRecord) -> bool:
    """DELETED by a delete or a newer upload of its key before it was ever finished."""
    return record.status == STATUS_DELETED and record.processed_at is None and record.reason != "gone"


def _live_image(pointer: SourcePointer | None) -> str | None:
    """The image a pointer names while its object still exists (not after a delete)."""
    return pointer.image_id if pointer is not None and not pointer.deleted else None


def _processed_detail(record: ImageRecord) -> ImageProcessed:
    assert record.sha256 and record.format and record.width is not None and record.height is not None
    return ImageProcessed(
        image_id=record.image_id,
        tenant=record.tenant,
        source_key=record.source_key,
        batch_id=record.batch_id,
        sha256=record.sha256,
        format=record.format,
        width=record.width,
        height=record.height,
        renditions=[
            RenditionRef(key=r.key, preset=r.preset, format=r.format, width=r.width, height=r.height)
            for r in record.renditions
        ],
        mezzanine_key=record.mezzanine_key,
        duplicate_of=record.duplicate_of,
        seo_name=record.seo_name,
        processed_at=record.processed_at or record.updated_at,
    )


def _rejected_detail(record: ImageRecord) -> ImageRejected:
    return ImageRejected(
        image_id=record.image_id,
        tenant=record.tenant,
        source_key=record.source_key,
        batch_id=record.batch_id,
        reason=record.reason or "unknown",
        message=record.reason_message or "",
        quarantine_key=record.quarantine_key,
        rejected_at=record.processed_at or record.updated_at,
    )


def _deleted_detail(record: ImageRecord) -> ImageDeleted:
    cause = record.reason if record.reason in ("deleted", "replaced", "gone") else "deleted"
    return ImageDeleted(
        image_id=record.image_id,
        tenant=record.tenant,
        source_key=record.source_key,
        batch_id=record.batch_id,
        cause=cause,
        renditions_deleted=record.renditions_deleted or 0,
        deleted_at=record.deleted_at or record.updated_at,
    )
