#!/usr/bin/env python3
"""Ingest figures (issue 3): per-photo processing time and peak RSS, and a 100-image batch through the
local pipeline. See bench/README.md, section "Ingest".

    .venv/bin/python bench/ingest.py                  # every corpus photo, 2 timed reps; a 100-image batch
    .venv/bin/python bench/ingest.py --quick          # 4 photos, 1 timed rep; a 20-image batch
    .venv/bin/python bench/ingest.py --photos 6 --images 50
    .venv/bin/python bench/ingest.py --images 0       # per-photo figures only

(a) Per photo, in a fresh worker process (this script with `--worker photo`): what the ingest service does
with an upload's bytes (`ingest.service.IngestService._process`): sha256, `inspect`, then one
`render_many` of every eager rendition (each preset in every format `fm=auto` can pick, `eager_specs`)
plus the mezzanine, through the service's own `IngestService._render` (its puts go to an in-memory
store). One untimed first run (reported as "first"), then `--reps` timed runs; the peak RSS is that
process's `ru_maxrss` (kernel, via `wait4`), with the function's own imports (`ingest.handler`).

(b) The local stack (`imgpipe.dev.DevStack`, the `dev` stage of cdk.json, as `make dev` runs it) started
in a fresh worker process (`--worker batch`) on free ports; the batch is declared, then `--images` uploads
are put under `batches/{tenant}/{batch}/` (`upload_key`; the results of 2026-12-02 used the older form
`uploads/{tenant}/batches/{batch}/`), cycling the photos, each made unique by a tag that leaves the
pixels alone (a JPEG COM segment, a WebP chunk, an ISOBMFF `free` box), so sha256 dedup never
short-circuits. Latency per image: upload finished (this script's clock) → the record's `processed_at`
(the ingest handler's clock; same host, same process). Results: bench/results/ingest.{json,md}.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import mimetypes
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
import types
from pathlib import Path
from typing import Any

from harness.process import run_measured

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
CORPUS = Path(os.environ.get("IMGPIPE_CORPUS", REPO.parent / "shared" / "corpus"))
RESULTS = BENCH / "results"
TMP = RESULTS / "tmp" / "ingest"
TENANT = "bench"
QUICK_PHOTOS = (  # the same four as bench/run.py --quick
    "immich__craft-beer.jpg",
    "mei__Canon_EOS_1000D.jpg",
    "p3exp__IMG_1063.JPG",
    "immich__10bit-HDR-P3-nclx.avif",
)
# Locally the queues' visibility timeout is 30 s; deployed it is 6 × the function timeout (≥ 6 min). A bulk
# invocation of 5 camera photos on a loaded 2-core machine can take longer than 30 s, which would redeliver
# messages mid-batch and time the retry, so the bench uses the deployed order of magnitude.
VISIBILITY_TIMEOUT = 600
BATCH_TIMEOUT_S = 1800.0


# Making each upload unique without touching its pixels


def unique_bytes(data: bytes, tag: str) -> bytes:
    """`data` with `tag` stored where every decoder skips it; raises ValueError for other formats."""
    text = tag.encode()
    if data[:2] == b"\xff\xd8":
        # A COM segment after the APPn segments (EXIF/ICC stay where readers look for them).
        at = 2
        while at + 4 <= len(data) and data[at] == 0xFF and 0xE0 <= data[at + 1] <= 0xEF:
            at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
        segment = b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text
        return data[:at] + segment + data[at:]
    if data[:4] == b"RIFF" and data[8:16] == b"WEBPVP8X":
        # An unknown chunk at the end of an extended WebP (readers skip unknown chunks), RIFF size fixed.
        payload = text + (b"\0" if len(text) % 2 else b"")
        body = data[8:] + b"BNCH" + len(text).to_bytes(4, "little") + payload
        return b"RIFF" + len(body).to_bytes(4, "little") + body
    if data[4:8] == b"ftyp":
        # A `free` box at the end (ISOBMFF; item offsets are unchanged, so HEIF/AVIF readers ignore it).
        return data + (len(text) + 8).to_bytes(4, "big") + b"free" + text
    raise ValueError("no pixel-neutral tag for this format")


# (a) one photo in a fresh process


def _vm_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _function_imports() -> None:
    """Make `ingest` the ingest function's package, not this script (whose folder Python put first)."""
    sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != BENCH]
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")


