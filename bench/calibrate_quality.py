"""Calibrate imgpipe's single quality scale `q` against libjpeg-turbo, per output format.

Definition: `q` asks for the luma SSIM that libjpeg-turbo JPEG at quality `q` (4:2:0) gives on the same
image. On the real photo corpus this script measures which native WebP / AVIF quality reaches the
corpus-mean SSIM of JPEG at each anchor q, which encoder effort (WebP `method`, AVIF `speed`) gives the
best encode-time x bytes at matched SSIM, how JPEG should be written (progressive / optimize / chroma
subsampling), which PNG `compress_level` to use, and how far `q` can drop at dpr 2 and 3.

    .venv/bin/python bench/calibrate_quality.py [--photos N] [--size 800] [--extra-sizes 400,1600]

Flow: (1) every effort of every encoder on `--effort-photos` photos spread over the corpus -> choose the
efforts; (2) the chosen efforts on the remaining photos -> the mapping; (3) encode every photo at the
rounded mapped qualities to check the achieved SSIM; (4) PNG levels, the dpr study, the extra sizes.
Writes bench/results/quality_calibration.json (raw numbers) and quality_calibration.md (tables and
decisions); functions/imgpipe/core/quality.py pastes the constants from the md's last section.
Photos are read from ../shared/corpus/photos relative to the repository and never copied.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import math
import os
import platform
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import PIL
from PIL import Image, ImageDraw, ImageOps, features

from imgpipe.core.metrics import srgb_to_lab, ssim

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus" / "photos"
RESULTS = REPO / "bench" / "results"

JPEG_ANCHORS = (30, 40, 50, 60, 70, 75, 80, 85, 90, 95, 100)  # 100 added so that q 96-100 are calibrated
WEBP_METHODS = (0, 2, 4, 6)
AVIF_SPEEDS = (6, 7, 8, 9)
AVIF_THREADS = 2
JPEG_VARIANTS = (
    ("baseline", False, False),
    ("optimize", False, True),
    ("progressive", True, False),
    ("progressive+optimize", True, True),
)
SUBSAMPLING_STEP_LIMIT = 5.0  # 4:4:4 where its byte premium is worth <= this many points of q (see report)
PNG_LEVELS = tuple(range(1, 10))
DPR_FACTORS = (2, 3)
DPR_QUALITIES = (10, 15, 20, 25, 30, 40, 50, 60, 70, 75, 80, 85, 90, 95)
DPR_FLOOR = 30  # the rule checked here never lowers q below this (as in imgpipe.core.quality)
PNG_GRAPHICS = 2
FAST_ENCODE_S = 0.05  # encodes faster than this are repeated (min of 3) to beat timer and scheduler noise
LANCZOS = Image.Resampling.LANCZOS


# ---------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Sample:
    photo: str
    size: int
    fmt: str  # jpeg | webp | avif | png | dpr2-full | dpr2-half ...
    effort: str  # jpeg variant, "method=N", "speed=N", "level=N", "probe"
    subsampling: str
    native: int
    bytes: int
    ms: float  # CPU ms
    ssim: float | None
    delta_e: float | None = None
    wall_ms: float = 0.0


@dataclass
class Curve:
    """Corpus means per native quality for one format / effort; natives ascending."""

    natives: list[int]
    ssim: list[float]
    bytes: list[float]
    ms: list[float]  # CPU ms
    wall_ms: list[float]
    photos: int
    monotonic: bool


@dataclass
class Match:
    anchor: int
    target_ssim: float
    native: float
    status: str  # ok | below-grid | above-grid
    bytes: float
    ms: float
    wall_ms: float


@dataclass
class EffortChoice:
    fmt: str
    knob: str
    photos: int
    anchors_compared: list[int]
    render_ms: float  # mean decode + resize time that every rendition pays before encoding
    score_encode: dict[str, float]  # geomean of encode ms x bytes, relative to the chosen effort
    score_render: dict[str, float]  # the same with (render + encode) ms
    matches: dict[str, list[Match]]
    curves: dict[str, Curve]
    chosen: str


@dataclass
class QualityMap:
    fmt: str
    effort: str
    photos: int
    native_float: list[float]  # interpolated on the step grid
    native: list[int]  # the integer whose measured corpus-mean SSIM is closest to the target
    status: list[str]
    probes: int  # integer qualities measured beyond the grid to find `native`
    measured_ssim: list[float]  # corpus means at `native`, encoded for real
    bytes: list[float]
    ms: list[float]
    wall_ms: list[float]
    per_photo_mean_abs: list[float]  # |SSIM(photo, fmt at native) - SSIM(photo, JPEG at q)|
    per_photo_max_abs: list[float]
    curve: Curve


@dataclass
class JpegVariant:
    label: str
    bytes: list[float]
    ms: list[float]
    score_encode: float
    score_render: float


@dataclass
class SubsamplingRow:
    q: int
    bytes_420: float
    bytes_444: float
    ssim_420: float
    ssim_444: float
    de_420: float
    de_444: float
    equal_bytes_q: float | None  # the 4:2:0 quality that costs what 4:4:4 at q costs
    q_points: float | None  # equal_bytes_q - q: luma quality that 4:4:4's chroma costs, in points of q


@dataclass
class DprRow:
    q: int
    target_ssim: float
    equivalent_q: dict[str, float]  # per model: the q at dpr d that is seen with the SSIM of q at dpr 1
    bytes_ratio: dict[str, float]  # bytes at equivalent q / bytes at q (same dpr)


@dataclass
class Report:
    args: dict[str, str]
    versions: dict[str, str]
    photos: list[str]
    effort_photos: list[str]
    size: int
    native_grid: list[int]
    jpeg_target_ssim: dict[int, float]
    efforts: dict[str, EffortChoice]
    mappings: dict[str, QualityMap]
    jpeg_variants: dict[str, JpegVariant]
    jpeg_variant: str
    jpeg_variant_render: str
    jpeg_pixels_identical: bool
    subsampling: list[SubsamplingRow]
    jpeg_444_from: int | None
    png: dict[str, dict[str, dict[str, float]]]  # image class -> setting -> means
    png_score: dict[str, float]
    png_level: int
    dpr_photos: list[str]
    dpr: dict[int, list[DprRow]]
    dpr_bound: dict[int, float]
    dpr_rule: dict[int, int]
    dpr_check: dict[int, list[dict[str, float]]]
    size_photos: list[str]
    sizes: dict[int, dict[str, list[float]]]
    runtime_s: float = 0.0
    load_avg: list[float] = field(default_factory=list)


class Run:
    def __init__(self) -> None:
        self.samples: list[Sample] = []
        self.load_ms: dict[str, float] = {}
        self.load_avg: list[float] = []
        self.pixels_identical = True
        self.started = time.perf_counter()

    def log(self, message: str) -> None:
        self.load_avg.append(os.getloadavg()[0])
        print(f"[{time.perf_counter() - self.started:7.1f}s] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------ pixels & codecs


def load(path: Path, long_side: int) -> Image.Image:
    """Decode like the engine: DCT draft to at least the target, orientation, RGB, Lanczos to size."""
    with Image.open(path) as source:
        width, height = source.size
        scale = long_side / max(width, height)
        source.draft("RGB", (max(1, round(width * scale)), max(1, round(height * scale))))
        rgb = ImageOps.exif_transpose(source).convert("RGB")
    return resize(rgb, long_side)


def resize(image: Image.Image, long_side: int) -> Image.Image:
    scale = long_side / max(image.size)
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), LANCZOS)


def encode(image: Image.Image, fmt: str, options: Mapping[str, object]) -> tuple[bytes, float, float]:
    """Encoded bytes, CPU ms of this process (all encoder threads) and wall ms; fast encodes are repeated
    and the minimum of each is kept. CPU time is what the decisions use: other jobs share this machine's
    2 cores and inflate wall time at random, while CPU time stays put."""
    best_cpu = best_wall = math.inf
    data = b""
    for attempt in range(3):
        out = io.BytesIO()
        wall, cpu = time.perf_counter(), time.process_time()
        image.save(out, fmt, **options)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
        data = out.getvalue()
        if attempt == 0 and best_wall >= FAST_ENCODE_S:
            break
    return data, best_cpu * 1000.0, best_wall * 1000.0


def decode(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


def mean_delta_e(a: Image.Image, b: Image.Image) -> float:
    """Mean CIE76 colour difference per pixel (sees the chroma loss that luma SSIM cannot)."""
    lab_a = srgb_to_lab(np.asarray(a, dtype=np.float64))
    lab_b = srgb_to_lab(np.asarray(b, dtype=np.float64))
    return float(np.mean(np.linalg.norm(lab_a - lab_b, axis=-1)))


def warm_up() -> None:
    tiny = Image.new("RGB", (64, 64), (120, 80, 40))
    for fmt, options in (("JPEG", {}), ("WEBP", {}), ("AVIF", {"max_threads": AVIF_THREADS}), ("PNG", {})):
        encode(tiny, fmt, options)


# ------------------------------------------------------------------------------------------- passes


def jpeg_pass(run: Run, name: str, ref: Image.Image, *, full: bool) -> None:
    """Anchors (+ q 100) x four entropy variants x 4:2:0 / 4:4:4 when `full`, else baseline 4:2:0."""
    size = max(ref.size)
    for q in JPEG_ANCHORS:
        for subsampling in ("4:2:0", "4:4:4") if full else ("4:2:0",):
            decoded: bytes | None = None
            score: float | None = None
            colour: float | None = None
            for label, progressive, optimize in JPEG_VARIANTS if full else JPEG_VARIANTS[:1]:
                options: dict[str, object] = {
                    "quality": q,
                    "subsampling": subsampling,
                    "progressive": progressive,
                    "optimize": optimize,
                }
                data, ms, wall = encode(ref, "JPEG", options)
                pixels = decode(data)
                if decoded is None or pixels.tobytes() != decoded:
                    # Variants change only the entropy coding; measure again only if the pixels differ.
                    run.pixels_identical = run.pixels_identical and decoded is None
                    decoded = pixels.tobytes()
                    score = ssim(ref, pixels)
                    colour = mean_delta_e(ref, pixels) if full else None
                run.samples.append(
                    Sample(name, size, "jpeg", label, subsampling, q, len(data), ms, score, colour, wall)
                )


def native_pass(run: Run, name: str, ref: Image.Image, fmt: str, effort: str, natives: Iterable[int]) -> None:
    size = max(ref.size)
    knob, value = effort.split("=")
    options: dict[str, object] = {knob: int(value)}
    if fmt == "avif":
        options["max_threads"] = AVIF_THREADS
    for native in natives:
        data, ms, wall = encode(ref, fmt.upper(), {**options, "quality": native})
        score = ssim(ref, decode(data))
        run.samples.append(
            Sample(name, size, fmt, effort, "4:2:0", native, len(data), ms, score, wall_ms=wall)
        )


def probe(run: Run, refs: dict[str, Image.Image], fmt: str, effort: str, native: int) -> None:
    """One more integer native quality of the chosen effort, on every photo."""
    knob, value = effort.split("=")
    options: dict[str, object] = {knob: int(value), "quality": native}
    if fmt == "avif":
        options["max_threads"] = AVIF_THREADS
    for name, ref in refs.items():
        data, ms, wall = encode(ref, fmt.upper(), options)
        score = ssim(ref, decode(data))
        run.samples.append(
            Sample(name, max(ref.size), fmt, "probe", "4:2:0", native, len(data), ms, score, None, wall)
        )


def png_pass(run: Run, name: str, image: Image.Image, kind: str) -> None:
    size = max(image.size)
    for level in PNG_LEVELS:
        data, ms, wall = encode(image, "PNG", {"compress_level": level})
        run.samples.append(
            Sample(name, size, f"png-{kind}", f"level={level}", "-", level, len(data), ms, None, None, wall)
        )


def drawn_graphic(variant: int, width: int = 800, height: int = 600) -> Image.Image:
    """What PNG output mostly carries: flat colours, hard edges, text, an alpha channel (logo) or none
    (screenshot/diagram). Generated, so nothing is copied into the repository."""
    rng = np.random.default_rng(variant)
    mode, background = ("RGBA", (0, 0, 0, 0)) if variant % 2 else ("RGB", (246, 246, 242))
    image = Image.new(mode, (width, height), background)
    draw = ImageDraw.Draw(image)
    for i in range(60):
        x, y = int(rng.integers(0, width - 120)), int(rng.integers(0, height - 60))
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        shape = i % 3
        if shape == 0:
            draw.rectangle(
                (x, y, x + int(rng.integers(20, 160)), y + int(rng.integers(10, 80))), fill=(*colour, 255)
            )
        elif shape == 1:
            draw.ellipse(
                (x, y, x + int(rng.integers(20, 90)), y + int(rng.integers(20, 90))), fill=(*colour, 200)
            )
        else:
            draw.text((x, y), f"imgpipe label {i}", fill=(20, 20, 20, 255))
    for i in range(0, width, 40):
        draw.line((i, 0, width - i, height), fill=(40, 40, 160, 255), width=2)
    return image


def dpr_pass(run: Run, name: str, path: Path, ref1: Image.Image) -> None:
    """JPEG at d x the CSS size, seen at CSS size ("full": the eye integrates d^2 device pixels) and at
    sqrt(d) x the CSS size ("half": the eye resolves half the extra density, on a log scale)."""
    view = max(ref1.size)
    for q in DPR_QUALITIES:
        data, ms, wall = encode(ref1, "JPEG", {"quality": q, "subsampling": "4:2:0"})
        run.samples.append(
            Sample(
                name,
                view,
                "dpr1",
                "baseline",
                "4:2:0",
                q,
                len(data),
                ms,
                ssim(ref1, decode(data)),
                None,
                wall,
            )
        )
    for factor in DPR_FACTORS:
        ref = load(path, view * factor)
        models = {"full": view, "half": round(view * math.sqrt(factor))}
        seen_refs = {model: resize(ref, side) for model, side in models.items()}
        for q in DPR_QUALITIES:
            data, ms, wall = encode(ref, "JPEG", {"quality": q, "subsampling": "4:2:0"})
            pixels = decode(data)
            for model, side in models.items():
                score = ssim(seen_refs[model], resize(pixels, side))
                run.samples.append(
                    Sample(
                        name,
                        view,
                        f"dpr{factor}-{model}",
                        "baseline",
                        "4:2:0",
                        q,
                        len(data),
                        ms,
                        score,
                        None,
                        wall,
                    )
                )


# ----------------------------------------------------------------------------------------- analysis


def select(samples: Iterable[Sample], **where: object) -> list[Sample]:
    return [s for s in samples if all(getattr(s, key) == value for key, value in where.items())]


def curve(samples: Iterable[Sample], photos: Iterable[str] | None = None, **where: object) -> Curve:
    wanted = None if photos is None else set(photos)
    groups: dict[int, list[Sample]] = defaultdict(list)
    for sample in select(samples, **where):
        if wanted is None or sample.photo in wanted:
            groups[sample.native].append(sample)
    natives = sorted(groups)
    counts = {len(groups[n]) for n in natives}
    if len(counts) != 1:
        raise ValueError(f"uneven or missing photo counts for {where}: {counts}")
    scores = [float(np.mean([s.ssim or 0.0 for s in groups[n]])) for n in natives]
    return Curve(
        natives=natives,
        ssim=scores,
        bytes=[float(np.mean([s.bytes for s in groups[n]])) for n in natives],
        ms=[float(np.mean([s.ms for s in groups[n]])) for n in natives],
        wall_ms=[float(np.mean([s.wall_ms for s in groups[n]])) for n in natives],
        photos=counts.pop(),
        monotonic=all(b >= a for a, b in itertools.pairwise(scores)),
    )


def interpolate(xs: Sequence[float], ys: Sequence[float], x: float) -> float:
    return float(np.interp(x, xs, ys))


def invert(natives: Sequence[int], scores: Sequence[float], target: float) -> tuple[float, str]:
    """Native quality whose (running-max) mean SSIM equals `target`, linear between grid points."""
    ys = [float(v) for v in np.maximum.accumulate(np.asarray(scores))]
    if target < ys[0]:
        return float(natives[0]), "below-grid"
    if target > ys[-1]:
        return float(natives[-1]), "above-grid"
    for i in range(1, len(ys)):
        if ys[i] >= target:
            lo, hi = ys[i - 1], ys[i]
            t = 0.0 if hi == lo else (target - lo) / (hi - lo)
            return natives[i - 1] + t * (natives[i] - natives[i - 1]), "ok"
    return float(natives[0]), "ok"


def match(c: Curve, targets: dict[int, float]) -> list[Match]:
    out = []
    for anchor, target in targets.items():
        native, status = invert(c.natives, c.ssim, target)
        out.append(
            Match(
                anchor,
                target,
                native,
                status,
                interpolate(c.natives, c.bytes, native),
                interpolate(c.natives, c.ms, native),
                interpolate(c.natives, c.wall_ms, native),
            )
        )
    return out


def geomean(values: Iterable[float]) -> float:
    items = list(values)
    return float(math.exp(sum(math.log(v) for v in items) / len(items))) if items else math.nan


def relative(scores: dict[str, float], to: str) -> dict[str, float]:
    return {key: value / scores[to] for key, value in scores.items()}


def jpeg_targets(samples: list[Sample], size: int, photos: Iterable[str] | None = None) -> dict[int, float]:
    c = curve(samples, photos, fmt="jpeg", effort="baseline", subsampling="4:2:0", size=size)
    return {q: s for q, s in zip(c.natives, c.ssim, strict=True) if q in JPEG_ANCHORS}


def choose_effort(run: Run, fmt: str, photos: list[str], size: int, criterion: str) -> EffortChoice:
    """Minimise the geometric mean over anchors of (ms x bytes) at the native quality matching JPEG."""
    labels = [f"method={m}" for m in WEBP_METHODS] if fmt == "webp" else [f"speed={v}" for v in AVIF_SPEEDS]
    targets = jpeg_targets(run.samples, size, photos)
    curves = {e: curve(run.samples, photos, fmt=fmt, effort=e, size=size) for e in labels}
    matches = {e: match(c, targets) for e, c in curves.items()}
    common = [
        a for a in targets if all(m.status == "ok" for ms in matches.values() for m in ms if m.anchor == a)
    ]
    render_ms = float(np.mean([run.load_ms[p] for p in photos]))
    encode_only = {e: geomean(m.ms * m.bytes for m in ms if m.anchor in common) for e, ms in matches.items()}
    with_render = {
        e: geomean((render_ms + m.ms) * m.bytes for m in ms if m.anchor in common)
        for e, ms in matches.items()
    }
    scores = encode_only if criterion == "encode" else with_render
    chosen = min(scores, key=lambda e: scores[e])
    return EffortChoice(
        fmt,
        labels[0].split("=")[0],
        len(photos),
        common,
        render_ms,
        relative(encode_only, chosen),
        relative(with_render, chosen),
        matches,
        curves,
        chosen,
    )


def monotone_ints(values: Sequence[float]) -> list[int]:
    out: list[int] = []
    for value in values:
        v = min(100, max(1, round(value)))
        out.append(max(v, out[-1]) if out else v)
    return out


def mapping(run: Run, refs: dict[str, Image.Image], fmt: str, effort: str, size: int) -> QualityMap:
    """Interpolate on the step grid, then walk integer qualities (measured on every photo) to the one whose
    corpus-mean SSIM is closest to JPEG's: libavif/aom quantise `quality` in uneven steps, so a value
    interpolated between grid points can miss by several thousandths of SSIM."""
    photos = sorted(refs)
    targets = jpeg_targets(run.samples, size, photos)
    c = curve(run.samples, photos, fmt=fmt, effort=effort, size=size)
    matches = match(c, targets)
    probes = 0

    def measured(native: int) -> list[Sample]:
        nonlocal probes
        rows = [
            s
            for s in run.samples
            if s.fmt == fmt
            and s.size == size
            and s.native == native
            and s.effort in (effort, "probe")
            and s.photo in refs
        ]
        if not rows:
            probe(run, refs, fmt, effort, native)
            probes += 1
            return measured(native)
        return rows

    def mean_ssim(native: int) -> float:
        return float(np.mean([s.ssim or 0.0 for s in measured(native)]))

    natives: list[int] = []
    for m in matches:
        n = min(100, max(1, round(m.native)))
        if m.status == "ok":
            score = mean_ssim(n)
            step = 1 if score < m.target_ssim else -1
            while 1 <= n + step <= 100:
                nxt = mean_ssim(n + step)
                if (nxt >= m.target_ssim) != (score >= m.target_ssim):
                    here, there = abs(score - m.target_ssim), abs(nxt - m.target_ssim)
                    if there < here or (there == here and nxt >= m.target_ssim):
                        n = n + step
                    break
                n, score = n + step, nxt
        natives.append(n)
    natives = monotone_ints(natives)
    out = QualityMap(
        fmt,
        effort,
        len(photos),
        [m.native for m in matches],
        natives,
        [m.status for m in matches],
        probes,
        [],
        [],
        [],
        [],
        [],
        [],
        c,
    )
    for anchor, native in zip(JPEG_ANCHORS, natives, strict=True):
        rows = measured(native)
        out.measured_ssim.append(float(np.mean([r.ssim or 0.0 for r in rows])))
        out.bytes.append(float(np.mean([r.bytes for r in rows])))
        out.ms.append(float(np.mean([r.ms for r in rows])))
        out.wall_ms.append(float(np.mean([r.wall_ms for r in rows])))
        jpeg = {
            j.photo: j.ssim or 0.0
            for j in select(
                run.samples, fmt="jpeg", effort="baseline", subsampling="4:2:0", size=size, native=anchor
            )
        }
        diffs = [abs((r.ssim or 0.0) - jpeg[r.photo]) for r in rows]
        out.per_photo_mean_abs.append(float(np.mean(diffs)))
        out.per_photo_max_abs.append(float(np.max(diffs)))
    return out


def jpeg_variants(run: Run, size: int) -> dict[str, JpegVariant]:
    render_ms = float(np.mean(list(run.load_ms.values())))
    out = {}
    for label, _, _ in JPEG_VARIANTS:
        c = curve(run.samples, fmt="jpeg", effort=label, subsampling="4:2:0", size=size)
        pairs = [(b, m) for q, b, m in zip(c.natives, c.bytes, c.ms, strict=True) if q in JPEG_ANCHORS]
        out[label] = JpegVariant(
            label,
            [b for b, _ in pairs],
            [m for _, m in pairs],
            geomean(b * m for b, m in pairs),
            geomean(b * (m + render_ms) for b, m in pairs),
        )
    return out


def subsampling_rows(run: Run, size: int, variant: str) -> list[SubsamplingRow]:
    c420 = curve(run.samples, fmt="jpeg", effort=variant, subsampling="4:2:0", size=size)
    rows = []
    for q in JPEG_ANCHORS:
        values: dict[str, float] = {}
        for subsampling in ("4:2:0", "4:4:4"):
            group = select(
                run.samples, fmt="jpeg", effort=variant, subsampling=subsampling, size=size, native=q
            )
            tag = subsampling.replace(":", "")
            values[f"bytes_{tag}"] = float(np.mean([g.bytes for g in group]))
            values[f"ssim_{tag}"] = float(np.mean([g.ssim or 0.0 for g in group]))
            values[f"de_{tag}"] = float(np.mean([g.delta_e or 0.0 for g in group]))
        equal_q: float | None = None
        if values["bytes_444"] <= c420.bytes[-1]:
            equal_q, _ = invert(c420.natives, c420.bytes, values["bytes_444"])
        rows.append(
            SubsamplingRow(
                q,
                values["bytes_420"],
                values["bytes_444"],
                values["ssim_420"],
                values["ssim_444"],
                values["de_420"],
                values["de_444"],
                equal_q,
                None if equal_q is None else equal_q - q,
            )
        )
    return rows


def first_444(rows: list[SubsamplingRow]) -> int | None:
    """Lowest anchor from which 4:4:4's byte premium costs at most SUBSAMPLING_STEP_LIMIT points of q."""
    start: int | None = None
    for row in rows:
        cheap = row.q_points is None or row.q_points <= SUBSAMPLING_STEP_LIMIT
        start = (start or row.q) if cheap else None
    return start


