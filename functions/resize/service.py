"""Resize: a request the edge could not answer from the transformed bucket, in; a rendition or a problem, out.

The service never trusts the edge. It parses and verifies the forwarded request again
(`imgpipe.delivery.at_origin`), reads only originals under the uploads prefix, applies the engine's limits,
and gives up with a 503 before the function's deadline. It renders from the mezzanine when that holds
every pixel the request needs (and the request has no `crop`, which is in source pixels), else from the
original, stores the result under the rendition's canonical key with an immutable Cache-Control and
answers with it, or with a redirect to the same URL when the result is too big for a Lambda response.

It only talks to ports (`ObjectStore`, `FocalPoints`), so unit tests hand it in-memory fakes and
integration tests the S3 adapter under moto.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from time import perf_counter
from typing import Any, Final, Literal, Protocol, cast

from imgpipe.core import DEFAULT_LIMITS, DEFAULT_PRESETS, Limits, Rejected, RenderOptions, SpecError, render
from imgpipe.core.geometry import plan_fit
from imgpipe.core.mezzanine import mezzanine_key, read_mezzanine_metadata
from imgpipe.core.models import OutputFormat, Rendered
from imgpipe.core.negotiate import FORMAT_EXTENSIONS
from imgpipe.core.spec import TransformSpec
from imgpipe.delivery import (
    DEFAULT_SIGNING_POLICY,
    Delivery,
    Problem,
    Refused,
    SigningPolicy,
    at_origin,
    bad_parameter,
)
from imgpipe.ports import MetadataRepository, ObjectNotFound, ObjectStore, ObjectTooLarge
from imgpipe.uploads import tenant_of
from infra.constants import MEZZANINE_PREFIX, SOURCE_PREFIXES

IMMUTABLE: Final = "public, max-age=31536000, immutable"
NO_STORE: Final = "no-store"
PROBLEM_TYPE: Final = "application/problem+json"
DEFAULT_MAX_INLINE_BYTES: Final = 4_500_000  # see resize.settings: about 6 MB once base64-encoded
RETRY_AFTER_SECONDS: Final = 2
ALLOWED_METHODS: Final = ("GET", "HEAD")
# File name extensions a `dl` name may already end with; they are replaced by the output format's own.
_IMAGE_EXTENSIONS: Final = frozenset(
    {"jpg", "jpeg", "jpe", "png", "gif", "webp", "avif", "heic", "heif", "tif", "tiff", "bmp", "jxl"}
)

SourceKind = Literal["mezzanine", "original"]

# Engine rejections → (status, problem code). DESIGN.md: 413 too large, 415 not an image, 422 cannot decode.
_REJECTION_STATUS: Final[Mapping[str, tuple[int, str]]] = {
    "empty": (415, "not-an-image"),
    "not-an-image": (415, "not-an-image"),
    "unsupported-format": (415, "not-an-image"),
    "type-mismatch": (415, "not-an-image"),
    "truncated": (422, "cannot-decode"),
    "corrupt": (422, "cannot-decode"),
    "bomb": (413, "source-too-large"),
    "pixel-limit": (413, "source-too-large"),
    "too-many-frames": (413, "source-too-large"),
    "too-large": (413, "source-too-large"),
}


class FocalPoints(Protocol):
    """Where `g=auto` centres a crop, as recorded at ingest (None: estimate from the pixels)."""

    def focal_point(self, source_key: str) -> tuple[float, float] | None: ...


class RecordedFocalPoints:
    """`FocalPoints` from the image records: the source pointer of the key, then its image record."""

    def __init__(self, repository: MetadataRepository) -> None:
        self._repository = repository

    def focal_point(self, source_key: str) -> tuple[float, float] | None:
        pointer = self._repository.get_source(source_key)
        if pointer is None or pointer.deleted or not pointer.image_id:
            return None
        record = self._repository.get_image(pointer.image_id)
        return record.focal_point if record is not None else None


@dataclass(frozen=True)
class ResizeConfig:
    presets: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_PRESETS))
    policy: SigningPolicy = DEFAULT_SIGNING_POLICY
    limits: Limits = DEFAULT_LIMITS
    max_inline_bytes: int = DEFAULT_MAX_INLINE_BYTES
    render_time_budget_s: float | None = None  # None: only the deadline bounds a render
    deadline_margin_s: float = 1.5
    source_prefixes: tuple[str, ...] = SOURCE_PREFIXES
    mezzanine_prefix: str = MEZZANINE_PREFIX


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes = b""


@dataclass(frozen=True)
class Outcome:
    """What happened, for logs and metrics (the handler records it)."""

    action: Literal["rendered", "redirected", "refused", "timed-out"]
    status: int
    code: str | None = None  # the problem code of a refusal
    source: SourceKind | None = None
    object_key: str | None = None
    bytes_out: int = 0
    timings_ms: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    response: HttpResponse
    outcome: Outcome


@dataclass(frozen=True)
class _Made:
    rendered: Rendered
    source: SourceKind
    timings_ms: Mapping[str, float]


class _OverBudget(Exception):
    pass


def problem_response(problem: Problem, *, head: bool = False) -> HttpResponse:
    headers = {"content-type": PROBLEM_TYPE, "cache-control": problem.cache_control}
    if problem.status == 503:
        headers["retry-after"] = str(RETRY_AFTER_SECONDS)
    if problem.status == 405:
        headers["allow"] = ", ".join(ALLOWED_METHODS)
    return HttpResponse(problem.status, headers, b"" if head else problem.body())


def problem_for_rejection(rejection: Rejected) -> Problem:
    status, code = _REJECTION_STATUS.get(rejection.reason, (422, "cannot-decode"))
    return Problem(status, code, rejection.message, "key", reason=rejection.reason)


def mezzanine_covers(spec: TransformSpec, metadata: Mapping[str, str]) -> bool:
    """True when the mezzanine (`metadata`: its width/height and the source's) can serve `spec`.

    That is: the request names a size and no crop (crop is in source pixels), the mezzanine is never
    enlarged for it, and the output comes out the size a render of the original would have, give or take
    the one pixel the mezzanine's own rounding can move a side that the request did not fix (a 3681×5594
    source at w=800 is 800×1216; its 1685×2560 mezzanine gives 800×1215).
    """
    target_width, target_height = spec.target_size()
    if spec.crop is not None or (target_width is None and target_height is None):
        return False
    sizes = read_mezzanine_metadata(metadata)
    if sizes is None:
        return False
    (width, height), (source_width, source_height) = sizes

    if spec.rot in (90, 270):
        width, height, source_width, source_height = height, width, source_height, source_width
    from_mezzanine = plan_fit(width, height, target_width, target_height, spec.fit, spec.up)
    from_source = plan_fit(source_width, source_height, target_width, target_height, spec.fit, spec.up)
    # Every pixel the output needs must be in the mezzanine (half a pixel of rounding allowed) ...
    holds = (
        source_width * from_source.scale_x <= width + 0.5
        and source_height * from_source.scale_y <= height + 0.5
    )
    # ... and the output the size a render of the original gives, but for the mezzanine's own rounding.
    close = all(abs(a - b) <= 1 for a, b in zip(from_mezzanine.output, from_source.output, strict=True))
    return holds and close and from_mezzanine.scale_x <= 1 and from_mezzanine.scale_y <= 1


def content_disposition(name: str, fmt: OutputFormat) -> str:
    """`attachment` with the `dl` name, its extension made to match the format actually served."""
    stem, dot, extension = name.rpartition(".")
    if not dot or extension.lower() not in _IMAGE_EXTENSIONS or not stem:
        stem = name
    return f'attachment; filename="{stem}.{FORMAT_EXTENSIONS[fmt]}"'


def server_timing(timings_ms: Mapping[str, float], source: SourceKind | None) -> str:
    parts = []
    for name in ("fetch", "decode", "transform", "encode", "store"):
        if name in timings_ms:
            entry = f"{name};dur={timings_ms[name]:.1f}"
            if name == "fetch" and source:
                entry += f';desc="{source}"'
            parts.append(entry)
    return ", ".join(parts)


WorkerWrapper = Callable[[Callable[[], Any]], Callable[[], Any]]


def _same_thread(work: Callable[[], Any]) -> Callable[[], Any]:
    return work


def _within(budget_s: float | None, work: Callable[[], _Made], wrap: WorkerWrapper = _same_thread) -> _Made:
    """Run `work` and return its result, or raise _OverBudget once `budget_s` has passed.

    Pillow cannot be interrupted, so the work goes on in its thread; if it finishes later it still stores
    its rendition (a correct object under its own key), which the next request then finds. `wrap` is
    applied in the calling thread and runs in the worker (the handler passes X-Ray's trace context on).
    """
    if budget_s is None:
        return work()
    work = wrap(work)
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as error:  # handed to the caller below
            box["error"] = error
        finally:
            done.set()

    threading.Thread(target=run, name="imgpipe-render", daemon=True).start()
    if not done.wait(budget_s):
        raise _OverBudget
    if "error" in box:
        raise box["error"]
    return cast(_Made, box["value"])


class ResizeService:
    def __init__(
        self,
        *,
        originals: ObjectStore,
        renditions: ObjectStore,
        config: ResizeConfig,
        signing_keys: Callable[[], Sequence[bytes]],
        focal_points: FocalPoints | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        worker_wrapper: WorkerWrapper = _same_thread,
    ) -> None:
        self.originals = originals
        self.renditions = renditions
        self.config = config
        self._signing_keys = signing_keys
        self._focal_points = focal_points
        self._clock = clock
        self._monotonic = monotonic
        self._worker_wrapper = worker_wrapper

    # -- the request ---------------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, raw_query: str, *, deadline: float | None = None) -> Result:
        """Answer one origin request. `deadline` is on the `monotonic` clock (None: no deadline)."""
        method = method.upper()
        head = method == "HEAD"
        if method not in ALLOWED_METHODS:
            return self._refused(Problem(405, "method-not-allowed", f"{method} is not served; use GET"))
        try:
            delivery = self._accept(raw_path, raw_query)
        except Refused as refusal:
            return self._refused(refusal.problem, head=head)
        budget = self._budget(deadline)
        if budget is not None and budget <= 0:
            return self._timed_out(delivery, head)
        try:
            made = _within(budget, lambda: self._make(delivery), self._worker_wrapper)
        except Refused as refusal:
            return self._refused(refusal.problem, head=head, delivery=delivery)
        except _OverBudget:
            return self._timed_out(delivery, head)
        return self._answer(delivery, made, head)

    def _accept(self, raw_path: str, raw_query: str) -> Delivery:
        policy = self.config.policy
        secrets = self._signing_keys() if policy != "off" else ()
        presets, now = self.config.presets, self._clock()
        delivery = at_origin(raw_path, raw_query, policy=policy, secrets=secrets, presets=presets, now=now)
        prefixes = self.config.source_prefixes
        if not delivery.source_key.startswith(prefixes):
            # Never read: quarantine/ and anything else outside the originals (uploads/, batches/).
            raise Refused(Problem(404, "no-source", "there is no image under this key", "key"))
        mark = delivery.spec.mark
        if mark is not None and not mark.startswith(prefixes):
            raise Refused(Problem(404, "no-source", "there is no watermark image under this key", "mark"))
        # A watermark is another image drawn into this one: only one of the same tenant's (an upload or a
        # batch member of it), never a way to read another tenant's upload (signing keys are the stage's).
        tenant = tenant_of(delivery.source_key)
        if mark is not None and tenant_of(mark) != tenant:
            where = " or ".join(f"{prefix}{tenant}/" for prefix in prefixes)
            detail = f"the watermark must be an image of the same tenant, under {where}"
            raise Refused(Problem(403, "overlay-forbidden", detail, "mark"))
        return delivery

    def _budget(self, deadline: float | None) -> float | None:
        budgets = [self.config.render_time_budget_s] if self.config.render_time_budget_s else []
        if deadline is not None:
            budgets.append(deadline - self._monotonic() - self.config.deadline_margin_s)
        return min(budgets) if budgets else None

    # -- the work (in the render thread when there is a budget) --------------------------------------

    def _make(self, delivery: Delivery) -> _Made:
        spec = delivery.rendition
        started = perf_counter()
        data, source = self._source(delivery.source_key, spec)
        overlays = self._overlays(spec)
        fetched = perf_counter()
        focal = None
        if spec.g == "auto" and spec.fp is None and self._focal_points is not None:
            focal = self._focal_points.focal_point(delivery.source_key)
        options = RenderOptions(limits=self.config.limits, overlays=overlays, focal_point=focal)
        try:
            rendered = render(data, spec, options=options)
        except SpecError as error:  # the output would be over the limits, a crop outside the image, ...
            raise bad_parameter(error) from None
        except Rejected as rejection:
            raise Refused(problem_for_rejection(rejection)) from None
        rendered_at = perf_counter()
        self._store(delivery, rendered)
        stored = perf_counter()
        timings = {
            "fetch": (fetched - started) * 1000,
            **rendered.timings_ms,
            "store": (stored - rendered_at) * 1000,
        }
        return _Made(rendered=rendered, source=source, timings_ms=timings)

    def _source(self, source_key: str, spec: TransformSpec) -> tuple[bytes, SourceKind]:
        max_bytes = self.config.limits.max_source_bytes
        if spec.crop is None and spec.target_size() != (None, None):
            key = mezzanine_key(self.config.mezzanine_prefix, source_key)
            try:
                if mezzanine_covers(spec, self.renditions.head(key).metadata):
                    return self.renditions.get(key, max_bytes=max_bytes).data, "mezzanine"
            except (ObjectNotFound, ObjectTooLarge):
                pass  # none stored (animated, small or not ingested yet): the original it is
        try:
            return self.originals.get(source_key, max_bytes=max_bytes).data, "original"
        except ObjectNotFound:
            raise Refused(Problem(404, "no-source", "there is no image under this key", "key")) from None
        except ObjectTooLarge as error:
            raise Refused(
                Problem(
                    413,
                    "source-too-large",
                    f"the source is {error.size:,} bytes; at most {error.limit:,} are rendered",
                    "key",
                    reason="too-large",
                )
            ) from None

    def _overlays(self, spec: TransformSpec) -> dict[str, bytes]:
        if spec.mark is None:
            return {}
        try:
            mark = self.originals.get(spec.mark, max_bytes=self.config.limits.max_source_bytes)
        except ObjectNotFound:
            raise Refused(
                Problem(404, "no-source", "there is no watermark image under this key", "mark")
            ) from None
        except ObjectTooLarge:
            raise Refused(
                Problem(413, "source-too-large", "the watermark is too large", "mark", reason="too-large")
            ) from None
        return {spec.mark: mark.data}

    def _store(self, delivery: Delivery, rendered: Rendered) -> None:
        disposition = (
            None if delivery.spec.dl is None else content_disposition(delivery.spec.dl, rendered.format)
        )
        self.renditions.put(
            delivery.object_key,
            rendered.data,
            content_type=rendered.media_type,
            cache_control=IMMUTABLE,
            content_disposition=disposition,
        )

    # -- the answer ----------------------------------------------------------------------------------

    def _answer(self, delivery: Delivery, made: _Made, head: bool) -> Result:
        rendered = made.rendered
        data = rendered.data
        headers = {
            "content-type": rendered.media_type,
            "cache-control": IMMUTABLE,
            "etag": '"' + hashlib.md5(data, usedforsecurity=False).hexdigest() + '"',  # S3's single-part ETag
            "server-timing": server_timing(made.timings_ms, made.source),
        }
        if delivery.negotiated:
            headers["vary"] = "Accept"
        if delivery.spec.dl is not None:
            headers["content-disposition"] = content_disposition(delivery.spec.dl, rendered.format)
        outcome = Outcome(
            "rendered",
            200,
            source=made.source,
            object_key=delivery.object_key,
            bytes_out=len(data),
            timings_ms=made.timings_ms,
        )
        if len(data) > self.config.max_inline_bytes and not head:
            # Stored already: the same URL is now a hit in the transformed bucket. The redirect itself must
            # not be cached, or it would answer its own target.
            redirect = {
                "location": delivery.viewer_url,
                "cache-control": NO_STORE,
                "server-timing": headers["server-timing"],
            }
            return Result(HttpResponse(307, redirect), replace(outcome, action="redirected", status=307))
        return Result(HttpResponse(200, headers, b"" if head else data), outcome)

    def _refused(self, problem: Problem, *, head: bool = False, delivery: Delivery | None = None) -> Result:
        outcome = Outcome(
            "refused",
            problem.status,
            code=problem.code,
            object_key=delivery.object_key if delivery is not None else None,
        )
        return Result(problem_response(problem, head=head), outcome)

    def _timed_out(self, delivery: Delivery, head: bool) -> Result:
        problem = Problem(
            503,
            "render-timeout",
            "the rendition could not be made in time; it may be ready if you try again shortly",
        )
        outcome = Outcome("timed-out", 503, code=problem.code, object_key=delivery.object_key)
        return Result(problem_response(problem, head=head), outcome)