class _DiscardStore:
    """The transformed bucket as `IngestService._render` uses it (`put`), keeping only the sizes."""

    def __init__(self) -> None:
        self.puts: list[tuple[str, int, dict[str, str]]] = []

    def put(self, key: str, data: bytes, **kwargs: Any) -> None:
        self.puts.append((key, len(data), dict(kwargs.get("metadata") or {})))


def photo_worker(job: dict[str, Any]) -> dict[str, Any]:
    """sha256 + inspect + `IngestService._render` (eager renditions and mezzanine) on one photo's bytes."""
    _function_imports()
    import ingest.handler  # noqa: F401, PLC0415 - the function's imports, for a like-for-like RSS baseline
    from imgpipe.core import DEFAULT_LIMITS, inspect  # noqa: PLC0415
    from ingest.service import IngestConfig, IngestService  # noqa: PLC0415

    baseline_kb = _vm_kb("VmRSS")
    path = Path(job["photo"])
    declared = mimetypes.guess_type(path.name)[0]
    config = IngestConfig()  # DEFAULT_PRESETS, eager formats "auto": what the dev stage configures

    def once() -> dict[str, Any]:
        data = path.read_bytes()  # page cache: warm after the first run
        store = _DiscardStore()
        # `_render` touches only the rendition store and the record's source and mezzanine keys.
        service = IngestService(
            originals=None,  # type: ignore[arg-type]
            renditions=store,  # type: ignore[arg-type]
            repository=None,  # type: ignore[arg-type]
            publisher=None,  # type: ignore[arg-type]
            config=config,
        )
        record = types.SimpleNamespace(source_key=f"uploads/{TENANT}/{path.name}", mezzanine_key=None)
        t0 = time.perf_counter()
        hashlib.sha256(data).hexdigest()
        t1 = time.perf_counter()
        info = inspect(data, limits=DEFAULT_LIMITS, declared_type=declared)
        t2 = time.perf_counter()
        written, _, _ = service._render(record, data, info)  # type: ignore[arg-type]
        t3 = time.perf_counter()
        formats: dict[str, int] = {}
        for rendition in written:
            formats[rendition.format] = formats.get(rendition.format, 0) + 1
        mezzanine = [(size, meta) for key, size, meta in store.puts if key == record.mezzanine_key]
        return {
            "sha256_ms": (t1 - t0) * 1000,
            "inspect_ms": (t2 - t1) * 1000,
            "render_ms": (t3 - t2) * 1000,
            "total_ms": (t3 - t0) * 1000,
            "source": [info.format, info.width, info.height],
            "bytes_in": len(data),
            "renditions": len(written),
            "formats": formats,
            "mezzanine": [int(mezzanine[0][1]["width"]), int(mezzanine[0][1]["height"])]
            if mezzanine
            else None,
            "bytes_renditions": sum(rendition.bytes for rendition in written),
            "bytes_mezzanine": mezzanine[0][0] if mezzanine else 0,
        }

    first = once()
    runs = [once() for _ in range(job["reps"])]
    keys = ("sha256_ms", "inspect_ms", "render_ms", "total_ms")
    medians = {key: round(statistics.median(run[key] for run in runs), 1) for key in keys}
    facts = {key: value for key, value in runs[-1].items() if key not in keys}
    return {
        "photo": path.name,
        **facts,
        "outputs": facts["renditions"] + (1 if facts["mezzanine"] else 0),
        "bytes_out": facts["bytes_renditions"] + facts["bytes_mezzanine"],
        "first_ms": {key: round(first[key], 1) for key in keys},
        "median_ms": medians,
        "times_ms": [round(run["total_ms"], 1) for run in runs],
        "baseline_rss_kb": baseline_kb,
        "vm_hwm_kb": _vm_kb("VmHWM"),
    }