def png_levels(run: Run) -> tuple[dict[str, dict[str, dict[str, float]]], dict[str, float], int]:
    """Per image class the mean KB and ms per level; the score is the geometric mean over all images of
    ms x bytes relative to the same image at level 6 (zlib's default), so each image weighs the same."""
    classes: dict[str, dict[str, dict[str, float]]] = {}
    ratios: dict[str, list[float]] = defaultdict(list)
    for kind in ("photo", "graphic"):
        rows = select(run.samples, fmt=f"png-{kind}")
        if not rows:
            continue
        per: dict[str, dict[str, float]] = {}
        for level in PNG_LEVELS:
            group = [g for g in rows if g.native == level]
            per[f"level={level}"] = {
                "bytes": float(np.mean([g.bytes for g in group])),
                "ms": float(np.mean([g.ms for g in group])),
                "wall_ms": float(np.mean([g.wall_ms for g in group])),
                "images": float(len(group)),
            }
        classes[kind] = per
        for name in sorted({g.photo for g in rows}):
            own = {g.native: g.bytes * g.ms for g in rows if g.photo == name}
            for level in PNG_LEVELS:
                ratios[f"level={level}"].append(own[level] / own[6])
    score = {level: geomean(values) for level, values in ratios.items()}
    best = min(score, key=lambda e: score[e]) if score else "level=6"
    return classes, score, int(best.split("=")[1])


