"""One tool × one operation over a list of photos, in a fresh process (so its peak RSS is its own).

Usage (by run.py): PYTHONPATH=bench python -m harness.worker JOB.json RESULT.json
"""

from __future__ import annotations

import json
import resource
import signal
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from harness.adapters import Adapter, ImgpipeUnavailableError, ThumborClient, in_process_adapter
from harness.ops import Op
from harness.thumbor_peer import serve

EXIT_UNAVAILABLE = 3


def _vm_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _save(out_dir: Path | None, photo: Path, op: Op, outputs: list[bytes]) -> list[str]:
    if out_dir is None:
        return []
    names = []
    for rendition, data in zip(op.renditions, outputs, strict=True):
        name = f"{photo.stem}__{rendition.name}.{rendition.ext}"
        (out_dir / name).write_bytes(data)
        names.append(name)
    return names


class Tracked:
    """Wraps an adapter and remembers the (first, end) request indices of each call (for thumbor's log)."""

    def __init__(self, adapter: Adapter, requested: list[str] | None = None) -> None:
        self.adapter = adapter
        self.requested = requested
        self.calls: list[tuple[int, int]] = []

    def __call__(self, photo: Path, op: Op) -> tuple[list[bytes], float]:
        first = len(self.requested) if self.requested is not None else 0
        result = self.adapter(photo, op)
        end = len(self.requested) if self.requested is not None else 0
        self.calls.append((first, end))
        return result


def _run_photos(tracked: Tracked, job: dict[str, Any], op: Op) -> list[dict[str, Any]]:
    """Warm up once per pass (first photo), then time `reps` renders of every photo."""
    out_dir = Path(job["out_dir"]) if job.get("out_dir") else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    photos = [Path(raw) for raw in job["photos"]]
    for _ in range(job["warmup"]):
        try:
            tracked(photos[0], op)
        except ImgpipeUnavailableError:
            raise
        except Exception:
            break  # the photo's own row reports the error
    rows = []
    for photo in photos:
        row: dict[str, Any] = {"photo": photo.name, "error": None}
        first_call = len(tracked.calls)
        try:
            outputs: list[bytes] = []
            times = []
            for _ in range(job["reps"]):
                outputs, elapsed = tracked(photo, op)
                times.append(elapsed)
            row.update(
                times_ms=[round(t, 3) for t in times],
                median_ms=round(statistics.median(times), 3),
                bytes=[len(o) for o in outputs],
                outputs=_save(out_dir, photo, op, outputs),
                calls=tracked.calls[first_call:],
            )
        except ImgpipeUnavailableError:
            raise
        except Exception as error:
            row["error"] = f"{type(error).__name__}: {error}"
            traceback.print_exc()
        rows.append(row)
        status = row["error"] or f"{row['median_ms']:.0f} ms, {sum(row['bytes'])} B"
        print(f"    {job['tool']:8} {op.name:9} {photo.name:45} {status}", flush=True)
    return rows


def run_in_process(job: dict[str, Any], op: Op) -> dict[str, Any]:
    tracked = Tracked(in_process_adapter(job["tool"]))
    baseline = _vm_kb("VmRSS")
    rows = _run_photos(tracked, job, op)
    for row in rows:
        row.pop("calls", None)
    return {
        "photos": rows,
        "baseline_rss_kb": baseline,
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "rss_source": "worker getrusage(RUSAGE_SELF).ru_maxrss",
    }


def run_thumbor(job: dict[str, Any], op: Op) -> dict[str, Any]:
    settings = job["thumbor"]
    with serve(Path(settings["python"]), Path(settings["config"]), Path(settings["log"])) as server:
        baseline = server.vm_kb("VmRSS")
        client = ThumborClient(server.port)
        tracked = Tracked(client.adapter(), client.requested)
        rows = _run_photos(tracked, job, op)
        client.close()
        time.sleep(0.3)  # let tornado write the last access-log line
        peak = server.vm_kb("VmHWM")
        log = server.access_log()
    _attach_server_times(rows, client.requested, log)
    return {
        "photos": rows,
        "baseline_rss_kb": baseline,
        "peak_rss_kb": peak,
        "rss_source": "thumbor server /proc/<pid>/status VmHWM",
    }


def _attach_server_times(
    rows: list[dict[str, Any]], requested: list[str], log: list[tuple[int, str, float]]
) -> None:
    """thumbor's own time per timed call (sum over its requests), from tornado's access log."""
    matched = [path for _, path, _ in log] == requested
    if not matched:
        print(
            "    warning: thumbor's access log does not match the requests; no server-side times", flush=True
        )
    for row in rows:
        calls = row.pop("calls", None)
        if not matched or not calls:
            continue
        server_ms = [sum(log[i][2] for i in range(first, end)) for first, end in calls]
        row["server_ms"] = [round(ms, 3) for ms in server_ms]
        row["server_median_ms"] = round(statistics.median(server_ms), 3)


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    job = json.loads(Path(argv[0]).read_text())
    op = Op.from_json(job["op"])
    started = time.time()
    try:
        result = run_thumbor(job, op) if job["tool"] == "thumbor" else run_in_process(job, op)
    except ImgpipeUnavailableError as error:
        print(f"    {error}", file=sys.stderr, flush=True)
        Path(argv[1]).write_text(json.dumps({"unavailable": str(error)}))
        return EXIT_UNAVAILABLE
    result["wall_s"] = round(time.time() - started, 2)
    Path(argv[1]).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