# (b) the local stack and one batch, in a fresh process


def _rss_sampler(stop: threading.Event, timeline: list[tuple[float, int]], started: float) -> None:
    while not stop.wait(0.5):
        timeline.append((round(time.monotonic() - started, 1), _vm_kb("VmRSS")))


def _parse_ts(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.UTC)


def batch_worker(job: dict[str, Any]) -> dict[str, Any]:
    _function_imports()
    from imgpipe.dev import DevOptions, DevStack  # noqa: PLC0415
    from imgpipe.dev.ops import batches, images, upload_key  # noqa: PLC0415
    from imgpipe.dev.stack import load_local_config  # noqa: PLC0415

    n = job["images"]
    photos = [Path(p) for p in job["photos"]]
    batch_id = job["batch_id"]
    data_dir = Path(tempfile.mkdtemp(prefix="imgpipe-ingest-bench-"))
    done = threading.Event()
    ready_seen: dict[str, float] = {}  # key → time.time() when the console line arrived (own clock)
    console: list[str] = []

    def echo(line: str) -> None:
        console.append(line)
        parts = line.split()
        if len(parts) >= 3 and parts[1] in ("READY", "REJECTED"):
            ready_seen[parts[2]] = time.time()
        if len(parts) >= 3 and parts[1] == "BATCH" and parts[2] == f"{TENANT}/{batch_id}":
            done.set()

    options = DevOptions(
        data_dir=data_dir,
        port=0,
        tenant=TENANT,
        seed=False,
        persist=False,
        write_state=False,
        visibility_timeout=VISIBILITY_TIMEOUT,
        config=load_local_config(REPO / "cdk.json"),
        echo=echo,
    )
    started_mono = time.monotonic()
    timeline: list[tuple[float, int]] = []
    stop_sampler = threading.Event()
    sampler = threading.Thread(target=_rss_sampler, args=(stop_sampler, timeline, started_mono), daemon=True)
    sampler.start()
    stack = DevStack(options).start()
    try:
        start_s = round(time.monotonic() - started_mono, 2)
        idle_rss_kb = _vm_kb("VmRSS")
        lanes = {
            lane: {"batch_size": cfg.batch_size, "window_s": cfg.batching_window_seconds}
            for lane, cfg in (
                ("interactive", stack.config.lanes.interactive),
                ("bulk", stack.config.lanes.bulk),
            )
        }
        stack.open_batch(TENANT, batch_id, n)
        uploads: list[dict[str, Any]] = []
        originals: dict[Path, bytes] = {}
        t_first = time.time()
        for i in range(n):
            photo = photos[i % len(photos)]
            if photo not in originals:
                originals[photo] = photo.read_bytes()
            data = unique_bytes(originals[photo], f"imgpipe-bench {batch_id} upload {i}")
            key = upload_key(TENANT, f"{i:03d}-{photo.name}", batch_id)
            begin = time.time()
            stack.put_original(key, data, mimetypes.guess_type(photo.name)[0])
            end = time.time()
            uploads.append(
                {"key": key, "photo": photo.name, "bytes": len(data), "put_start": begin, "put_end": end}
            )
        t_uploaded = time.time()
        print(f"    {n} uploads put in {t_uploaded - t_first:.1f} s; waiting for Batch Completed", flush=True)
        last_print = time.monotonic()
        while not done.wait(1.0):
            if time.monotonic() - last_print >= 15:
                print(f"    {len(ready_seen)}/{n} final after {time.time() - t_first:.0f} s", flush=True)
                last_print = time.monotonic()
            if time.time() - t_first > job["timeout_s"]:
                break
        t_completed = time.time() if done.is_set() else None
        records = {r.source_key: r for r in images(stack.target(), TENANT)}
        batch = next((b for b in batches(stack.target(), TENANT) if b.batch_id == batch_id), None)
        vm_hwm_kb = _vm_kb("VmHWM")
        invocations = {
            lane: [
                {
                    "messages": inv.messages,
                    "failed": inv.failed,
                    "duration_ms": round(inv.duration_ms, 1),
                    "error": inv.error,
                    "killed": inv.killed,
                }
                for inv in poller.invocations
            ]
            for lane, poller in stack.pollers.items()
        }
        cold_starts = {lane: poller.cold_starts for lane, poller in stack.pollers.items()}
    finally:
        stack.stop(grace_seconds=10)
        stop_sampler.set()
        shutil.rmtree(data_dir, ignore_errors=True)

    rows = []
    for upload in uploads:
        record = records.get(upload["key"])
        row = {**upload, "status": record.status if record else None}
        if record is not None:
            created = _parse_ts(record.created_at).timestamp()
            row.update(
                created_at=record.created_at,
                processed_at=record.processed_at,
                renditions=len(record.renditions),
                renditions_bytes=sum(rendition.bytes or 0 for rendition in record.renditions),
                mezzanine=record.mezzanine_key is not None,
                duplicate_of=record.duplicate_of,
                reason=record.reason,
                queue_s=round(created - upload["put_end"], 3),
            )
            if record.processed_at:
                processed = _parse_ts(record.processed_at).timestamp()
                row["latency_s"] = round(processed - upload["put_end"], 3)
                row["processing_s"] = round(processed - created, 3)
        if upload["key"] in ready_seen:
            row["latency_console_s"] = round(ready_seen[upload["key"]] - upload["put_end"], 3)
        rows.append(row)
    processed_times = [_parse_ts(r["processed_at"]).timestamp() for r in rows if r.get("processed_at")]
    return {
        "images": n,
        "batch_id": batch_id,
        "lanes": lanes,
        "visibility_timeout_s": VISIBILITY_TIMEOUT,
        "stack_start_s": start_s,
        "upload_s": round(t_uploaded - t_first, 2),
        "wall_to_batch_completed_s": round(t_completed - t_first, 2) if t_completed else None,
        "wall_to_last_ready_s": round(max(processed_times) - t_first, 2) if processed_times else None,
        "batch": batch.model_dump(mode="json") if batch else None,
        "rows": rows,
        "invocations": invocations,
        "cold_starts": cold_starts,
        "idle_rss_kb": idle_rss_kb,
        "vm_hwm_kb": vm_hwm_kb,
        "rss_timeline": timeline,
        "console_tail": console[-5:],
    }


