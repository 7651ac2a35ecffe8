#!/usr/bin/env python3
"""Animation figures (issue 13, point 2): time and peak RSS of an animated GIF's eager renditions, before and
after, and what ingest does with the Lambda deadline. See bench/README.md, section "Animation".

    .venv/bin/python bench/animation.py                  # the three GIFs after; the issue's GIF before too
    .venv/bin/python bench/animation.py --no-before      # after only (about a minute)
    .venv/bin/python bench/animation.py --before REV     # "before" = the engine and ingest at REV

The GIFs are generated here, deterministically (nothing is read from the corpus):

- `issue`: 300 frames of 707 x 707 (150 MP, exactly the default frames x pixels budget), flat colours with
  a moving bar and ball (Pillow writes the frames as deltas: about 0.5 MB), like the issue's 346 KB GIF.
- `photo`: 100 frames of 707 x 707 panning over a photo-like picture (50 MP, ~21 MB).
- `noise`: 40 frames of 707 x 707 random pixels (20 MP, ~25 MB): the most there is to encode per pixel.

(a) Each (code, GIF) runs in a fresh worker process (`--worker eager`): what ingest does with the bytes
(`ingest.service.IngestService._render` after `inspect`, its puts going to a store that keeps only sizes,
as bench/ingest.py does): `inspect`, then one `render_many` of every eager rendition (each default preset
in GIF and WebP: 10 animated renditions). Wall and CPU seconds (`time.process_time`, all threads; the
machine is shared, so CPU time is the steadier figure) and the child's peak RSS (`ru_maxrss`, `wait4`).
"Before" is the same worker on the code of `--before` (default: the commit before issue 13's animation
work), unpacked with `git archive` into bench/results/tmp/animation/ and put first on `sys.path`.

(b) The deadline (`--worker deadline`, after only): `IngestService.handle` with the in-memory fakes of
tests/fakes on the `issue` GIF with the interactive lane's 60 s, and on the `photo` GIF with 15 s left
(a late image in a bulk-lane batch): outcome, record, whether the renditions kept their frames, and the
time taken against the time given.

(c) The cost model: the after runs are fitted to CPU s = renditions x (a x megapixels decoded + b x source
megabytes), the form ingest uses to decide before rendering whether the animated set fits in the time
left (`ingest.service.ANIMATION_SECONDS_PER_MEGAPIXEL` / `_PER_MEGABYTE`); the report checks that ingest's
constants estimate at least the measured CPU time of every GIF.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import sys
import time
import types
from pathlib import Path
from typing import Any

from harness.process import run_measured
from harness.revision import unpack

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
TMP = RESULTS / "tmp" / "animation"
BEFORE_REV = "0ca276a"  # the last commit before issue 13's animation work
SIDE = 707
CASES: dict[str, int] = {"issue": 300, "photo": 100, "noise": 40}  # frames of SIDE x SIDE


# The GIFs


def make_gif(case: str) -> bytes:
    import numpy as np  # noqa: PLC0415
    from PIL import Image, ImageDraw  # noqa: PLC0415

    frames: list[Image.Image] = []
    count = CASES[case]
    if case == "issue":
        palette = [value for c in range(256) for value in (c, (c * 3) % 256, 255 - c)]
        for index in range(count):
            frame = Image.new("P", (SIDE, SIDE), 0)
            frame.putpalette(palette)
            draw = ImageDraw.Draw(frame)
            x = (index * 7) % SIDE
            draw.rectangle((x, 100, x + 60, 160), fill=200)
            y = (index * 5) % SIDE
            draw.ellipse((SIDE // 2 - 40, y, SIDE // 2 + 40, y + 80), fill=90)
            frames.append(frame)
    elif case == "photo":
        sys.path[:0] = [str(REPO)]
        from tests.builders import photo_like  # noqa: PLC0415

        base = photo_like(SIDE + 4 * count, SIDE, seed=3)
        for index in range(count):
            crop = base.crop((index * 4, 0, index * 4 + SIDE, SIDE))
            frames.append(crop.quantize(256, method=Image.Quantize.FASTOCTREE))
    else:
        rng = np.random.default_rng(13)
        for _ in range(count):
            pixels = rng.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)
            frames.append(Image.fromarray(pixels).quantize(256, method=Image.Quantize.FASTOCTREE))
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=40, loop=0)
    return out.getvalue()


# Workers (fresh processes)


def _vm_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _use_code(root: str) -> None:
    """Import imgpipe, ingest and infra from `root` (this checkout, or an unpacked older commit)."""
    sys.path[:] = [f"{root}/functions", root] + [p for p in sys.path if Path(p or ".").resolve() != BENCH]
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")


class _SizesStore:
    """The transformed bucket as `IngestService._render` uses it (`put`), keeping only the sizes."""

    def __init__(self) -> None:
        self.puts: list[tuple[str, int]] = []

    def put(self, key: str, data: bytes, **kwargs: Any) -> None:
        self.puts.append((key, len(data)))


def eager_worker(job: dict[str, Any]) -> dict[str, Any]:
    _use_code(job["root"])
    import ingest.handler  # noqa: F401, PLC0415 - the function's imports, for a like-for-like RSS baseline
    from imgpipe.core import DEFAULT_LIMITS, inspect  # noqa: PLC0415
    from ingest.service import IngestConfig, IngestService  # noqa: PLC0415

    data = Path(job["gif"]).read_bytes()
    baseline_kb = _vm_kb("VmRSS")
    store = _SizesStore()
    service = IngestService(
        originals=None,  # type: ignore[arg-type]
        renditions=store,  # type: ignore[arg-type]
        repository=None,  # type: ignore[arg-type]
        publisher=None,  # type: ignore[arg-type]
        config=IngestConfig(),
    )
    record = types.SimpleNamespace(
        source_key="uploads/bench/anim.gif", mezzanine_key=None, animation_fallback=None
    )
    wall0, cpu0 = time.perf_counter(), time.process_time()
    info = inspect(data, limits=DEFAULT_LIMITS, declared_type="image/gif")
    wall1 = time.perf_counter()
    written, out_bytes, _ = service._render(record, data, info)  # type: ignore[arg-type]
    wall2, cpu2 = time.perf_counter(), time.process_time()
    return {
        "frames": info.frames,
        "size": [info.width, info.height],
        "bytes_in": len(data),
        "renditions": len(written),
        "formats": sorted({rendition.format for rendition in written}),
        "bytes_out": out_bytes,
        "inspect_s": round(wall1 - wall0, 2),
        "render_s": round(wall2 - wall1, 2),
        "wall_s": round(wall2 - wall0, 2),
        "cpu_s": round(cpu2 - cpu0, 2),
        "baseline_rss_kb": baseline_kb,
        "vm_hwm_kb": _vm_kb("VmHWM"),
    }


def deadline_worker(job: dict[str, Any]) -> dict[str, Any]:
    _use_code(job["root"])
    from PIL import Image  # noqa: PLC0415

    from imgpipe.notifications import S3Notification  # noqa: PLC0415
    from ingest.service import IngestConfig, IngestService  # noqa: PLC0415
    from tests.events import s3_body, s3_record  # noqa: PLC0415
    from tests.fakes import (  # noqa: PLC0415
        FakeEventPublisher,
        FakeMetadataRepository,
        FakeObjectStore,
    )

    data = Path(job["gif"]).read_bytes()
    originals, renditions = FakeObjectStore("originals"), FakeObjectStore("transformed")
    repository = FakeMetadataRepository()
    service = IngestService(
        originals=originals,
        renditions=renditions,
        repository=repository,
        publisher=FakeEventPublisher(),
        config=IngestConfig(),
    )
    key = f"uploads/bench/{job['case']}.gif"
    originals.add(key, data, content_type="image/gif")
    event = S3Notification.model_validate_json(
        s3_body(s3_record(key, size=len(data), etag=originals.objects[key].etag))
    ).records[0]
    started = time.monotonic()
    outcome = service.handle(event, deadline=started + job["seconds"])
    elapsed = time.monotonic() - started
    image = repository.images[outcome.image_id or ""]
    frames = sorted(
        {
            getattr(Image.open(io.BytesIO(renditions.objects[r.key].data)), "n_frames", 1)
            for r in image.renditions
        }
    )
    return {
        "case": job["case"],
        "seconds_given": job["seconds"],
        "elapsed_s": round(elapsed, 2),
        "action": outcome.action,
        "status": image.status,
        "renditions": len(image.renditions),
        "rendition_frames": frames,
        "animation_fallback": image.animation_fallback,
        "vm_hwm_kb": _vm_kb("VmHWM"),
    }


# The parent


def run_worker(kind: str, job: dict[str, Any], tag: str) -> dict[str, Any]:
    job_path, result_path = TMP / f"{tag}.json", TMP / f"{tag}.result.json"
    job_path.write_text(json.dumps(job))
    result_path.unlink(missing_ok=True)
    argv = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, str(job_path), str(result_path)]
    returncode, maxrss_kb = run_measured(argv, cwd=REPO)
    if returncode != 0 or not result_path.is_file():
        return {"error": f"worker exited with {returncode}", "child_maxrss_kb": maxrss_kb}
    result: dict[str, Any] = json.loads(result_path.read_text())
    result["child_maxrss_kb"] = maxrss_kb
    return result


def fit(rows: list[dict[str, Any]]) -> tuple[float, float]:
    """Least squares (no intercept) of CPU s / rendition = a x megapixels + b x megabytes."""
    xs = [(r["frames"] * r["size"][0] * r["size"][1] / 1e6, r["bytes_in"] / 1e6) for r in rows]
    ys = [r["cpu_s"] / r["renditions"] for r in rows]
    s11 = sum(x[0] * x[0] for x in xs)
    s12 = sum(x[0] * x[1] for x in xs)
    s22 = sum(x[1] * x[1] for x in xs)
    t1 = sum(x[0] * y for x, y in zip(xs, ys, strict=True))
    t2 = sum(x[1] * y for x, y in zip(xs, ys, strict=True))
    det = s11 * s22 - s12 * s12
    return (t1 * s22 - t2 * s12) / det, (s11 * t2 - s12 * t1) / det


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# Animation: the eager renditions of an animated GIF",
        "",
        f"Run of {report['date']} by `bench/animation.py` ({' '.join(report['argv']) or 'no flags'}); "
        f"{m.get('cpu', '?')}, {os.cpu_count()} cores, shared with other work: load average "
        f"{m['loadavg_start'][0]:.2f} at the start, {m['loadavg_end'][0]:.2f} at the end; "
        f"{report['wall_s'] / 60:.1f} min in all. Before = `{report['before_rev']}`, after = this checkout.",
        "",
        "## (a) `inspect` + the 10 animated eager renditions (5 presets x GIF, WebP), fresh process each",
        "",
        "| GIF | code | frames | MP decoded | source | wall s | CPU s | peak RSS | outputs |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in report["eager"]:
        if "error" in row:
            lines.append(f"| {row['case']} | {row['code']} | | | | | | | {row['error']} |")
            continue
        megapixels = row["frames"] * row["size"][0] * row["size"][1] / 1e6
        lines.append(
            f"| {row['case']} | {row['code']} | {row['frames']} x {row['size'][0]}x{row['size'][1]} "
            f"| {megapixels:.0f} | {row['bytes_in'] / 1e6:.2f} MB | {row['wall_s']:.1f} | {row['cpu_s']:.1f} "
            f"| {row['child_maxrss_kb'] / 1024:.0f} MB "
            f"| {row['renditions']}, {row['bytes_out'] / 1e6:.1f} MB |"
        )
    a, b = report["fit"]["a"], report["fit"]["b"]
    pair = {row["code"]: row for row in report["eager"] if row["case"] == "issue" and "error" not in row}
    if {"before", "after"} <= pair.keys():
        before, after = pair["before"], pair["after"]
        lines += [
            "",
            f"The issue's GIF, before → after: **{before['cpu_s']:.1f} → {after['cpu_s']:.1f} s of CPU** "
            f"({before['cpu_s'] / after['cpu_s']:.1f}x less), "
            f"{before['wall_s']:.1f} → {after['wall_s']:.1f} s wall on this loaded machine, "
            f"peak RSS {before['child_maxrss_kb'] / 1024:.0f} → "
            f"{after['child_maxrss_kb'] / 1024:.0f} MB (the frames held at once stay within one animation "
            "budget, as before). Same 10 outputs; the bytes differ only by the GIF palette.",
        ]
    lines += [
        "",
        "Peak RSS includes the interpreter and the function's imports "
        f"(~{report['eager'][-1].get('baseline_rss_kb', 0) / 1024:.0f} MB). Wall time moves with the "
        "machine's load; CPU time is what one Lambda vCPU would spend.",
        "",
        "## (b) ingest with the deadline (`IngestService.handle`, in-memory fakes)",
        "",
        "| GIF | time given | took | status | renditions | frames per rendition | `animation_fallback` |",
        "| --- | ---: | ---: | --- | ---: | --- | --- |",
    ]
    for row in report["deadline"]:
        if "error" in row:
            lines.append(f"| {row.get('case', '?')} | | | {row['error']} | | | |")
            continue
        lines.append(
            f"| {row['case']} | {row['seconds_given']} s | {row['elapsed_s']:.1f} s | {row['status']} "
            f"| {row['renditions']} | {', '.join(map(str, row['rendition_frames']))} "
            f"| {row['animation_fallback'] or '—'} |"
        )
    lines += [
        "",
        "## (c) cost model",
        "",
        f"Fitted on the after runs: CPU s per animated rendition = {a:.4f} x MP decoded + {b:.4f} x "
        "source MB. "
        f"ingest.service uses {report['fit']['service_a']} and {report['fit']['service_b']} "
        "(the fit x 1.25 for Lambda's arm64 core, rounded up); estimate / measured CPU per GIF: "
        + ", ".join(f"{case} {ratio:.2f}" for case, ratio in report["fit"]["estimate_over_measured"].items())
        + ".",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--worker"]:
        kind, job_path, result_path = argv[1:4]
        job = json.loads(Path(job_path).read_text())
        result = eager_worker(job) if kind == "eager" else deadline_worker(job)
        Path(result_path).write_text(json.dumps(result, indent=1))
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--before", default=BEFORE_REV, help=f"the commit measured as before ({BEFORE_REV})")
    parser.add_argument("--no-before", action="store_true", help="measure this checkout only")
    parser.add_argument("--out", default=str(RESULTS / "animation"), help="results path without extension")
    parser.add_argument("--report", action="store_true", help="rewrite the .md from the last run's .json")
    args = parser.parse_args(argv)
    if args.report:
        out = Path(args.out)
        out.with_suffix(".md").write_text(markdown(json.loads(out.with_suffix(".json").read_text())))
        return 0
    sys.path[:0] = [str(BENCH)]
    from run import machine_facts  # noqa: PLC0415 - bench/run.py's helper

    started = time.monotonic()
    TMP.mkdir(parents=True, exist_ok=True)
    facts = machine_facts()
    gifs: dict[str, Path] = {}
    for case, count in CASES.items():
        path = TMP / f"{case}.gif"
        path.write_bytes(make_gif(case))
        gifs[case] = path
        print(f"{case}: {count} frames of {SIDE}x{SIDE}, {path.stat().st_size / 1e6:.2f} MB", flush=True)
    report: dict[str, Any] = {
        "schema": 1,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "argv": argv,
        "machine": facts,
        "before_rev": None if args.no_before else args.before,
        "eager": [],
        "deadline": [],
    }
    runs = [("after", str(REPO), case) for case in CASES]
    if not args.no_before:
        runs.insert(0, ("before", str(unpack(args.before, TMP)), "issue"))
    for code, root, case in runs:
        result = run_worker("eager", {"root": root, "gif": str(gifs[case])}, f"eager-{code}-{case}")
        result.update(case=case, code=code)
        report["eager"].append(result)
        status = result.get("error") or (
            f"{result['wall_s']:.1f} s wall, {result['cpu_s']:.1f} s CPU, "
            f"{result['child_maxrss_kb'] / 1024:.0f} MB"
        )
        print(f"  eager {code:6} {case:6} {status}", flush=True)
    for case, seconds in (("issue", 60), ("photo", 15)):
        job = {"root": str(REPO), "gif": str(gifs[case]), "case": case, "seconds": seconds}
        result = run_worker("deadline", job, f"deadline-{case}")
        report["deadline"].append(result)
        print(f"  deadline {case} {seconds} s: {result.get('error') or result}", flush=True)

    sys.path[:0] = [str(REPO / "functions"), str(REPO)]
    from ingest.service import (  # noqa: PLC0415
        ANIMATION_SECONDS_PER_MEGABYTE,
        ANIMATION_SECONDS_PER_MEGAPIXEL,
    )

    after = [row for row in report["eager"] if row["code"] == "after" and "error" not in row]
    a, b = fit(after)
    report["fit"] = {
        "a": round(a, 5),
        "b": round(b, 5),
        "service_a": ANIMATION_SECONDS_PER_MEGAPIXEL,
        "service_b": ANIMATION_SECONDS_PER_MEGABYTE,
        "estimate_over_measured": {
            row["case"]: round(
                row["renditions"]
                * (
                    ANIMATION_SECONDS_PER_MEGAPIXEL * row["frames"] * row["size"][0] * row["size"][1] / 1e6
                    + ANIMATION_SECONDS_PER_MEGABYTE * row["bytes_in"] / 1e6
                )
                / row["cpu_s"],
                2,
            )
            for row in after
        },
    }
    facts["loadavg_end"] = list(os.getloadavg())
    report["wall_s"] = round(time.monotonic() - started, 1)
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    text = markdown(report)
    out.with_suffix(".md").write_text(text)
    print()
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