def dpr_study(
    run: Run, rule: dict[int, int]
) -> tuple[list[str], dict[int, list[DprRow]], dict[int, float], dict[int, list[dict[str, float]]]]:
    photos = sorted({s.photo for s in select(run.samples, fmt="dpr1")})
    if not photos:
        return [], {}, {}, {}
    base = curve(run.samples, fmt="dpr1")
    table: dict[int, list[DprRow]] = {}
    bound: dict[int, float] = {}
    check: dict[int, list[dict[str, float]]] = {}
    for factor in DPR_FACTORS:
        rows = []
        curves = {model: curve(run.samples, fmt=f"dpr{factor}-{model}") for model in ("full", "half")}
        for q in JPEG_ANCHORS[:-1]:
            target = interpolate(base.natives, base.ssim, q)
            equivalent: dict[str, float] = {}
            ratio: dict[str, float] = {}
            for model, c in curves.items():
                q_eq, _ = invert(c.natives, c.ssim, target)
                equivalent[model] = q_eq
                ratio[model] = interpolate(c.natives, c.bytes, q_eq) / interpolate(c.natives, c.bytes, q)
            rows.append(DprRow(q, target, equivalent, ratio))
        table[factor] = rows
        # The conservative ("half") model's smallest allowed drop over the q people use (50-90).
        bound[factor] = min(r.q - r.equivalent_q["half"] for r in rows if 50 <= r.q <= 90)
        drop = rule.get(factor, 0)
        half = curves["half"]
        check[factor] = [
            {
                "q": r.q,
                "q_eff": max(DPR_FLOOR, r.q - drop) if r.q > DPR_FLOOR else r.q,
                "target": r.target_ssim,
                "seen": interpolate(
                    half.natives, half.ssim, max(DPR_FLOOR, r.q - drop) if r.q > DPR_FLOOR else r.q
                ),
                "bytes_kept": interpolate(
                    half.natives, half.bytes, max(DPR_FLOOR, r.q - drop) if r.q > DPR_FLOOR else r.q
                )
                / interpolate(half.natives, half.bytes, r.q),
            }
            for r in rows
        ]
    return photos, table, bound, check


