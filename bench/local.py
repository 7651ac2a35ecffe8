"""`imgpipe dev` under a corpus run: resident memory after N images and the ingest rate, with and without
CLIs waiting (`imgpipe upload --wait`, i.e. `ops.wait_for`) at the same time.

    .venv/bin/python bench/local.py                 # every corpus photo, with 0 and then 3 waiters
    .venv/bin/python bench/local.py --photos 8 --copies 2
    .venv/bin/python bench/local.py --generated 300             # RSS every 50 small generated JPEGs
    .venv/bin/python bench/local.py --generated 300 --moto-tracking   # the same with moto's model record on

Each variant runs in a fresh process (the stack, its embedded AWS and the uploads), so the figures are
that process's own; results go to bench/results/local.json and bench/results/local.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "functions")]

from bench.harness.process import run_measured  # noqa: E402

PHOTOS = ROOT.parent / "shared" / "corpus" / "photos"
RESULTS = ROOT / "bench" / "results"


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(photos: list[Path], copies: int, waiters: int, out: Path) -> None:
    from imgpipe.dev import DevOptions, DevStack  # noqa: PLC0415 - imported in the measured process only
    from imgpipe.dev.ops import wait_for  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as data_dir:
        stack = DevStack(DevOptions(data_dir=Path(data_dir), port=0, seed=False)).start()
        try:
            started_rss = _rss_mb()
            keys = [f"uploads/local/c{copy}-{photo.name}" for copy in range(copies) for photo in photos]
            rounds = [0]

            def wait_like_a_cli(share: list[str]) -> None:
                # What `imgpipe upload --wait` does: one wait over its own uploads, polling every 0.5 s.
                def count(final: int, total: int) -> None:
                    rounds[0] += 1

                wait_for(stack.target(), share, timeout=3600, interval=0.5, progress=count)

            threads = [
                threading.Thread(target=wait_like_a_cli, args=(keys[n::waiters],), daemon=True)
                for n in range(waiters)
            ]
            for thread in threads:
                thread.start()
            began = time.monotonic()
            for key, photo in zip(keys, [p for _ in range(copies) for p in photos], strict=True):
                stack.put_original(key, photo.read_bytes(), "image/jpeg")
            records = wait_for(stack.target(), keys, timeout=3600, interval=1.0)
            took = time.monotonic() - began
            for thread in threads:
                thread.join(timeout=10)
            after = _rss_mb()
            time.sleep(10)  # idle: what the process keeps
            idle = _rss_mb()
            statuses: dict[str, int] = {}
            for record in records.values():
                status = record.status if record else "MISSING"
                statuses[status] = statuses.get(status, 0) + 1
            result = {
                "images": len(keys),
                "original_mb": round(sum(p.stat().st_size for p in photos) * copies / 2**20, 1),
                "waiters": waiters,
                "waiter_rounds": rounds[0],
                "seconds": round(took, 1),
                "images_per_100s": round(len(keys) / took * 100, 1),
                "rss_mb_started": round(started_rss),
                "rss_mb_after": round(after),
                "rss_mb_idle_10s": round(idle),
                "statuses": statuses,
            }
        finally:
            stack.stop(grace_seconds=5)
    out.write_text(json.dumps(result))


def _generated_jpeg(seed: int, size: tuple[int, int] = (320, 240)) -> bytes:
    import io  # noqa: PLC0415
    import random  # noqa: PLC0415

    from PIL import Image  # noqa: PLC0415

    rng = random.Random(seed)
    image = Image.new("RGB", size, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    pixels = image.load()
    assert pixels is not None
    for _ in range(400):  # a little detail, so the encodes are not trivially small
        pixels[rng.randrange(size[0]), rng.randrange(size[1])] = (rng.randrange(256),) * 3
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def generated_worker(count: int, every: int, moto_tracking: bool, out: Path) -> None:
    """`count` generated JPEGs into a fresh stack, RSS after each `every` are final (gc'd, trimmed)."""
    import gc  # noqa: PLC0415

    from imgpipe.dev import DevOptions, DevStack  # noqa: PLC0415
    from imgpipe.dev import aws as dev_aws  # noqa: PLC0415
    from imgpipe.dev.ops import wait_for  # noqa: PLC0415
    from imgpipe.dev.stack import release_freed_memory  # noqa: PLC0415

    steps: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as data_dir:
        stack = DevStack(DevOptions(data_dir=Path(data_dir), port=0, seed=False, echo=lambda _: None))
        stack.start()
        try:
            if moto_tracking:  # the code before the untracked-models shim: moto records every model object
                from moto.core import common_models  # noqa: PLC0415

                original = dev_aws._shims.originals.pop("BaseModel.__new__")
                setattr(common_models.BaseModel, "__new__", original)  # noqa: B010
            steps.append({"images": 0, "rss_mb": round(_rss_mb()), "seconds": 0.0})
            began = time.monotonic()
            keys: list[str] = []
            for n in range(count):
                keys.append(f"uploads/local/generated-{n:05d}.jpg")
                stack.put_original(keys[-1], _generated_jpeg(n), "image/jpeg")
                if (n + 1) % every == 0 or n + 1 == count:
                    wait_for(stack.target(), keys[-every:], timeout=3600, interval=0.5)
                    gc.collect()
                    release_freed_memory()
                    seconds = round(time.monotonic() - began, 1)
                    steps.append({"images": n + 1, "rss_mb": round(_rss_mb()), "seconds": seconds})
                    print(json.dumps(steps[-1]), flush=True)
        finally:
            stack.stop(grace_seconds=5)
    first, last = steps[1], steps[-1]
    per_image = (last["rss_mb"] - first["rss_mb"]) / max(1, last["images"] - first["images"])
    result = {
        "generated": count,
        "moto_tracking": moto_tracking,
        "steps": steps,
        "mb_per_image_after_first_step": round(per_image, 2),
    }
    out.write_text(json.dumps(result))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=0, help="the first N corpus photos (0: all)")
    parser.add_argument("--copies", type=int, default=1, help="upload each photo under this many names")
    parser.add_argument("--waiters", default="0,3", help="comma list of waiting-CLI counts, one run each")
    parser.add_argument("--label", default="", help="a note for this run in the results")
    parser.add_argument("--generated", type=int, default=0, help="N generated 320x240 JPEGs instead")
    parser.add_argument("--every", type=int, default=50, help="with --generated: RSS after each N images")
    parser.add_argument(
        "--moto-tracking", action="store_true", help="with --generated: keep moto's record of every model"
    )
    parser.add_argument("--worker", nargs=3, metavar=("COPIES", "WAITERS", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("files", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker and not args.generated:
        copies, waiters, out = args.worker
        worker([Path(f) for f in args.files], int(copies), int(waiters), Path(out))
        return 0
    if args.generated:
        return _run_generated(args)
    photos = sorted(p for p in PHOTOS.glob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    if args.photos:
        photos = photos[: args.photos]
    if not photos:
        print(f"no photos in {PHOTOS}", file=sys.stderr)
        return 69
    runs: list[dict[str, Any]] = []
    for waiters in (int(n) for n in args.waiters.split(",")):
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
            out = Path(handle.name)
        argv = [sys.executable, __file__, "--worker", str(args.copies), str(waiters), str(out)]
        code, peak_kb = run_measured([*argv, *map(str, photos)], cwd=ROOT, env=os.environ)
        if code != 0:
            print(f"worker with {waiters} waiter(s) failed ({code})", file=sys.stderr)
            return code
        run = json.loads(out.read_text())
        out.unlink()
        run["rss_mb_peak"] = round(peak_kb / 1024)
        runs.append(run)
        print(json.dumps(run), flush=True)
    return _record(
        {"when": datetime.now(UTC).isoformat(timespec="seconds"), "label": args.label, "runs": runs}
    )


def _run_generated(args: argparse.Namespace) -> int:
    if args.worker:
        count, flags, out = args.worker
        generated_worker(int(count), args.every, flags == "tracking", Path(out))
        return 0
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    flags = "tracking" if args.moto_tracking else "untracked"
    argv = [sys.executable, __file__, "--generated", "1", "--every", str(args.every)]
    code, peak_kb = run_measured(
        [*argv, "--worker", str(args.generated), flags, str(out)], cwd=ROOT, env=os.environ
    )
    if code != 0:
        print(f"worker failed ({code})", file=sys.stderr)
        return code
    run = json.loads(out.read_text())
    out.unlink()
    run["rss_mb_peak"] = round(peak_kb / 1024)
    print(json.dumps(run), flush=True)
    return _record(
        {"when": datetime.now(UTC).isoformat(timespec="seconds"), "label": args.label, "runs": [run]}
    )


def _record(report: dict[str, Any]) -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    history = RESULTS / "local.json"
    previous = json.loads(history.read_text()) if history.exists() else []
    history.write_text(json.dumps([*previous, report], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
