#!/usr/bin/env python3
"""imgpipe vs naive Pillow vs libvips vs thumbor on the same photos, in the same run. See bench/README.md.

    .venv/bin/python bench/run.py                      # everything (what `make bench` runs)
    .venv/bin/python bench/run.py --quick              # 4 photos, 1 timed rep: a smoke run
    .venv/bin/python bench/run.py --photos 3 --reps 1 --tools pillow,vips,thumbor --ops webp800,jpeg400

Each (tool, op) pass runs in a fresh worker process (its peak RSS is its own); thumbor runs as an HTTP server
on 127.0.0.1 from its own venv under bench/.peers/, installed on first use. Outputs go to bench/results/tmp/,
the numbers to bench/results/latest.json and the tables to bench/results/summary.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import PIL
from harness.ops import OP_NAMES, Op, build_ops
from harness.process import run_measured
from harness.quality import score_photo
from harness.report import TOOL_LABELS, aggregate, markdown
from harness.thumbor_peer import ensure_thumbor, write_config
from harness.thumbor_peer import versions as thumbor_versions
from PIL import features

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
CORPUS = Path(os.environ.get("IMGPIPE_CORPUS", REPO.parent / "shared" / "corpus"))
RESULTS = BENCH / "results"
TMP = RESULTS / "tmp"
PEERS = BENCH / ".peers"
TOOLS = ("imgpipe", "pillow", "vips", "thumbor")
RSS_PHOTO = "immich__craft-beer.jpg"  # the 24 MP JPEG of the RSS target
QUICK_PHOTOS = (
    "immich__craft-beer.jpg",
    "mei__Canon_EOS_1000D.jpg",
    "p3exp__IMG_1063.JPG",
    "immich__10bit-HDR-P3-nclx.avif",
)
EXIT_UNAVAILABLE = 3


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--photos", type=int, default=0, help="N photos spread over the corpus (default: all)"
    )
    parser.add_argument(
        "--photo", action="append", default=[], help="a photo by (part of) its name; repeatable"
    )
    parser.add_argument(
        "--reps", type=int, default=3, help="timed repetitions per (tool, op, photo); default 3"
    )
    parser.add_argument(
        "--warmup", type=int, default=1, help="untimed renders before each pass (first photo); default 1"
    )
    parser.add_argument("--ops", default=",".join(OP_NAMES), help=f"comma list of {', '.join(OP_NAMES)}")
    parser.add_argument("--tools", default=",".join(TOOLS), help=f"comma list of {', '.join(TOOLS)}")
    parser.add_argument("--quick", action="store_true", help="4 representative photos, 1 timed rep")
    parser.add_argument("--no-rss", action="store_true", help="skip the dedicated 24 MP peak-RSS runs")
    parser.add_argument(
        "--rescore", action="store_true", help="re-score the last run's outputs and rewrite the report only"
    )
    parser.add_argument("--jobs", type=int, default=2, help="processes for SSIM scoring (after all timing)")
    args = parser.parse_args(argv)
    args.tools = [t for t in args.tools.split(",") if t]
    args.tools = sorted(set(args.tools), key=lambda t: TOOLS.index(t) if t in TOOLS else len(TOOLS))
    args.ops = [o for o in args.ops.split(",") if o]
    for name in args.tools:
        if name not in TOOLS:
            parser.error(f"unknown tool {name!r}; choose from {', '.join(TOOLS)}")
    for name in args.ops:
        if name not in OP_NAMES:
            parser.error(f"unknown op {name!r}; choose from {', '.join(OP_NAMES)}")
    if args.quick:
        args.reps = 1
        args.photo = args.photo or list(QUICK_PHOTOS)
    return args


def select_photos(args: argparse.Namespace) -> list[Path]:
    photos_dir = CORPUS / "photos"
    if not photos_dir.is_dir():
        sys.exit(f"no corpus at {photos_dir} (expected <repo>/../shared/corpus; IMGPIPE_CORPUS overrides)")
    everything = sorted(p for p in photos_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    if args.photo:
        chosen = [p for p in everything if any(part.lower() in p.name.lower() for part in args.photo)]
        if not chosen:
            sys.exit(f"no photo matches {args.photo}")
        return chosen
    if args.photos and args.photos < len(everything):
        step = len(everything) / args.photos
        return [everything[int(i * step)] for i in range(args.photos)]
    return everything


def load_presets(tools: list[str]) -> dict[str, str] | None:
    try:
        from imgpipe.core.spec import DEFAULT_PRESETS  # noqa: PLC0415 - may not import yet
    except Exception as error:
        if "imgpipe" in tools:
            sys.exit(
                f"imgpipe is not importable yet ({type(error).__name__}: {error}).\n"
                "Benchmark the peers alone with --tools pillow,vips,thumbor (the preset set needs imgpipe's "
                "DEFAULT_PRESETS and is skipped then)."
            )
        return None
    return dict(DEFAULT_PRESETS)


def run_worker(job: dict[str, Any], tag: str) -> dict[str, Any]:
    """Run one pass in a fresh process; add its peak RSS as the kernel reports it for that child."""
    jobs = TMP / "jobs"
    jobs.mkdir(parents=True, exist_ok=True)
    job_path, result_path = jobs / f"{tag}.json", jobs / f"{tag}.result.json"
    job_path.write_text(json.dumps(job))
    result_path.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(BENCH)}
    returncode, maxrss_kb = run_measured(
        [sys.executable, "-m", "harness.worker", str(job_path), str(result_path)], cwd=REPO, env=env
    )
    if returncode == EXIT_UNAVAILABLE:
        sys.exit(json.loads(result_path.read_text())["unavailable"])
    if returncode != 0 or not result_path.is_file():
        return {"error": f"worker exited with {returncode}", "photos": []}
    result: dict[str, Any] = json.loads(result_path.read_text())
    result["child_maxrss_kb"] = maxrss_kb  # the worker process itself (for thumbor: the HTTP client)
    return result


def imgpipe_fingerprint() -> str:
    """A short hash of imgpipe's engine sources, taken at each imgpipe pass: it shows whether the engine
    changed while the benchmark was running (then the passes measured different code)."""
    digest = hashlib.sha256()
    for path in sorted((REPO / "functions" / "imgpipe" / "core").rglob("*.py")):
        digest.update(path.relative_to(REPO).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def machine_facts() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_start": list(os.getloadavg()),
    }


def local_versions() -> dict[str, str]:
    versions = {
        "pillow": PIL.__version__,
        "libjpeg": features.version("jpg") or "",
        "libwebp": features.version("webp") or "",
        "libavif": features.version("avif") or "",
    }
    try:
        import pyvips  # noqa: PLC0415 - optional here: only the vips tool needs it

        versions["pyvips"] = pyvips.__version__
        versions["libvips"] = ".".join(str(pyvips.version(i)) for i in range(3))
    except Exception as error:
        versions["libvips"] = f"unavailable: {error}"
    try:
        versions["imgpipe"] = importlib.metadata.version("imgpipe")
    except Exception:
        versions["imgpipe"] = "?"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "functions"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        versions["imgpipe_commit"] = commit + ("+uncommitted" if dirty else "")
    except OSError:
        pass
    return versions


def prepare_thumbor() -> dict[str, Any]:
    PEERS.mkdir(parents=True, exist_ok=True)
    python = ensure_thumbor(PEERS / "thumbor", PEERS / "thumbor-install.log")
    config = TMP / "thumbor.conf"
    write_config(config, CORPUS / "photos")
    return {
        "python": str(python),
        "config": str(config),
        "versions": thumbor_versions(python),
        "config_text": config.read_text(),
    }


def score_outputs(
    runs: dict[str, dict[str, Any]], ops: dict[str, Op], photos: list[Path], jobs: int
) -> dict[str, Any]:
    by_photo: dict[str, list[dict[str, str]]] = {p.name: [] for p in photos}
    for tool, by_op in runs.items():
        for op_name, run in by_op.items():
            op = ops[op_name]
            out_dir = TMP / "outputs" / tool / op_name
            for row in run.get("photos", []):
                if row.get("error"):
                    continue
                for rendition, name in zip(op.renditions, row["outputs"], strict=True):
                    by_photo[row["photo"]].append(
                        {
                            "key": f"{tool}/{op_name}/{rendition.name}",
                            "path": str(out_dir / name),
                            "fit": rendition.fit,
                        }
                    )
    work = [{"photo": str(p), "outputs": by_photo[p.name]} for p in photos if by_photo[p.name]]
    scores: dict[str, Any] = {}
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        for result in pool.map(score_photo, work):
            scores[result["photo"]] = result
            print(f"  scored {result['photo']} ({len(result['scores'])} outputs)", flush=True)
    return scores


def measure(args: argparse.Namespace, photos: list[Path], ops: dict[str, Op]) -> dict[str, Any]:
    """Every timed pass, then the dedicated 24 MP RSS runs. Returns the raw part of latest.json."""
    started = time.monotonic()
    for photo in photos:
        photo.read_bytes()  # page cache: thumbor's file loader reads from disk inside its timed request
    shutil.rmtree(TMP, ignore_errors=True)
    TMP.mkdir(parents=True)
    facts = machine_facts()
    versions: dict[str, Any] = {"local": local_versions()}
    thumbor: dict[str, Any] | None = None
    if "thumbor" in args.tools:
        print("preparing thumbor", flush=True)
        thumbor = prepare_thumbor()
        versions["thumbor_venv"] = thumbor["versions"]
    print(
        f"{len(photos)} photos × {len(ops)} ops × {len(args.tools)} tools, "
        f"{args.reps} timed reps + {args.warmup} warm-up per pass",
        flush=True,
    )
    runs: dict[str, dict[str, Any]] = {tool: {} for tool in args.tools}
    for op in ops.values():
        for tool in args.tools:
            print(f"  {op.name} / {TOOL_LABELS[tool]}", flush=True)
            job: dict[str, Any] = {
                "tool": tool,
                "op": op.to_json(),
                "photos": [str(p) for p in photos],
                "reps": args.reps,
                "warmup": args.warmup,
                "out_dir": str(TMP / "outputs" / tool / op.name),
            }
            if thumbor:
                job["thumbor"] = {**thumbor, "log": str(TMP / f"thumbor-{op.name}.log")}
            fingerprint = imgpipe_fingerprint() if tool == "imgpipe" else None
            runs[tool][op.name] = run_worker(job, f"{tool}-{op.name}")
            if fingerprint:
                runs[tool][op.name]["imgpipe_source"] = fingerprint
            if tool != "thumbor" and "child_maxrss_kb" in runs[tool][op.name]:
                runs[tool][op.name]["peak_rss_kb"] = runs[tool][op.name]["child_maxrss_kb"]

    rss_24mp: dict[str, dict[str, Any]] = {}
    rss_photo = CORPUS / "photos" / RSS_PHOTO
    if not args.no_rss and rss_photo.is_file():
        print(f"peak RSS on {RSS_PHOTO}, one fresh process per tool and op", flush=True)
        for tool in args.tools:
            rss_24mp[tool] = {}
            for op in ops.values():
                job = {
                    "tool": tool,
                    "op": op.to_json(),
                    "photos": [str(rss_photo)],
                    "reps": 1,
                    "warmup": 0,
                    "out_dir": None,
                }
                if thumbor:
                    job["thumbor"] = {**thumbor, "log": str(TMP / f"thumbor-rss-{op.name}.log")}
                result = run_worker(job, f"rss-{tool}-{op.name}")
                peak = result.get("peak_rss_kb") if tool == "thumbor" else result.get("child_maxrss_kb")
                rss_24mp[tool][op.name] = {
                    "peak_rss_kb": peak,
                    "baseline_rss_kb": result.get("baseline_rss_kb"),
                    "error": result.get("error")
                    or next((r["error"] for r in result.get("photos", []) if r.get("error")), None),
                }
    facts["loadavg_end"] = list(os.getloadavg())
    return {
        "schema": 1,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "timing_wall_s": round(time.monotonic() - started, 1),
        "machine": facts,
        "versions": versions,
        "settings": {
            "photos": [p.name for p in photos],
            "reps": args.reps,
            "warmup": args.warmup,
            "tools": args.tools,
            "ops": {name: op.to_json() for name, op in ops.items()},
            "thumbor_config": thumbor["config_text"] if thumbor else None,
            "rss_photo": RSS_PHOTO,
        },
        "runs": runs,
        "rss_24mp": rss_24mp,
    }


def versions_line(versions: dict[str, Any]) -> str:
    vl = versions["local"]
    line = (
        f"Pillow {vl['pillow']} (libjpeg-turbo {vl['libjpeg']}, libwebp {vl['libwebp']}, "
        f"libavif {vl['libavif']}), "
        f"libvips {vl.get('libvips')} (pyvips {vl.get('pyvips', '?')}), imgpipe {vl.get('imgpipe')} "
        f"@ {vl.get('imgpipe_commit', '?')}"
    )
    tv = versions.get("thumbor_venv")
    if tv:
        line += (
            f", thumbor {tv['thumbor']} (Pillow {tv['pillow']}, libavif {tv['libavif']}, "
            f"OpenCV {tv['opencv']})"
        )
    return line


def write_results(latest: dict[str, Any], ops: dict[str, Op], started: float | None = None) -> str:
    """Score the outputs, aggregate, and write latest.json and summary.md. Returns the markdown.

    With `started` (a monotonic time) the wall time is measured up to here; without it (re-scoring) the
    wall time of the run that made the outputs is kept."""
    settings = latest["settings"]
    photos = [CORPUS / "photos" / name for name in settings["photos"]]
    tools = settings["tools"]
    print("scoring outputs (SSIM against full-decode LANCZOS references)", flush=True)
    latest["scores"] = score_outputs(latest["runs"], ops, photos, latest.pop("_jobs", 2))
    latest["summary"] = aggregate(ops, tools, latest["runs"], latest["scores"], latest["rss_24mp"])
    if started is not None:
        latest["wall_s"] = round(time.monotonic() - started, 1)
    date = datetime.datetime.fromisoformat(latest["date"])
    meta = {
        "date": date.strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": latest["machine"]["cpu"],
        "cores": latest["machine"]["cores"],
        "photos": len(photos),
        "reps": settings["reps"],
        "warmup": settings["warmup"],
        "wall": f"{latest['wall_s'] / 60:.1f} min",
        "versions_line": versions_line(latest["versions"]),
        "warnings": [],
    }
    fingerprints = {op: run.get("imgpipe_source") for op, run in latest["runs"].get("imgpipe", {}).items()}
    if len(set(fingerprints.values())) > 1:
        passes = ", ".join(f"{op} {fp}" for op, fp in fingerprints.items())
        meta["warnings"].append(
            f"imgpipe's engine source changed during this run ({passes}): its passes measured different "
            "code; run again for comparable imgpipe numbers."
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(latest, indent=1) + "\n")
    report = markdown(ops, tools, latest["summary"], meta)
    (RESULTS / "summary.md").write_text(report)
    return report


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    args = parse_args(argv)
    if args.rescore:
        latest = json.loads((RESULTS / "latest.json").read_text())
        ops = {name: Op.from_json(raw) for name, raw in latest["settings"]["ops"].items()}
        latest["_jobs"] = args.jobs
        report = write_results(latest, ops)
        print()
        print(report)
        print("re-scored the outputs of the last run (timings unchanged)")
        return 0
    photos = select_photos(args)
    presets = load_presets(args.tools)
    ops = build_ops(presets)
    if "presets" in args.ops and "presets" not in ops:
        print("note: skipping the preset set (imgpipe's DEFAULT_PRESETS is not importable)", flush=True)
    ops = {name: ops[name] for name in args.ops if name in ops}
    if not ops:
        sys.exit("nothing to run")
    latest = measure(args, photos, ops)
    latest["argv"] = argv
    latest["_jobs"] = args.jobs
    report = write_results(latest, ops, started)
    print()
    print(report)
    print(
        f"wall time {latest['wall_s'] / 60:.1f} min; "
        f"results in {RESULTS.relative_to(REPO)}/latest.json and summary.md"
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