# The parent: runs the workers, aggregates, writes the report


def run_worker(kind: str, job: dict[str, Any], tag: str) -> dict[str, Any]:
    """This script in a fresh process; adds the child's ru_maxrss as the kernel reports it (wait4)."""
    TMP.mkdir(parents=True, exist_ok=True)
    job_path, result_path = TMP / f"{tag}.json", TMP / f"{tag}.result.json"
    job_path.write_text(json.dumps(job))
    result_path.unlink(missing_ok=True)
    returncode, maxrss_kb = run_measured(
        [sys.executable, str(Path(__file__).resolve()), "--worker", kind, str(job_path), str(result_path)],
        cwd=REPO,
    )
    if returncode != 0 or not result_path.is_file():
        return {"error": f"worker exited with {returncode}", "child_maxrss_kb": maxrss_kb}
    result: dict[str, Any] = json.loads(result_path.read_text())
    result["child_maxrss_kb"] = maxrss_kb
    return result


def select_photos(args: argparse.Namespace) -> list[Path]:
    everything = sorted(
        p for p in (CORPUS / "photos").iterdir() if p.is_file() and not p.name.startswith(".")
    )
    if args.photo:
        return [p for p in everything if any(part.lower() in p.name.lower() for part in args.photo)]
    if args.photos and args.photos < len(everything):
        step = len(everything) / args.photos
        return [everything[int(i * step)] for i in range(args.photos)]
    return everything


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default; `statistics.quantiles` inclusive)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarise_batch(result: dict[str, Any]) -> dict[str, Any]:
    rows = result["rows"]
    ready = [r for r in rows if r.get("status") == "READY"]
    summary: dict[str, Any] = {
        "statuses": {
            status: sum(1 for r in rows if r.get("status") == status)
            for status in sorted({str(r.get("status")) for r in rows})
        },
        "duplicates": sum(1 for r in rows if r.get("duplicate_of")),
    }
    for name in ("latency_s", "queue_s", "processing_s", "latency_console_s"):
        values = [r[name] for r in ready if name in r]
        if values:
            summary[name] = {
                "n": len(values),
                "p50": round(percentile(values, 50), 2),
                "p90": round(percentile(values, 90), 2),
                "p99": round(percentile(values, 99), 2),
                "min": round(min(values), 2),
                "max": round(max(values), 2),
                "mean": round(statistics.fmean(values), 2),
            }
    timeline = result["rss_timeline"]
    if timeline and rows:
        # Last sample while the stack still ran, minus the RSS before the first upload, per upload.
        summary["rss_growth_mb_per_image"] = round(
            (timeline[-1][1] - result["idle_rss_kb"]) / 1024 / len(rows), 1
        )
    summary["originals_mb"] = round(sum(r["bytes"] for r in rows) / 1e6, 1)
    summary["renditions_mb"] = round(sum(r.get("renditions_bytes", 0) for r in rows) / 1e6, 1)
    wall = result.get("wall_to_batch_completed_s") or result.get("wall_to_last_ready_s")
    summary["wall_s"] = wall
    summary["images_per_minute"] = round(len(ready) / wall * 60, 1) if wall else None
    bulk = [inv for inv in result["invocations"].get("bulk", []) if not inv["error"]]
    if bulk:
        summary["bulk_invocations"] = len(bulk)
        summary["bulk_messages_per_invocation"] = round(statistics.fmean(i["messages"] for i in bulk), 2)
        summary["bulk_invocation_ms_median"] = round(statistics.median(i["duration_ms"] for i in bulk), 1)
    summary["failed_or_retried_messages"] = sum(
        inv["failed"] + (inv["messages"] if inv["error"] or inv["killed"] else 0)
        for invs in result["invocations"].values()
        for inv in invs
    )
    return summary