def size_study(
    run: Run, main_size: int, efforts: dict[str, str], natives: dict[str, list[int]]
) -> tuple[list[str], dict[int, dict[str, list[float]]]]:
    """Per size: the native quality each format would need, and the SSIM gap (format - JPEG) that the
    main-size table leaves at that size."""
    photos = sorted({s.photo for s in run.samples if s.size != main_size and s.fmt == "jpeg"})
    if not photos:
        return [], {}
    out: dict[int, dict[str, list[float]]] = {}
    sizes = sorted({s.size for s in select(run.samples, fmt="jpeg", effort="baseline") if s.photo in photos})
    for size in sizes:
        targets = jpeg_targets(run.samples, size, photos)
        per: dict[str, list[float]] = {"jpeg_ssim": list(targets.values())}
        for fmt, effort in efforts.items():
            c = curve(run.samples, photos, fmt=fmt, effort=effort, size=size)
            per[fmt] = [m.native for m in match(c, targets)]
            per[f"{fmt}_gap"] = [
                interpolate(c.natives, c.ssim, n) - t
                for n, t in zip(natives[fmt], targets.values(), strict=True)
            ]
        out[size] = per
    return photos, out


def versions() -> dict[str, str]:
    from PIL import _avif  # noqa: PLC0415  (the extension module exists only where AVIF support was built)

    return {
        "python": platform.python_version(),
        "pillow": PIL.__version__,
        "libjpeg-turbo": str(features.version_feature("libjpeg_turbo")),
        "libwebp": str(features.version("webp")),
        "libavif": str(features.version("avif")),
        "avif codecs": str(_avif.codec_versions()),
        "zlib": str(features.version("zlib")),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpu",
    }


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---:" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def bold(text: str, on: bool) -> str:
    return f"**{text}**" if on else text


