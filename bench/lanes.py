"""Lanes under load: how long single uploads take to be READY while a large batch is in flight.

    .venv/bin/python bench/lanes.py                        # 1 000-image batch, 30 singles, before and after
    .venv/bin/python bench/lanes.py --batch 200 --singles 10 --only after

Each variant runs `imgpipe dev` (the local runtime: the same handlers, the same S3 → SQS routing as the
stack, one worker per lane) in a fresh process on a temporary data directory:

1. a batch of `--batch` small generated JPEGs (distinct bytes, 128 × 96, so ingest renders every one) is
   written to the originals bucket under the batch key form of that code (`imgpipe.dev.ops.upload_key`);
2. then one single upload (`uploads/{tenant}/...`) every `--interval` seconds, `--singles` of them;
3. each single's upload → READY time is read from its record (polled every 50 ms); every third single is
   deleted as soon as it is READY and its delete → DELETED time is read the same way;
4. the run ends when every single is final and the batch is done, or after `--timeout` seconds (then the
   figures say how far the batch got).

"before" is commit 717bb60 (batch keys `uploads/{tenant}/batches/...`, notified to the interactive lane,
which forwarded each to the bulk queue, one message per invocation), unpacked with `git archive` into
bench/results/tmp/lanes/; "after" is this checkout (batch keys `batches/{tenant}/{batch}/...`, which S3
notifies straight to the bulk queue). Results: bench/results/lanes.json and bench/results/lanes.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.revision import unpack

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
RESULTS = BENCH / "results"
TMP = RESULTS / "tmp" / "lanes"
BEFORE = "717bb60"
TENANT = "bench"
BATCH_ID = "lanes-1000"


def _use_code(root: str) -> None:
    """Import imgpipe, ingest and infra from `root` (this checkout, or an unpacked older commit)."""
    sys.path[:] = [f"{root}/functions", root] + [p for p in sys.path if Path(p or ".").resolve() != BENCH]
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")


def small_jpeg(seed: int) -> bytes:
    """A 128 × 96 photo-like JPEG whose bytes differ per seed (no two are deduplicated)."""
    import numpy as np  # noqa: PLC0415 - the worker's own imports
    from PIL import Image  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:96, 0:128]
    base = np.stack([(x * 2 + seed) % 256, (y * 2 + seed * 3) % 256, (x + y + seed * 7) % 256], axis=-1)
    noise = rng.integers(0, 40, size=(96, 128, 3))
    pixels = np.clip(base + noise, 0, 255).astype("uint8")
    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, "JPEG", quality=85)
    return out.getvalue()


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[index], 2)


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def worker(job: dict[str, Any]) -> dict[str, Any]:
    _use_code(job["root"])
    from imgpipe.adapters.dynamodb import DynamoMetadataRepository  # noqa: PLC0415
    from imgpipe.dev import DevOptions, DevStack  # noqa: PLC0415
    from imgpipe.dev.ops import upload_key  # noqa: PLC0415

    batch_n, singles_n, interval, timeout = job["batch"], job["singles"], job["interval"], job["timeout"]
    batch_images = [small_jpeg(seed) for seed in range(batch_n)]
    single_images = [small_jpeg(100_000 + seed) for seed in range(singles_n)]
    with tempfile.TemporaryDirectory() as data_dir:
        stack = DevStack(DevOptions(data_dir=Path(data_dir), port=0, seed=False)).start()
        try:
            assert stack.session is not None
            resources = stack.require_resources()
            repository = DynamoMetadataRepository(stack.session.client("dynamodb"), resources.images_table)
            batch_keys = [upload_key(TENANT, f"b{n:05d}.jpg", BATCH_ID) for n in range(batch_n)]
            began = time.monotonic()
            for key, data in zip(batch_keys, batch_images, strict=True):
                stack.put_original(key, data, "image/jpeg")
            batch_uploaded = time.monotonic() - began

            uploaded: dict[str, float] = {}  # single key -> when it was written
            ready: dict[str, float] = {}  # single key -> seconds from upload to a final status
            final_status: dict[str, str] = {}
            delete_sent: dict[str, tuple[float, str]] = {}  # key -> (when, image id)
            deleted: dict[str, float] = {}
            done = threading.Event()
            lock = threading.Lock()

            def watch() -> None:
                while not done.is_set():
                    with lock:
                        pending = [key for key in uploaded if key not in ready]
                        deleting = [key for key in delete_sent if key not in deleted]
                    for key in pending:
                        pointer = repository.get_source(key)
                        record = (
                            repository.get_image(pointer.image_id) if pointer and pointer.image_id else None
                        )
                        if record is not None and record.status in ("READY", "REJECTED", "DELETED"):
                            now = time.monotonic()
                            with lock:
                                ready[key] = now - uploaded[key]
                                final_status[key] = record.status
                            if record.status == "READY" and len(ready) % 3 == 1:
                                stack.delete_original(key)
                                with lock:
                                    delete_sent[key] = (time.monotonic(), record.image_id)
                    for key in deleting:
                        sent, image = delete_sent[key]
                        record = repository.get_image(image)
                        if record is not None and record.status == "DELETED":
                            with lock:
                                deleted[key] = time.monotonic() - sent
                    time.sleep(0.05)

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            singles_began = time.monotonic()
            for n, data in enumerate(single_images):
                key = upload_key(TENANT, f"single-{n:03d}.jpg")
                stack.put_original(key, data, "image/jpeg")
                with lock:
                    uploaded[key] = time.monotonic()
                time.sleep(interval)
            batch_done_at: float | None = None
            batch_done_when_singles_done: int | None = None
            peak_rss = 0.0
            stopped_for_memory = False
            while time.monotonic() - began < timeout:
                # The machine is shared: a stack that grows past the cap ends the run (the figures say so).
                peak_rss = max(peak_rss, _rss_mb())
                with lock:
                    singles_final = len(ready) == singles_n and len(deleted) == len(delete_sent)
                if peak_rss > job["max_rss_mb"]:
                    stopped_for_memory = True
                    if singles_final or peak_rss > 1.5 * job["max_rss_mb"]:
                        break
                batch = repository.get_batch(TENANT, BATCH_ID)
                batch_done = batch.done if batch is not None else 0
                if singles_final and batch_done_when_singles_done is None:
                    batch_done_when_singles_done = batch_done
                if batch_done >= batch_n and batch_done_at is None:
                    batch_done_at = time.monotonic() - began
                if singles_final and batch_done_at is not None:
                    break
                time.sleep(0.5)
            done.set()
            watcher.join(timeout=10)
            batch = repository.get_batch(TENANT, BATCH_ID)
            latencies = list(ready.values())
            delete_latencies = list(deleted.values())
            return {
                "code": job["label"],
                "batch_images": batch_n,
                "batch_key_example": batch_keys[0],
                "batch_upload_seconds": round(batch_uploaded, 1),
                "singles": singles_n,
                "singles_final": len(ready),
                "singles_statuses": sorted(set(final_status.values())),
                "single_interval_seconds": interval,
                "seconds_from_first_single_to_end": round(time.monotonic() - singles_began, 1),
                "ready_p50_s": _percentile(latencies, 50),
                "ready_p99_s": _percentile(latencies, 99),
                "ready_max_s": round(max(latencies), 2) if latencies else None,
                "ready_seconds": [round(value, 2) for value in latencies],
                "deletes": len(delete_sent),
                "deleted_p50_s": _percentile(delete_latencies, 50),
                "deleted_max_s": round(max(delete_latencies), 2) if delete_latencies else None,
                "batch_done_when_singles_final": batch_done_when_singles_done,
                "batch_done_at_end": batch.done if batch is not None else 0,
                "batch_seconds": round(batch_done_at, 1) if batch_done_at is not None else None,
                "timed_out": batch_done_at is None or len(ready) < singles_n,
                "stopped_at_memory_cap": stopped_for_memory,
                "peak_rss_mb": round(peak_rss),
            }
        finally:
            stack.stop(grace_seconds=5)


def run_variant(label: str, root: Path, args: argparse.Namespace) -> dict[str, Any]:
    job = {
        "label": label,
        "root": str(root),
        "batch": args.batch,
        "singles": args.singles,
        "interval": args.interval,
        "timeout": args.timeout,
        "max_rss_mb": args.max_rss_mb,
    }
    with tempfile.NamedTemporaryFile("r", suffix=".json") as out:
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--worker",
            json.dumps(job),
            "--out",
            out.name,
        ]
        # cwd: that code's own cdk.json (the local runtime reads the dev stage's lanes from it)
        # MALLOC_ARENA_MAX=2 for both: glibc's per-thread arenas under moto's request threads otherwise
        # grow the process by gigabytes (bench/README.md, "Ingest"); the same setting for both variants.
        env = {**os.environ, "MALLOC_ARENA_MAX": "2"}
        subprocess.run(command, cwd=root, check=True, timeout=args.timeout + 300, env=env)
        return dict(json.loads(Path(out.name).read_text()))


def _batch_took(result: dict[str, Any]) -> str:
    if result["batch_seconds"] is not None:
        return f"{result['batch_seconds']} s"
    why = "memory cap" if result["stopped_at_memory_cap"] else "timeout"
    return f"stopped ({why}) at {result['batch_done_at_end']}/{result['batch_images']}"


def markdown(report: dict[str, Any]) -> str:
    rows = [
        "| code | batch keys | singles READY | p50 upload → READY | p99 | max | delete → DELETED (p50 / max) "
        "| batch done when singles were | batch took | peak RSS |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for result in report["results"]:
        rows.append(
            f"| {result['code']} | `{result['batch_key_example']}` "
            f"| {result['singles_final']}/{result['singles']} "
            f"| {result['ready_p50_s']} s | {result['ready_p99_s']} s | {result['ready_max_s']} s "
            f"| {result['deleted_p50_s']} s / {result['deleted_max_s']} s "
            f"| {result['batch_done_when_singles_final']}/{result['batch_images']} "
            f"| {_batch_took(result)} | {result['peak_rss_mb']} MB |"
        )
    return "\n".join(
        [
            "# Lanes: single uploads while a batch is in flight",
            "",
            f"{report['date']}, {report['machine']}; `imgpipe dev` (one worker per lane, the stack's "
            "routing), "
            f"a batch of {report['batch']} generated 128 × 96 JPEGs written first, then {report['singles']} "
            f"single uploads {report['interval']} s apart; every third single deleted once READY. "
            "`.venv/bin/python bench/lanes.py` (bench/lanes.py says how).",
            "",
            *rows,
            "",
            f"before = {BEFORE} (batch keys under `uploads/{{tenant}}/batches/`, notified to the interactive "
            "queue and forwarded by the interactive function to the bulk queue, one message per invocation); "
            "after = this checkout (batch keys under `batches/{tenant}/{batch}/`, notified by S3 straight to "
            "the bulk queue; deletes of both prefixes to the interactive queue).",
            "",
            'Every single was uploaded and final while the batch was still in flight ("batch done when '
            'singles were"). A variant stops once its singles are final and its process is past the memory '
            "cap (`--max-rss-mb`): the local stack keeps every object in memory and grows by several MB per "
            "image, and the machine is shared, so the batch itself is not always seen to the end. Both "
            "variants run with `MALLOC_ARENA_MAX=2`.",
            "",
        ]
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=1000, help="images in the batch (default 1000)")
    parser.add_argument(
        "--singles", type=int, default=30, help="single uploads during the batch (default 30)"
    )
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between single uploads")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per variant at most")
    parser.add_argument("--max-rss-mb", type=float, default=6000, help="stop a variant past this RSS")
    parser.add_argument("--only", choices=("before", "after"), help="run one variant only")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        Path(args.out).write_text(json.dumps(worker(json.loads(args.worker))))
        return 0
    variants = [("after", REPO), ("before", unpack(BEFORE, TMP))]
    results = [run_variant(label, root, args) for label, root in variants if args.only in (None, label)]
    report = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start",
        "batch": args.batch,
        "singles": args.singles,
        "interval": args.interval,
        "results": results,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "lanes.json").write_text(json.dumps(report, indent=1) + "\n")
    (RESULTS / "lanes.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