def summarise_photos(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in rows if not r.get("error")]
    if not ok:
        return {}

    def med(values: list[float]) -> float:
        return round(statistics.median(values), 1)

    return {
        "photos": len(ok),
        "total_ms_median": med([r["median_ms"]["total_ms"] for r in ok]),
        "total_ms_max": round(max(r["median_ms"]["total_ms"] for r in ok), 1),
        "total_ms_sum": round(sum(r["median_ms"]["total_ms"] for r in ok), 1),
        "inspect_ms_median": med([r["median_ms"]["inspect_ms"] for r in ok]),
        "render_ms_median": med([r["median_ms"]["render_ms"] for r in ok]),
        "sha256_ms_median": med([r["median_ms"]["sha256_ms"] for r in ok]),
        "first_total_ms_median": med([r["first_ms"]["total_ms"] for r in ok]),
        "outputs_median": statistics.median(r["outputs"] for r in ok),
        "bytes_out_median": int(statistics.median(r["bytes_out"] for r in ok)),
        "peak_rss_mb_median": round(statistics.median(r["child_maxrss_kb"] for r in ok) / 1024, 1),
        "peak_rss_mb_max": round(max(r["child_maxrss_kb"] for r in ok) / 1024, 1),
        "peak_rss_photo": max(ok, key=lambda r: r["child_maxrss_kb"])["photo"],
        "baseline_rss_mb_median": round(statistics.median(r["baseline_rss_kb"] for r in ok) / 1024, 1),
    }