def kb(value: float) -> str:
    return f"{value / 1024:.1f}"


def timing_note(avif_at_80: dict[str, tuple[float, float]]) -> str:
    ratios = ", ".join(f"{label} {wall / cpu:.2f}" for label, (wall, cpu) in avif_at_80.items())
    return (
        "Times are **CPU ms** of the encoding process (all encoder threads): other jobs on this machine "
        "inflate wall time at random but not CPU time. Wall ms are shown beside them. AVIF runs with "
        f"max_threads={AVIF_THREADS}; wall/CPU at q=80 in the effort sweep: {ratios} (below 1 = the second "
        "thread helped).\n"
    )


def markdown(r: Report) -> str:
    anchors = list(JPEG_ANCHORS)
    webp, avif = r.mappings["webp"], r.mappings["avif"]
    variant = r.jpeg_variants[r.jpeg_variant]
    shipped_444 = r.jpeg_444_from if r.jpeg_444_from is not None else 101
    sub = {row.q: row for row in r.subsampling}
    out: list[str] = []
    add = out.append
    add("# Quality calibration: one `q` for JPEG, WebP and AVIF\n")
    command = f".venv/bin/python bench/calibrate_quality.py {r.args['argv']}".strip()
    add(
        f"Generated by `{command}`; raw numbers in "
        f"`quality_calibration.json`. {len(r.photos)} corpus JPEGs (`../shared/corpus/photos`) at {r.size} "
        "px "
        "long side (draft → EXIF transpose → RGB → Lanczos); every effort swept on "
        f"{len(r.effort_photos)} of them. Runtime {r.runtime_s / 60:.1f} min on 2 cores; 1-min load average "
        f"{min(r.load_avg):.2f}–{max(r.load_avg):.2f} (other jobs shared the machine).\n"
    )
    add("Versions: " + "; ".join(f"{k} {v}" for k, v in r.versions.items()) + ".\n")
    i80 = anchors.index(80)
    add(
        "**Definition.** `q` asks for the luma SSIM (Gaussian window, `imgpipe.core.metrics.ssim`) that "
        "libjpeg-turbo at quality `q` with 4:2:0 chroma gives on the same image. For WebP and AVIF the "
        "native quality whose *corpus-mean* SSIM equals JPEG's corpus-mean SSIM at each anchor is "
        f"interpolated on a step-{r.native_grid[1] - r.native_grid[0]} grid, then the neighbouring integers "
        "are encoded on every photo and the one closest to the target is kept (libavif/aom quantise "
        "`quality` in uneven steps, so an interpolated value alone can miss by several thousandths).\n"
    )
    add(
        timing_note({label: (ms[i80].wall_ms, ms[i80].ms) for label, ms in r.efforts["avif"].matches.items()})
    )

    e_w, e_a = r.efforts["webp"], r.efforts["avif"]
    add("## Decisions\n")
    add(
        f"- WebP `{e_w.chosen}`, AVIF `{e_a.chosen}` (max_threads={AVIF_THREADS}), JPEG `{r.jpeg_variant}`, "
        f"PNG compress_level {r.png_level}: each minimises encode time × bytes at matched SSIM (below). "
        f"Counting the whole render ({e_w.render_ms:.0f} ms of decode + resize before the encoder) instead "
        f"would pick WebP `{min(e_w.score_render, key=lambda k: e_w.score_render[k])}`, AVIF "
        f"`{min(e_a.score_render, key=lambda k: e_a.score_render[k])}`, JPEG `{r.jpeg_variant_render}`.\n"
        f"- JPEG chroma 4:4:4 from q ≥ {r.jpeg_444_from}, 4:2:0 below.\n"
        f"- dpr: the data allow dropping q by at least {r.dpr_bound.get(2, 0):.0f} (dpr 2) and "
        f"{r.dpr_bound.get(3, 0):.0f} (dpr 3) points over q 50–90 under the conservative viewing model; "
        f"the rule checked here is −{r.dpr_rule.get(2, 0)} / −{r.dpr_rule.get(3, 0)}, floor {DPR_FLOOR}.\n"
    )

    add("## Calibrated table\n")
    add(
        f"Means per image over {webp.photos} photos; WebP/AVIF SSIM, KB and ms measured at the integer "
        f"quality shown. `JPEG KB` is 4:2:0 (the definition); `shipped` is what the engine writes "
        f"(4:4:4 from q {r.jpeg_444_from}). Byte ratios are against JPEG 4:2:0.\n"
    )
    rows = []
    for i, q in enumerate(anchors):
        jb = variant.bytes[i]
        shipped = sub[q].bytes_444 if q >= shipped_444 else jb
        rows.append(
            [
                q,
                f"{r.jpeg_target_ssim[q]:.4f}",
                webp.native[i],
                f"{webp.measured_ssim[i]:.4f}",
                avif.native[i],
                f"{avif.measured_ssim[i]:.4f}",
                kb(jb),
                kb(shipped),
                kb(webp.bytes[i]),
                kb(avif.bytes[i]),
                f"{webp.bytes[i] / jb:.2f}",
                f"{avif.bytes[i] / jb:.2f}",
                f"{variant.ms[i]:.1f}",
                f"{webp.ms[i]:.1f}",
                f"{avif.ms[i]:.1f}",
            ]
        )
    add(
        table(
            [
                "q",
                "JPEG SSIM",
                "WebP q",
                "WebP SSIM",
                "AVIF q",
                "AVIF SSIM",
                "JPEG KB",
                "JPEG KB shipped",
                "WebP KB",
                "AVIF KB",
                "WebP/JPEG",
                "AVIF/JPEG",
                "JPEG ms",
                "WebP ms",
                "AVIF ms",
            ],
            rows,
        )
    )
    flagged = {
        m.fmt: [q for q, st in zip(anchors, m.status, strict=True) if st != "ok"] for m in (webp, avif)
    }
    add(
        f"Outside the native grid (the format cannot reach JPEG's SSIM there; its top quality is used): "
        f"WebP {flagged['webp'] or 'none'}, AVIF {flagged['avif'] or 'none'}. Interpolated before the "
        "integer "
        f"search: WebP {[round(v, 1) for v in webp.native_float]}, AVIF "
        f"{[round(v, 1) for v in avif.native_float]} ({webp.probes} + {avif.probes} integer qualities "
        "probed).\n"
    )
    add(
        "Per-photo agreement: |SSIM of one photo in the format − SSIM of the same photo in JPEG at q| (the "
        "calibration matches corpus means; single images scatter around them):\n"
    )
    add(
        table(
            ["q", "WebP mean", "WebP max", "AVIF mean", "AVIF max"],
            [
                [
                    q,
                    f"{webp.per_photo_mean_abs[i]:.4f}",
                    f"{webp.per_photo_max_abs[i]:.4f}",
                    f"{avif.per_photo_mean_abs[i]:.4f}",
                    f"{avif.per_photo_max_abs[i]:.4f}",
                ]
                for i, q in enumerate(anchors)
            ],
        )
    )

    for e in (e_w, e_a):
        add(f"## {e.fmt.upper()} effort (`{e.knob}`)\n")
        add(
            f"{e.photos} photos, every {e.knob}, native quality on the grid. For each {e.knob} the quality "
            "matching JPEG's SSIM is interpolated and bytes and CPU ms are read there. Score = geometric "
            "mean "
            f"over the anchors every {e.knob} reaches ({e.anchors_compared}) of ms × bytes, relative to the "
            "chosen one: a 10 % saving in time counts as much as a 10 % saving in bytes. The last column "
            "adds "
            f"the {e.render_ms:.0f} ms of decode + resize that every rendition pays before its encoder "
            "runs.\n"
        )
        rows = []
        for label, ms in e.matches.items():
            at80 = next(m for m in ms if m.anchor == 80)
            rows.append(
                [
                    bold(label, label == e.chosen),
                    f"{at80.native:.1f}",
                    kb(at80.bytes),
                    f"{at80.ms:.0f}",
                    f"{at80.wall_ms:.0f}",
                    f"{e.score_encode[label]:.2f}",
                    f"{e.score_render[label]:.2f}",
                ]
            )
        add(
            table(
                [
                    e.knob,
                    "quality at q=80",
                    "KB at q=80",
                    "CPU ms at q=80",
                    "wall ms at q=80",
                    "ms × bytes (rel.)",
                    "(render + ms) × bytes (rel.)",
                ],
                rows,
            )
        )
        rows = [
            [
                q,
                *(
                    f"{ms[i].native:.1f} · {kb(ms[i].bytes)} KB · {ms[i].ms:.0f} ms"
                    for ms in e.matches.values()
                ),
            ]
            for i, q in enumerate(anchors)
        ]
        add(table(["q", *e.matches], rows))

    add("## JPEG entropy coding\n")
    identical = "identical for every encode" if r.jpeg_pixels_identical else "NOT always identical (see json)"
    add(
        f"Progressive and optimize change only the entropy coding (decoded pixels {identical}), so the "
        "variants are compared on bytes and CPU ms alone, with the same two scores as above over all "
        "anchors.\n"
    )
    rows = [
        [
            bold(label, label == r.jpeg_variant),
            kb(v.bytes[i80]),
            f"{v.ms[i80]:.2f}",
            f"{float(np.mean(v.bytes)) / float(np.mean(variant.bytes)):.3f}",
            f"{v.score_encode / variant.score_encode:.2f}",
            f"{v.score_render / variant.score_render:.3f}",
        ]
        for label, v in r.jpeg_variants.items()
    ]
    add(
        table(
            [
                "variant",
                "KB at q=80",
                "CPU ms at q=80",
                "bytes vs chosen (all q)",
                "ms × bytes (rel.)",
                "(render + ms) × bytes (rel.)",
            ],
            rows,
        )
    )

    add("## JPEG chroma subsampling\n")
    add(
        "Luma SSIM cannot see chroma (its columns are equal), so colour is shown as mean CIE76 ΔE per pixel. "
        "ΔE has no model of the eye's low chroma acuity — the reason 4:2:0 exists — and calls 4:4:4 better "
        "at every q, so it cannot decide alone. The decision is made on the q scale itself: `equal-bytes q` "
        "is the 4:2:0 quality that costs as many bytes as 4:4:4 at q, and `q points` = equal-bytes q − q is "
        "the luma quality that full-resolution chroma costs at equal bytes. 4:4:4 is used from the anchor "
        f"where that cost is at most {SUBSAMPLING_STEP_LIMIT:.0f} points (one anchor step) for it and every "
        "higher anchor: up there JPEG's bytes climb so steeply with q that chroma resolution is the cheaper "
        "improvement, and the error 4:2:0 leaves is mostly chroma.\n"
    )
    rows = [
        [
            row.q,
            kb(row.bytes_420),
            kb(row.bytes_444),
            f"{row.bytes_444 / row.bytes_420:.2f}",
            f"{row.ssim_420:.4f}",
            f"{row.ssim_444:.4f}",
            f"{row.de_420:.2f}",
            f"{row.de_444:.2f}",
            "—" if row.equal_bytes_q is None else f"{row.equal_bytes_q:.1f}",
            "> 100 − q" if row.q_points is None else f"{row.q_points:.1f}",
        ]
        for row in r.subsampling
    ]
    add(
        table(
            [
                "q",
                "KB 4:2:0",
                "KB 4:4:4",
                "ratio",
                "SSIM 4:2:0",
                "SSIM 4:4:4",
                "ΔE 4:2:0",
                "ΔE 4:4:4",
                "equal-bytes q",
                "q points",
            ],
            rows,
        )
    )

    if r.png:
        add("## PNG compress_level\n")
        counts = {kind: int(next(iter(v.values()))["images"]) for kind, v in r.png.items()}
        add(
            f"{counts.get('photo', 0)} photos and {counts.get('graphic', 0)} drawn graphics (flat colours, "
            f"text, lines; one with alpha) at {r.size} px. Lossless, so ms × bytes directly; the score is "
            "the "
            "geometric mean over all images of ms × bytes relative to the same image at level 6 (zlib's "
            "default), so photos and graphics weigh the same.\n"
        )
        headers = ["level"]
        for kind in r.png:
            headers += [f"{kind} KB", f"{kind} CPU ms"]
        headers.append("ms × bytes vs level 6")
        rows = []
        for level in PNG_LEVELS:
            key = f"level={level}"
            cells: list[object] = [bold(str(level), level == r.png_level)]
            for per in r.png.values():
                cells += [kb(per[key]["bytes"]), f"{per[key]['ms']:.0f}"]
            cells.append(f"{r.png_score[key]:.2f}")
            rows.append(cells)
        add(table(headers, rows))

    if r.dpr:
        add("## dpr: how far q can drop on high-density screens\n")
        add(
            f"A dpr-d rendition has d × {r.size} px shown in {r.size} CSS px. JPEG at d × the size is "
            "compared "
            "with its reference after both are downscaled (Lanczos) to what the eye is assumed to resolve: "
            f"`full` = {r.size} px (the eye integrates all d² device pixels of a CSS pixel: the optimistic "
            f"bound), `half` = √d × {r.size} px (it resolves half the extra density on a log scale: a "
            "conservative view for a laptop at arm's length). `equiv. q` is the q at dpr d whose seen SSIM "
            f"equals the SSIM of q at dpr 1 ({len(r.dpr_photos)} photos).\n"
        )
        rows = []
        for i, q in enumerate(anchors[:-1]):
            cells2: list[object] = [q, f"{r.dpr[2][i].target_ssim:.4f}"]
            for factor in DPR_FACTORS:
                d = r.dpr[factor][i]
                cells2 += [
                    f"{d.equivalent_q['full']:.1f}",
                    f"{d.equivalent_q['half']:.1f}",
                    f"{d.bytes_ratio['half']:.2f}",
                ]
            rows.append(cells2)
        add(
            table(
                [
                    "q",
                    "SSIM at dpr 1",
                    "dpr 2 equiv. q (full)",
                    "dpr 2 equiv. q (half)",
                    "dpr 2 bytes (half)",
                    "dpr 3 equiv. q (full)",
                    "dpr 3 equiv. q (half)",
                    "dpr 3 bytes (half)",
                ],
                rows,
            )
        )
        add(
            f"Smallest drop the `half` model allows over q 50–90: dpr 2 → {r.dpr_bound[2]:.1f}, dpr 3 → "
            f"{r.dpr_bound[3]:.1f}. The rule checked below, −{r.dpr_rule[2]} at dpr 2 and −{r.dpr_rule[3]} "
            "at "
            f"dpr 3 (floor {DPR_FLOOR}), keeps a margin under that bound because the model is only a model "
            "(and WebP/AVIF artefacts are smoother than JPEG's, not sharper). `seen` is the half-model SSIM "
            "at the lowered q; ≥ the dpr-1 SSIM means the screen shows at least the requested quality.\n"
        )
        rows = []
        for i, q in enumerate(anchors[:-1]):
            cells3: list[object] = [q, f"{r.dpr_check[2][i]['target']:.4f}"]
            for factor in DPR_FACTORS:
                c = r.dpr_check[factor][i]
                cells3 += [int(c["q_eff"]), f"{c['seen']:.4f}", f"{c['bytes_kept']:.2f}"]
            rows.append(cells3)
        add(
            table(
                [
                    "q",
                    "SSIM at dpr 1",
                    "dpr 2 q",
                    "dpr 2 seen",
                    "dpr 2 bytes kept",
                    "dpr 3 q",
                    "dpr 3 seen",
                    "dpr 3 bytes kept",
                ],
                rows,
            )
        )

    if r.sizes:
        add("## Robustness across sizes\n")
        add(
            f"On the {len(r.size_photos)} photos measured at every size ({', '.join(r.size_photos)}): the "
            "(interpolated) native quality each size would need, and the SSIM gap (format − JPEG) that the "
            f"{r.size} px table above leaves at that size.\n"
        )
        sizes = sorted(r.sizes)
        headers = ["q", *(f"JPEG SSIM {sz}" for sz in sizes)]
        for fmt in ("webp", "avif"):
            headers += [f"{fmt} q {sz}" for sz in sizes] + [f"{fmt} gap {sz}" for sz in sizes]
        rows = []
        for i, q in enumerate(anchors):
            cells4: list[object] = [q, *(f"{r.sizes[sz]['jpeg_ssim'][i]:.4f}" for sz in sizes)]
            for fmt in ("webp", "avif"):
                cells4 += [f"{r.sizes[sz][fmt][i]:.1f}" for sz in sizes]
                cells4 += [f"{r.sizes[sz][f'{fmt}_gap'][i]:+.4f}" for sz in sizes]
            rows.append(cells4)
        add(table(headers, rows))

    add("## Constants for `functions/imgpipe/core/quality.py`\n")
    add("```python")
    add(f"ANCHORS = {tuple(JPEG_ANCHORS)!r}")
    add(f"WEBP_QUALITY = {tuple(webp.native)!r}")
    add(f"AVIF_QUALITY = {tuple(avif.native)!r}")
    add(f"WEBP_METHOD = {e_w.chosen.split('=')[1]}")
    add(f"AVIF_SPEED = {e_a.chosen.split('=')[1]}")
    add(f"JPEG_PROGRESSIVE = {'progressive' in r.jpeg_variant}")
    add(f"JPEG_OPTIMIZE = {'optimize' in r.jpeg_variant}")
    add(f"JPEG_444_FROM = {r.jpeg_444_from}")
    add(f"PNG_COMPRESS_LEVEL = {r.png_level}")
    add(f"DPR_DROP = ((1.0, 0.0), (2.0, {r.dpr_rule[2]:.1f}), (3.0, {r.dpr_rule[3]:.1f}))")
    add(f"DPR_FLOOR = {DPR_FLOOR}")
    add("```")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------- main


