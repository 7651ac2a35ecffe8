"""Render transformations: decode once at the smallest scale that serves every request, then derive each.

The order is fixed: shrink-on-load → orientation → crop → rot/flip → one resample → sRGB → fit crop/pad
→ effects → watermarks → alpha/background → encode.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from time import perf_counter

from PIL import Image

from imgpipe.core import analysis, ops, pixels
from imgpipe.core.decode import Source, load_frame, open_source, seek_frame, strict_decoding
from imgpipe.core.encode import encode, encode_animation
from imgpipe.core.errors import SpecError
from imgpipe.core.geometry import (
    GRAVITY_ANCHORS,
    ORIENTATION_TRANSPOSE,
    ROTATE_CLOCKWISE,
    FitPlan,
    plan_fit,
    swaps_axes,
)
from imgpipe.core.limits import Limits
from imgpipe.core.models import OutputFormat, Rendered, RenderOptions
from imgpipe.core.negotiate import content_type, negotiate
from imgpipe.core.spec import TransformSpec

ANALYSIS_SIZE = 256
_ANIMATABLE: tuple[OutputFormat, ...] = ("gif", "webp")
_ALPHA_FORMATS: tuple[OutputFormat, ...] = ("avif", "webp", "png", "gif")
_WHITE = (255, 255, 255, 255)
_FLIPS: dict[str, tuple[Image.Transpose, ...]] = {
    "h": (Image.Transpose.FLIP_LEFT_RIGHT,),
    "v": (Image.Transpose.FLIP_TOP_BOTTOM,),
}
_FLIPS["hv"] = _FLIPS["h"] + _FLIPS["v"]


@dataclass(frozen=True)
class _Request:
    """One spec resolved against the source's full-resolution, upright geometry."""

    spec: TransformSpec
    crop: tuple[int, int, int, int] | None  # in upright source pixels
    plan: FitPlan
    needed: tuple[int, int]  # upright source size that still holds every output pixel