def versions() -> dict[str, str]:
    import importlib.metadata  # noqa: PLC0415

    from PIL import features  # noqa: PLC0415

    found = {
        "libjpeg": features.version("jpg") or "",
        "libwebp": features.version("webp") or "",
        "libavif": features.version("avif") or "",
    }
    for package in ("imgpipe", "pillow", "pillow_heif", "numpy", "boto3", "moto", "aws-lambda-powertools"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "?"
    return found


def _mb(kb: float | None) -> str:
    return "–" if kb is None else f"{kb / 1024:.0f}"


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    v = report["versions"]
    lines = [
        "# Ingest",
        "",
        f"Run {report['date']} on {m['cpu']} ({m['cores']} cores, {m['memory_gb']} GB), shared with other "
        f"work: load average {m['loadavg_start'][0]:.2f} / {m['loadavg_start'][1]:.2f} / "
        f"{m['loadavg_start'][2]:.2f} (1/5/15 min) at the start, {m['loadavg_end'][0]:.2f} / "
        f"{m['loadavg_end'][1]:.2f} / {m['loadavg_end'][2]:.2f} at the end; {report['wall_s'] / 60:.1f} min "
        f"in all. Python {m['python']}, Pillow {v['pillow']} (libjpeg-turbo {v['libjpeg']}, libwebp "
        f"{v['libwebp']}, libavif {v['libavif']}), pillow-heif {v['pillow_heif']}, boto3 {v['boto3']}, moto "
        f"{v['moto']}, Powertools {v['aws-lambda-powertools']}; engine source {report['imgpipe_source']}. "
        "Written by `bench/ingest.py` (method in bench/README.md, section Ingest).",
        "",
    ]
    photos = report.get("photos")
    if photos and photos["summary"]:
        s = photos["summary"]
        lines += [
            "## (a) Per photo: what ingest does with one upload's bytes",
            "",
            f"{s['photos']} corpus photos; each in a fresh worker process: one untimed first run, then "
            f"{report['settings']['reps']} timed runs (median). sha256 + `inspect` + "
            "`IngestService._render` (one `render_many` of every eager rendition, 5 presets × every format "
            "`fm=auto` can pick, + the mezzanine; its puts go to an in-memory store). In "
            "process, on bytes: no S3, DynamoDB or EventBridge calls. Peak RSS: the worker's `ru_maxrss` "
            "(fresh process per photo, with `ingest.handler` imported).",
            "",
            "| photo | source | MB in | first ms | median ms | inspect | render | sha256 | outputs "
            "| KB out | peak RSS MB |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in photos["rows"]:
            if r.get("error"):
                lines.append(f"| {r['photo']} | error: {r['error']} | | | | | | | | | |")
                continue
            fmt, w, h = r["source"]
            mz = "+1 mezz." if r["mezzanine"] else ""
            formats = "/".join(r["formats"])
            lines.append(
                f"| {r['photo']} | {fmt} {w}×{h} | {r['bytes_in'] / 1e6:.1f} | "
                f"{r['first_ms']['total_ms']:.0f} | **{r['median_ms']['total_ms']:.0f}** | "
                f"{r['median_ms']['inspect_ms']:.0f} | {r['median_ms']['render_ms']:.0f} | "
                f"{r['median_ms']['sha256_ms']:.1f} | {r['renditions']} ({formats}) {mz} | "
                f"{r['bytes_out'] / 1024:.0f} | {r['child_maxrss_kb'] / 1024:.0f} |"
            )
        lines += [
            "",
            f"Median over photos: **{s['total_ms_median']:.0f} ms** per photo (inspect "
            f"{s['inspect_ms_median']:.0f}, render {s['render_ms_median']:.0f}, sha256 "
            f"{s['sha256_ms_median']:.1f}); slowest {s['total_ms_max']:.0f} ms; the whole set one after "
            f"another {s['total_ms_sum'] / 1000:.1f} s. First run in a fresh process (codec set-up): median "
            f"{s['first_total_ms_median']:.0f} ms. Outputs per photo {s['outputs_median']:.0f}, median "
            f"{s['bytes_out_median'] / 1024:.0f} KB. Peak RSS: median {s['peak_rss_mb_median']:.0f} MB, "
            f"max {s['peak_rss_mb_max']:.0f} MB ({s['peak_rss_photo']}); after imports "
            f"{s['baseline_rss_mb_median']:.0f} MB.",
            "",
        ]
    batch = report.get("batch")
    if batch and "error" not in batch:
        s = batch["summary"]
        r = batch["raw"]
        lanes = r["lanes"]
        statuses = ", ".join(f"{count} {status}" for status, count in s["statuses"].items())

        def row(name: str, label: str) -> str:
            d = s.get(name)
            if not d:
                return f"| {label} | – | – | – | – | – |"
            cells = " | ".join(f"{d[k]:.1f}" for k in ("p50", "p90", "p99", "min", "max"))
            return f"| {label} | {cells} |"

        lines += [
            f"## (b) {r['images']} images as one batch through the local pipeline",
            "",
            f"`imgpipe.dev.DevStack` (embedded moto, the `dev` stage of cdk.json: interactive lane batch "
            f"{lanes['interactive']['batch_size']}, bulk lane batch {lanes['bulk']['batch_size']} with a "
            f"{lanes['bulk']['window_s']:g} s window, one worker per lane) in a fresh process; the batch "
            f"declared (`open_batch`, expected {r['images']}), then {r['images']} `PutObject`s under "
            f"`batches/{TENANT}/{r['batch_id']}/`, cycling {len(report['settings']['batch_photos'])} "
            "corpus photos, each made unique by a pixel-neutral tag (JPEG COM segment, WebP chunk, ISOBMFF "
            "`free` box) so the sha256 dedup never applies. Result: "
            f"{statuses}; {s['duplicates']} served as duplicates; "
            f"{s['failed_or_retried_messages']} messages failed or retried.",
            "",
            f"- uploads: {r['upload_s']:.1f} s for all {r['images']} (put back to back; the pipeline starts "
            "on the first while the rest are still going up)",
            f"- wall time, first upload → `Batch Completed` seen: **{r['wall_to_batch_completed_s']} s**; "
            f"→ last `processed_at`: {r['wall_to_last_ready_s']} s",
            f"- throughput: **{s['images_per_minute']} images/minute**",
            f"- bulk invocations: {s.get('bulk_invocations')} (mean {s.get('bulk_messages_per_invocation')} "
            f"messages, median {s.get('bulk_invocation_ms_median', 0) / 1000:.1f} s each)",
            f"- peak RSS of the whole stack process (moto's in-memory S3, SQS, DynamoDB, the pollers, the "
            f"handlers, the HTTP server, and the uploader): **{_mb(batch['peak_rss_kb'])} MB** "
            f"(`ru_maxrss`; {_mb(r['idle_rss_kb'])} MB after start, before the first upload). moto keeps "
            f"every object in this process's memory: {s['originals_mb']:.0f} MB of originals and "
            f"{s['renditions_mb']:.0f} MB of renditions (plus the mezzanines) by the end, so this grows "
            f"with the batch (here by {s.get('rss_growth_mb_per_image', 0):.0f} MB per upload, sampled every "
            "0.5 s; more than the bytes stored, see bench/README.md) and says little about one ingest "
            "function's memory; (a) is that figure.",
            "",
            "Per image, in seconds (over the READY images):",
            "",
            "| | p50 | p90 | p99 | min | max |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
            row("latency_s", "**upload → READY** (PutObject returned → record `processed_at`)"),
            row("queue_s", "waiting (PutObject returned → record created by the bulk worker)"),
            row("processing_s", "processing (record created → `processed_at`)"),
            row("latency_console_s", "upload → `Image Processed` seen on the bus (own clock)"),
            "",
            "Percentiles: linear interpolation between closest ranks. Upload times are this script's clock "
            "(`time.time()` when `PutObject` returned), `created_at`/`processed_at` the ingest handler's "
            "(`datetime.now(UTC)`), in the same process. With one bulk worker, an image's latency is mostly "
            "its place in the queue: p50 is about half the wall time and p99 about all of it; the "
            "per-image processing row is the figure that scales with lanes' concurrency when deployed.",
            "",
        ]
    elif batch:
        lines += ["## (b) batch", "", f"Failed: {batch['error']}", ""]
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--photos", type=int, default=0, help="N photos spread over the corpus (default: all)"
    )
    parser.add_argument("--photo", action="append", default=[], help="a photo by (part of) its name")
    parser.add_argument(
        "--reps", type=int, default=2, help="timed runs per photo after the first (default 2)"
    )
    parser.add_argument(
        "--images",
        type=int,
        default=None,
        help="uploads in the batch through the local stack (default 100; 0: skip)",
    )
    parser.add_argument("--quick", action="store_true", help="4 photos, 1 timed rep, a 20-image batch")
    parser.add_argument(
        "--timeout", type=float, default=BATCH_TIMEOUT_S, help="give up on the batch after S s"
    )
    parser.add_argument("--out", default=str(RESULTS / "ingest"), help="results path without extension")
    args = parser.parse_args(argv)
    if args.quick:
        args.reps = 1
        args.photo = args.photo or list(QUICK_PHOTOS)
    if args.images is None:
        args.images = 20 if args.quick else 100
    return args


def main(argv: list[str]) -> int:
    if argv[:1] == ["--worker"]:
        kind, job_path, result_path = argv[1:4]
        job = json.loads(Path(job_path).read_text())
        result = photo_worker(job) if kind == "photo" else batch_worker(job)
        Path(result_path).write_text(json.dumps(result, indent=1))
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args = parse_args(argv)
    if not (CORPUS / "photos").is_dir():
        print(f"no corpus at {CORPUS / 'photos'}: nothing to measure (IMGPIPE_CORPUS overrides)")
        return 0
    photos = select_photos(args)
    if not photos:
        print("no photo matches")
        return 0
    sys.path[:0] = [str(BENCH)]
    from run import imgpipe_fingerprint, machine_facts  # noqa: PLC0415 - bench/run.py's helpers

    started = time.monotonic()
    facts = machine_facts()
    fingerprint = imgpipe_fingerprint()
    report: dict[str, Any] = {
        "schema": 1,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "argv": argv,
        "machine": facts,
        "versions": versions(),
        "imgpipe_source": fingerprint,
        "settings": {"photos": [p.name for p in photos], "reps": args.reps, "images": args.images},
    }
    print(
        f"ingest bench: {len(photos)} photos × (1 first + {args.reps} timed runs), fresh process each",
        flush=True,
    )
    rows = []
    for photo in photos:
        result = run_worker("photo", {"photo": str(photo), "reps": args.reps}, f"photo-{photo.stem}")
        result.setdefault("photo", photo.name)
        rows.append(result)
        status = result.get("error") or (
            f"{result['median_ms']['total_ms']:.0f} ms (inspect {result['median_ms']['inspect_ms']:.0f}, "
            f"render {result['median_ms']['render_ms']:.0f}), {result['outputs']} outputs, "
            f"{result['child_maxrss_kb'] / 1024:.0f} MB"
        )
        print(f"  {photo.name:45} {status}", flush=True)
    report["photos"] = {"rows": rows, "summary": summarise_photos(rows)}

    if args.images > 0:
        usable = []
        for photo in photos:
            try:
                unique_bytes(photo.read_bytes(), "probe")
                usable.append(photo)
            except ValueError:
                print(f"  note: {photo.name} left out of the batch (no pixel-neutral tag for its format)")
        report["settings"]["batch_photos"] = [p.name for p in usable]
        batch_id = f"ingest-bench-{datetime.datetime.now(datetime.UTC).strftime('%Y%m%d-%H%M%S')}"
        print(f"batch: {args.images} uploads through the local stack (fresh process)", flush=True)
        job = {
            "images": args.images,
            "photos": [str(p) for p in usable],
            "batch_id": batch_id,
            "timeout_s": args.timeout,
        }
        result = run_worker("batch", job, "batch")
        if "error" in result:
            report["batch"] = {"error": result["error"]}
        else:
            report["batch"] = {
                "summary": summarise_batch(result),
                "peak_rss_kb": result["child_maxrss_kb"],
                "raw": result,
            }
    facts["loadavg_end"] = list(os.getloadavg())
    report["wall_s"] = round(time.monotonic() - started, 1)
    if imgpipe_fingerprint() != fingerprint:
        report["warning"] = "imgpipe's engine source changed during the run; run again"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    text = markdown(report)
    if report.get("warning"):
        text = text.replace("# Ingest\n", f"# Ingest\n\n**Warning: {report['warning']}.**\n", 1)
    out.with_suffix(".md").write_text(text)
    print()
    print(text)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