def pick(items: Sequence[Path], count: int) -> list[Path]:
    """`count` items spread evenly over the sorted list (deterministic)."""
    if count <= 0 or count >= len(items):
        return list(items)
    return [items[(i * len(items)) // count] for i in range(count)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Calibrate the q scale per output format.")
    parser.add_argument("--photos", type=int, default=0, help="use N photos spread over the corpus (0 = all)")
    parser.add_argument("--size", type=int, default=800, help="long side of the calibration renditions")
    parser.add_argument("--step", type=int, default=5, help="native quality step for WebP/AVIF (20..100)")
    parser.add_argument("--effort-photos", type=int, default=8, help="photos for the effort sweep")
    parser.add_argument(
        "--criterion",
        choices=("encode", "render"),
        default="encode",
        help="effort score: encode ms x bytes, or (render + encode) ms x bytes",
    )
    parser.add_argument("--extra-sizes", default="400,1600", help="comma list of extra sizes ('' = none)")
    parser.add_argument("--extra-photos", type=int, default=4, help="photos for the extra sizes")
    parser.add_argument("--dpr-photos", type=int, default=5, help="photos for the dpr study (0 = skip)")
    parser.add_argument("--png-photos", type=int, default=4, help="photos for the PNG level sweep (0 = skip)")
    parser.add_argument("--dpr-rule", default="10,15", help="q drop at dpr 2,3 to check against the data")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    raw_argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(raw_argv)

    corpus = sorted(p for p in CORPUS.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    if not corpus:
        print(f"no JPEG photos under {CORPUS}", file=sys.stderr)
        return 2
    photos = pick(corpus, args.photos)
    effort_photos = pick(photos, args.effort_photos)
    natives = sorted({*range(20, 101, args.step), 100})
    size: int = args.size
    run = Run()
    warm_up()

    refs: dict[str, Image.Image] = {}
    ordered = effort_photos + [p for p in photos if p not in effort_photos]
    efforts: dict[str, str] = {}
    for index, path in enumerate(ordered, 1):
        start = time.process_time()
        ref = refs[path.name] = load(path, size)
        run.load_ms[path.name] = (time.process_time() - start) * 1000
        sweep = path in effort_photos
        run.log(
            f"{index}/{len(ordered)} {path.name} {ref.width}x{ref.height} {'all efforts' if sweep else ''}"
        )
        jpeg_pass(run, path.name, ref, full=True)
        for fmt, labels in (
            ("webp", [f"method={m}" for m in WEBP_METHODS]),
            ("avif", [f"speed={s}" for s in AVIF_SPEEDS]),
        ):
            for label in labels if sweep else [efforts[fmt]]:
                native_pass(run, path.name, ref, fmt, label, natives)
        if index <= args.png_photos:
            png_pass(run, path.name, ref, "photo")
        if index == len(effort_photos):
            names = [p.name for p in effort_photos]
            choices = {fmt: choose_effort(run, fmt, names, size, args.criterion) for fmt in ("webp", "avif")}
            efforts = {fmt: c.chosen for fmt, c in choices.items()}
            run.log(f"efforts chosen: {efforts}")

    for variant in range(1, PNG_GRAPHICS + 1):
        png_pass(run, f"graphic-{variant}", drawn_graphic(variant), "graphic")
    mappings: dict[str, QualityMap] = {}
    for fmt, effort in efforts.items():
        run.log(f"mapping {fmt}: integer search on all {len(refs)} photos")
        mappings[fmt] = mapping(run, refs, fmt, effort, size)

    if args.dpr_photos:
        for path in pick(photos, args.dpr_photos):
            run.log(f"dpr {path.name}")
            dpr_pass(run, path.name, path, refs[path.name])

    extra_sizes = [int(v) for v in args.extra_sizes.split(",") if v.strip()]
    for path in pick(photos, args.extra_photos) if extra_sizes else []:
        for extra_size in extra_sizes:
            run.log(f"size {extra_size} {path.name}")
            ref = load(path, extra_size)
            jpeg_pass(run, path.name, ref, full=False)
            for fmt, effort in efforts.items():
                native_pass(run, path.name, ref, fmt, effort, natives)

    variants = jpeg_variants(run, size)
    rows = subsampling_rows(run, size, min(variants, key=lambda v: variants[v].score_encode))
    png, png_score, png_level = png_levels(run)
    dpr_rule = dict(zip(DPR_FACTORS, (int(v) for v in args.dpr_rule.split(",")), strict=True))
    dpr_photos, dpr, dpr_bound, dpr_check = dpr_study(run, dpr_rule)
    size_photos, sizes = size_study(run, size, efforts, {f: m.native for f, m in mappings.items()})
    report = Report(
        args={**{k: str(v) for k, v in vars(args).items()}, "argv": " ".join(raw_argv)},
        versions=versions(),
        photos=[p.name for p in photos],
        effort_photos=[p.name for p in effort_photos],
        size=size,
        native_grid=natives,
        jpeg_target_ssim=jpeg_targets(run.samples, size),
        efforts=choices,
        mappings=mappings,
        jpeg_variants=variants,
        jpeg_variant=min(variants, key=lambda v: variants[v].score_encode),
        jpeg_variant_render=min(variants, key=lambda v: variants[v].score_render),
        jpeg_pixels_identical=run.pixels_identical,
        subsampling=rows,
        jpeg_444_from=first_444(rows),
        png=png,
        png_score=png_score,
        png_level=png_level,
        dpr_photos=dpr_photos,
        dpr=dpr,
        dpr_bound=dpr_bound,
        dpr_rule=dpr_rule,
        dpr_check=dpr_check,
        size_photos=size_photos,
        sizes=sizes,
    )
    report.runtime_s = time.perf_counter() - run.started
    report.load_avg = run.load_avg
    args.out.mkdir(parents=True, exist_ok=True)
    columns = list(Sample.__dataclass_fields__)
    raw = {
        "generated_by": "bench/calibrate_quality.py",
        "report": asdict(report),
        "load_ms": run.load_ms,
        "samples": {"columns": columns, "rows": [[getattr(s, c) for c in columns] for s in run.samples]},
    }
    (args.out / "quality_calibration.json").write_text(json.dumps(raw, indent=1) + "\n")
    (args.out / "quality_calibration.md").write_text(markdown(report))
    run.log(f"wrote {args.out}/quality_calibration.md and .json in {report.runtime_s / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