@dataclass
class _Base:
    """The decoded, upright source in a working mode, possibly shrunk on load."""

    image: Image.Image  # upright 8-bit sRGB
    full_size: tuple[int, int]
    notes: tuple[str, ...]

    def scale_box(self, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        fx, fy = self.image.width / self.full_size[0], self.image.height / self.full_size[1]
        left, top, right, bottom = box
        return (
            math.floor(left * fx),
            math.floor(top * fy),
            max(math.floor(left * fx) + 1, math.ceil(right * fx)),
            max(math.floor(top * fy) + 1, math.ceil(bottom * fy)),
        )


def _as_spec(spec: TransformSpec | str) -> TransformSpec:
    return spec if isinstance(spec, TransformSpec) else TransformSpec.parse(spec)


def _clamped_crop(spec: TransformSpec, size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    if spec.crop is None:
        return None
    x, y, w, h = spec.crop
    right, bottom = min(x + w, size[0]), min(y + h, size[1])
    if x >= size[0] or y >= size[1] or right <= x or bottom <= y:
        raise SpecError("crop", f"the region {x},{y},{w},{h} lies outside the {size[0]}x{size[1]} image")
    return (x, y, right, bottom)


def _anchor(
    spec: TransformSpec,
    crop: tuple[int, int, int, int] | None,
    base_size: tuple[int, int],
    focal: tuple[float, float] | None,
) -> tuple[float, float]:
    if spec.fp is None and spec.g != "auto":
        return GRAVITY_ANCHORS[spec.g]
    point = spec.fp or focal or (0.5, 0.5)
    x, y = point
    if crop:
        x = (x * base_size[0] - crop[0]) / max(1, crop[2] - crop[0])
        y = (y * base_size[1] - crop[1]) / max(1, crop[3] - crop[1])
    x, y = min(max(x, 0.0), 1.0), min(max(y, 0.0), 1.0)
    # Follow the point through rot (clockwise) and flip.
    if spec.rot == 90:
        x, y = 1 - y, x
    elif spec.rot == 180:
        x, y = 1 - x, 1 - y
    elif spec.rot == 270:
        x, y = y, 1 - x
    if "h" in spec.flip:
        x = 1 - x
    if "v" in spec.flip:
        y = 1 - y
    return x, y


def _resolve(
    spec: TransformSpec, upright: tuple[int, int], limits: Limits, focal: tuple[float, float] | None
) -> _Request:
    crop = _clamped_crop(spec, upright)
    region = (crop[2] - crop[0], crop[3] - crop[1]) if crop else upright
    if spec.rot in (90, 270):
        region = (region[1], region[0])
    target_width, target_height = spec.target_size()
    anchor = _anchor(spec, crop, upright, focal)
    plan = plan_fit(region[0], region[1], target_width, target_height, spec.fit, spec.up, anchor)
    out_w, out_h = plan.output
    if max(out_w, out_h) > limits.max_output_side or out_w * out_h > limits.max_output_pixels:
        param = "w" if target_width else "h"
        raise SpecError(
            param,
            f"the output would be {out_w}x{out_h}; at most {limits.max_output_side} px a side and "
            f"{limits.max_output_pixels:,} pixels are allowed",
        )
    scale = min(1.0, plan.scale)
    needed = (max(1, math.ceil(upright[0] * scale)), max(1, math.ceil(upright[1] * scale)))
    return _Request(spec=spec, crop=crop, plan=plan, needed=needed)


def _decode_base(source: Source, needed: tuple[int, int]) -> _Base:
    image = source.image
    notes: list[str] = []
    stored_needed = (needed[1], needed[0]) if swaps_axes(source.orientation) else needed
    full_stored = source.size
    if source.format == "jpeg" and stored_needed[0] < full_stored[0]:
        # DCT scaling: libjpeg decodes at 1/2, 1/4 or 1/8 directly, never below the needed size.
        image.draft(image.mode, stored_needed)
        if image.size != full_stored:
            notes.append(f"shrink-on-load:{full_stored[0]}x{full_stored[1]}→{image.size[0]}x{image.size[1]}")
    image = load_frame(source)
    icc = image.info.get("icc_profile") or None
    factor = min(image.width / stored_needed[0], image.height / stored_needed[1])
    if factor >= 6:
        # Box-reduce by whole factors while keeping ≥ 3× the needed size for the final Lanczos pass.
        reduce_by = int(factor // 3)
        with strict_decoding(source.format, source.byte_size):
            image = image.reduce(reduce_by)
        notes.append(f"reduce:1/{reduce_by}")
    image = pixels.working_mode(image)
    transpose = ORIENTATION_TRANSPOSE.get(source.orientation)
    if transpose is not None:
        image = image.transpose(transpose)
        notes.append(f"orientation:{source.orientation}")
    # Converted once here, on the already-shrunk image, so renditions share it (and littleCMS's cached
    # transforms are never applied from several threads at once).
    image, colour_note = pixels.to_srgb(image, icc if isinstance(icc, bytes) else None)
    if colour_note:
        notes.append(colour_note)
    full_upright = (full_stored[1], full_stored[0]) if swaps_axes(source.orientation) else full_stored
    return _Base(image=image, full_size=full_upright, notes=tuple(notes))


def _geometry(
    image: Image.Image, request: _Request, base: _Base, background: tuple[int, int, int, int]
) -> Image.Image:
    spec, plan = request.spec, request.plan
    if request.crop:
        image = image.crop(base.scale_box(request.crop))
    if spec.rot:
        image = image.transpose(ROTATE_CLOCKWISE[spec.rot])
    for flip in _FLIPS.get(spec.flip, ()):
        image = image.transpose(flip)
    return pixels.resize(image, plan.resized)


def _fit(image: Image.Image, plan: FitPlan, background: tuple[int, int, int, int]) -> Image.Image:
    if plan.crop:
        return image.crop(plan.crop)
    if plan.canvas:
        mode = "RGBA" if background[3] < 255 or image.mode in ("RGBA", "LA") else "RGB"
        canvas = Image.new(mode, plan.canvas, background if mode == "RGBA" else background[:3])
        layer = image.convert(mode)
        if mode == "RGBA":
            canvas.alpha_composite(layer, plan.offset)
        else:
            canvas.paste(layer, plan.offset)
        return canvas
    return image


def _effects(image: Image.Image, spec: TransformSpec, options: RenderOptions) -> Image.Image:
    if spec.gray:
        image = ops.grayscale(image)
    image = ops.blur(image, spec.blur)
    image = ops.sharpen(image, spec.sharp)
    if spec.mark:
        overlay = options.overlays.get(spec.mark)
        if overlay is None:
            raise SpecError("mark", f"no watermark image is available under {spec.mark!r}")
        mark_source = open_source(overlay, options.limits)
        mark, _ = pixels.to_srgb(pixels.working_mode(load_frame(mark_source)), None)
        image = ops.overlay_image(image, mark, spec.markpos, spec.markw, spec.markalpha)
    if spec.txt:
        colour = pixels.parse_hex_colour(spec.txtclr)
        image = ops.overlay_text(image, spec.txt, spec.txtpos, round(spec.txtsize * spec.dpr), colour)
    return image


def _background(spec: TransformSpec, source_has_alpha: bool) -> tuple[int, int, int, int]:
    if spec.bg:
        return pixels.parse_hex_colour(spec.bg)
    return (255, 255, 255, 0) if source_has_alpha else _WHITE


def _finish_alpha(image: Image.Image, spec: TransformSpec, fmt: OutputFormat) -> Image.Image:
    if image.mode not in ("RGBA", "LA"):
        return image
    if spec.bg:
        colour = pixels.parse_hex_colour(spec.bg)
        if fmt in _ALPHA_FORMATS and colour[3] < 255:
            return pixels.underlay(image, colour)
        return pixels.flatten(image, colour)
    if fmt not in _ALPHA_FORMATS:
        return pixels.flatten(image, _WHITE)
    return image


def _still(
    base: _Base, request: _Request, accept: str | None, options: RenderOptions, notes: tuple[str, ...]
) -> Rendered:
    spec = request.spec
    started = perf_counter()
    source_alpha = pixels.has_alpha(base.image)
    image = _geometry(base.image, request, base, _background(spec, source_alpha))
    image = _fit(image, request.plan, _background(spec, source_alpha))
    image = _effects(image, spec, options)
    image = pixels.drop_opaque_alpha(image)
    fmt: OutputFormat = spec.fm if spec.fm != "auto" else negotiate(accept, pixels.has_alpha(image), False)
    image = _finish_alpha(image, spec, fmt)
    transformed = perf_counter()
    data = encode(
        image, fmt, spec.q, spec.dpr, options.copyright, progressive=spec not in options.intermediates
    )
    encoded = perf_counter()
    operations = [*base.notes, *notes, f"resize:{request.plan.resized[0]}x{request.plan.resized[1]}"]
    return Rendered(
        data=data,
        format=fmt,
        media_type=content_type(fmt),
        width=image.width,
        height=image.height,
        animated=False,
        frames=1,
        query=spec.with_format(fmt).variant_query(),
        operations=tuple(operations),
        timings_ms={"transform": (transformed - started) * 1000, "encode": (encoded - transformed) * 1000},
        negotiated=spec.fm == "auto",
    )


# Parameters that never change what a transformed frame looks like (the plan and crop, resolved from the
# size parameters, stand for those): requests that differ only in these share their frames.
_FRAME_NEUTRAL: dict[str, object] = {
    "w": None,
    "h": None,
    "fit": "inside",
    "up": False,
    "g": "center",
    "fp": None,
    "crop": None,
    "fm": "auto",
    "q": None,
    "preset": None,
    "dl": None,
    "v": None,
    "exp": None,
    "s": None,
}


@dataclass(frozen=True)
class _Animation:
    """One animated output wanted from the source: its request and the format it is encoded in."""

    index: int
    request: _Request
    format: OutputFormat

    @property
    def frames_key(self) -> tuple[object, ...]:
        spec = self.request.spec.model_copy(update=_FRAME_NEUTRAL)
        return (self.request.plan, self.request.crop, spec)

    @property
    def encoding_key(self) -> tuple[object, ...]:
        return (*self.frames_key, self.format, self.request.spec.q)


def _passes(wanted: Sequence[_Animation], frames: int, capacity: int) -> list[list[_Animation]]:
    """Group the outputs so that the transformed frames held at once stay within `capacity` pixels.

    Each distinct look holds frames × its output pixels until it is encoded; every one is within the
    animation budget on its own (`_animation_format`), so a pass never holds more than one budget's worth,
    and a typical preset set of a small animation needs one or two passes (one decode each).
    """
    looks: dict[tuple[object, ...], list[_Animation]] = {}
    for item in wanted:
        looks.setdefault(item.frames_key, []).append(item)

    def cost(items: list[_Animation]) -> int:
        width, height = items[0].request.plan.output
        return frames * width * height

    passes: list[tuple[int, list[_Animation]]] = []
    for items in sorted(looks.values(), key=cost, reverse=True):
        for number, (held, members) in enumerate(passes):
            if held + cost(items) <= capacity:
                passes[number] = (held + cost(items), members + items)
                break
        else:
            passes.append((cost(items), list(items)))
    return [members for _, members in passes]


def _animated(
    data: bytes, frames: int, wanted: Sequence[_Animation], options: RenderOptions
) -> dict[int, Rendered]:
    """Every animated output, each source frame decoded once per pass (usually one pass).

    Every frame is size-checked before it is decoded and transformed once per distinct look; outputs
    that differ only in format share those frames, and outputs with the same frames, format and quality
    (a 1600 px and an 800 px preset of a 700 px source) share the encoded bytes.
    """
    results: dict[int, Rendered] = {}
    for members in _passes(wanted, frames, options.limits.max_animation_pixels):
        results.update(_animation_pass(open_source(data, options.limits), members, options))
    return results


def _animation_pass(
    source: Source, wanted: Sequence[_Animation], options: RenderOptions
) -> dict[int, Rendered]:
    started = perf_counter()
    looks: dict[tuple[object, ...], _Animation] = {}
    for item in wanted:
        looks.setdefault(item.frames_key, item)
    transformed: dict[tuple[object, ...], list[Image.Image]] = {key: [] for key in looks}
    durations: list[int] = []
    transpose = ORIENTATION_TRANSPOSE.get(source.orientation)
    # A source without alpha in its first frame decodes every frame without it (GIF and APNG frames take
    # the first frame's mode, a WebP's decoder one mode for all), which spares premultiplying each frame.
    first = source.image
    mode = "RGBA" if first.mode in ("RGBA", "LA", "PA") or "transparency" in first.info else "RGB"
    for index in range(source.frames):
        seek_frame(source, index)
        with strict_decoding(source.format, source.byte_size):
            frame = source.image.convert(mode)
            duration = source.image.info.get("duration")
            durations.append(round(duration) if isinstance(duration, int | float) and duration > 0 else 100)
        if transpose is not None:
            frame = frame.transpose(transpose)
        base = _Base(image=frame, full_size=frame.size, notes=())
        for key, item in looks.items():
            request, spec = item.request, item.request.spec
            background = _background(spec, True)
            look = _geometry(frame, request, base, background)
            transformed[key].append(_effects(_fit(look, request.plan, background), spec, options))
    loop = source.image.info.get("loop", 0)
    decoded = perf_counter()
    encoded: dict[tuple[object, ...], tuple[bytes, float]] = {}
    results: dict[int, Rendered] = {}
    for position, item in enumerate(wanted):
        request, spec, fmt = item.request, item.request.spec, item.format
        frames = transformed[item.frames_key]
        if item.encoding_key not in encoded:
            began = perf_counter()
            finished = [_finish_alpha(frame, spec, fmt) for frame in frames]
            data = encode_animation(finished, durations, loop if isinstance(loop, int) else 0, fmt, spec.q)
            encoded[item.encoding_key] = (data, (perf_counter() - began) * 1000)
        data, encode_ms = encoded[item.encoding_key]
        results[item.index] = Rendered(
            data=data,
            format=fmt,
            media_type=content_type(fmt),
            width=frames[0].width,
            height=frames[0].height,
            animated=True,
            frames=len(frames),
            query=spec.with_format(fmt).variant_query(),
            operations=(
                f"animation:{len(frames)} frames",
                f"resize:{request.plan.resized[0]}x{request.plan.resized[1]}",
            ),
            # Decoding and transforming the frames is shared by the animated outputs of one pass.
            timings_ms={"transform": (decoded - started) * 1000, "encode": encode_ms},
            negotiated=spec.fm == "auto",
        )
        if all(other.frames_key != item.frames_key for other in wanted[position + 1 :]):
            del transformed[item.frames_key]  # the last output of this look: its frames can go
    return results


def _animation_format(
    source: Source, spec: TransformSpec, accept: str | None, request: _Request, limits: Limits
) -> tuple[OutputFormat | None, str | None]:
    """The format to keep the animation in, or None with the reason it falls back to the first frame."""
    if not source.animated:
        return None, None
    if not spec.anim:
        return None, "animation:first-frame (anim=0)"
    fmt = spec.fm if spec.fm != "auto" else negotiate(accept, True, True)
    if fmt not in _ANIMATABLE:
        return None, f"animation:first-frame ({fmt} output is still)"
    out_w, out_h = request.plan.output
    if source.frames * out_w * out_h > limits.max_animation_pixels:
        return None, "animation:first-frame (over the animation budget)"
    return fmt, None


def render_many(
    data: bytes,
    specs: Sequence[TransformSpec | str],
    accept: str | None = None,
    *,
    options: RenderOptions | None = None,
) -> list[Rendered]:
    """Render several transformations of one source from a single decode at the largest scale needed."""
    options = options or RenderOptions()
    started = perf_counter()
    source = open_source(data, options.limits)
    upright = source.oriented_size
    parsed = [_as_spec(spec) for spec in specs]
    requests = [_resolve(spec, upright, options.limits, options.focal_point) for spec in parsed]
    wants_saliency = options.focal_point is None and any(s.g == "auto" and s.fp is None for s in parsed)

    results: dict[int, Rendered] = {}
    stills: list[tuple[int, _Request, str | None]] = []
    animations: list[_Animation] = []
    for index, request in enumerate(requests):
        fmt, note = _animation_format(source, request.spec, accept, request, options.limits)
        if fmt is not None:
            animations.append(_Animation(index, request, fmt))
        else:
            stills.append((index, request, note))
    if animations:
        results.update(_animated(data, source.frames, animations, options))
    if stills:
        needed = (max(r.needed[0] for _, r, _ in stills), max(r.needed[1] for _, r, _ in stills))
        if source.animated:
            source = open_source(data, options.limits)
        base = _decode_base(source, needed)
        if wants_saliency:
            # The decode size never depends on the anchor, so the estimate can come from this decode.
            focal = _estimate_focal_point(base)
            stills = [(i, _resolve(r.spec, upright, options.limits, focal), n) for i, r, n in stills]
        decoded = perf_counter()

        def still(item: tuple[int, _Request, str | None]) -> Rendered:
            _, request, note = item
            rendered = _still(base, request, accept, options, (note,) if note else ())
            return replace(rendered, timings_ms={"decode": (decoded - started) * 1000, **rendered.timings_ms})

        # Pillow releases the GIL while resampling and encoding, so renditions use every core.
        workers = min(len(stills), os.cpu_count() or 1)
        if workers > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                finished = list(pool.map(still, stills))
        else:
            finished = [still(item) for item in stills]
        for (index, _, _), rendered in zip(stills, finished, strict=True):
            results[index] = rendered
    return [results[index] for index in range(len(requests))]


def _estimate_focal_point(base: _Base) -> tuple[float, float]:
    thumb = base.image.copy()
    thumb.thumbnail((ANALYSIS_SIZE, ANALYSIS_SIZE), Image.Resampling.BOX)
    return analysis.focal_point(thumb.convert("RGBA" if pixels.has_alpha(thumb) else "RGB"))


def render(
    data: bytes,
    spec: TransformSpec | str,
    accept: str | None = None,
    *,
    options: RenderOptions | None = None,
) -> Rendered:
    """Render one transformation (`spec` is a TransformSpec or its query string, e.g. `w=800&fm=webp`)."""
    return render_many(data, [spec], accept, options=options)[0]
