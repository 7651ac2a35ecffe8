"""Matched-quality comparison with thumbor: the issue's targets hold only at bytes ≤ thumbor's and
SSIM ≥ thumbor's − 0.002, so for each op find the lowest imgpipe `q` whose mean SSIM meets the SSIM
condition on the same photos, then time imgpipe there and compare time and bytes with thumbor's run.

Reads thumbor's per-photo times, bytes and SSIM from `results/latest.json` (written by run.py), renders
imgpipe in-process exactly as the harness's imgpipe adapter does, and writes `results/matched.md` and
`results/matched.json`. Run after `run.py`; `make bench` does both.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.quality import Reference, score

from imgpipe.core import render, render_many

RESULTS = Path(__file__).resolve().parent / "results"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "photos"
SSIM_TOLERANCE = 0.002
REPS = 3
Q_RANGE = (30, 100)


def _thumbor(latest: dict[str, Any], op: str) -> dict[str, dict[str, Any]]:
    rows = {}
    for row in latest["runs"]["thumbor"][op]["photos"]:
        if row.get("error"):
            continue
        rows[row["photo"]] = row
    return rows


def _thumbor_ssim(latest: dict[str, Any], photo: str, op: str, rendition: str) -> float | None:
    entry = latest["scores"].get(photo, {}).get("scores", {}).get(f"thumbor/{op}/{rendition}", {})
    value = entry.get("ssim")
    return float(value) if value is not None else None


def _queries(latest: dict[str, Any], op: str, q: int) -> list[tuple[str, str, str]]:
    spec = latest["settings"]["ops"][op]
    return [(r["name"], f"{r['query']}&q={q}", r["fit"]) for r in spec["renditions"]]


def _render(data: bytes, queries: list[tuple[str, str, str]]) -> list[bytes]:
    if len(queries) == 1:
        return [render(data, queries[0][1]).data]
    return [r.data for r in render_many(data, [query for _, query, _ in queries])]


def _mean_ssims(
    latest: dict[str, Any], op: str, q: int, photos: list[str], refs: dict[str, Reference]
) -> tuple[dict[str, float], dict[str, int]]:
    totals: dict[str, list[float]] = {}
    sizes: dict[str, int] = {}
    for photo in photos:
        queries = _queries(latest, op, q)
        outputs = _render((CORPUS / photo).read_bytes(), queries)
        for (name, _, fit), out in zip(queries, outputs, strict=True):
            totals.setdefault(name, []).append(score(refs[photo], out, fit).ssim)
            sizes[name] = sizes.get(name, 0) + len(out)
    return {name: statistics.fmean(values) for name, values in totals.items()}, sizes


def match(latest: dict[str, Any], op: str, refs: dict[str, Reference]) -> dict[str, Any]:
    peer = _thumbor(latest, op)
    photos = sorted(peer)
    renditions = [name for name, _, _ in _queries(latest, op, 80)]
    floor = {
        name: statistics.fmean(s for p in photos if (s := _thumbor_ssim(latest, p, op, name)) is not None)
        - SSIM_TOLERANCE
        for name in renditions
    }
    low, high = Q_RANGE
    found: tuple[int, dict[str, float], dict[str, int]] | None = None
    while low <= high:  # SSIM rises with q: bisect for the lowest q meeting every rendition's floor
        q = (low + high) // 2
        ssims, sizes = _mean_ssims(latest, op, q, photos, refs)
        if all(ssims[name] >= floor[name] for name in renditions):
            found, high = (q, ssims, sizes), q - 1
        else:
            low = q + 1
    if found is None:
        return {"op": op, "matched": False, "floor": floor}
    q, ssims, sizes = found
    per_photo_ms = []
    for photo in photos:
        data, queries = (CORPUS / photo).read_bytes(), _queries(latest, op, q)
        _render(data, queries)  # warm-up
        times = []
        for _ in range(REPS):
            started = time.perf_counter()
            _render(data, queries)
            times.append((time.perf_counter() - started) * 1000)
        per_photo_ms.append(statistics.median(times))
    thumbor_ms = statistics.median(peer[p]["median_ms"] for p in photos)
    imgpipe_ms = statistics.median(per_photo_ms)
    thumbor_bytes = {name: sum(peer[p]["bytes"][i] for p in photos) for i, name in enumerate(renditions)}
    return {
        "op": op,
        "matched": True,
        "q": q,
        "photos": len(photos),
        "imgpipe_ms": round(imgpipe_ms, 1),
        "thumbor_ms": round(thumbor_ms, 1),
        "ms_ratio": round(imgpipe_ms / thumbor_ms, 3),
        "renditions": {
            name: {
                "ssim": round(ssims[name], 4),
                "thumbor_ssim": round(floor[name] + SSIM_TOLERANCE, 4),
                "bytes_ratio": round(sizes[name] / thumbor_bytes[name], 3),
            }
            for name in renditions
        },
    }


def main() -> int:
    latest = json.loads((RESULTS / "latest.json").read_text())
    targets = {name: spec["target_ratio"] for name, spec in latest["settings"]["ops"].items()}
    photos = sorted({row["photo"] for op in targets for row in latest["runs"]["thumbor"][op]["photos"]})
    print(f"loading {len(photos)} full-decode references", flush=True)
    refs = {photo: Reference.load(CORPUS / photo) for photo in photos}
    results = []
    for op in targets:
        print(f"matching {op}", flush=True)
        results.append(match(latest, op, refs))
    lines = [
        "# imgpipe vs thumbor at matched quality",
        "",
        f"From `latest.json` of {latest['date']} (thumbor's times, bytes and SSIM); imgpipe rendered "
        f"in-process at the lowest `q` whose mean luma SSIM ≥ thumbor's − {SSIM_TOLERANCE} for every "
        f"rendition (bisection over q {Q_RANGE[0]}–{Q_RANGE[1]}), timed as median of {REPS} reps after a "
        "warm-up per photo, median over photos. The target holds where time ≤ the ratio and bytes ≤ 1×.",
        "",
        "| op | q | imgpipe ms | thumbor ms | time × thumbor | target | bytes × thumbor "
        "| SSIM imgpipe / thumbor | result |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |",
    ]
    for result in results:
        op = result["op"]
        if not result["matched"]:
            lines.append(f"| {op} | — | | | | ≤ {targets[op]}× | | no q reaches thumbor's SSIM | **miss** |")
            continue
        bytes_text = ", ".join(f"{v['bytes_ratio']:.2f}×" for v in result["renditions"].values())
        ssim_text = ", ".join(
            f"{v['ssim']:.4f} / {v['thumbor_ssim']:.4f}" for v in result["renditions"].values()
        )
        passed = result["ms_ratio"] <= targets[op] and all(
            v["bytes_ratio"] <= 1.0 for v in result["renditions"].values()
        )
        result["passed"] = passed
        lines.append(
            f"| {op} | {result['q']} | {result['imgpipe_ms']:.0f} | {result['thumbor_ms']:.0f} "
            f"| {result['ms_ratio']:.2f}× | ≤ {targets[op]}× | {bytes_text} | {ssim_text} "
            f"| {'pass' if passed else '**miss**'} |"
        )
    (RESULTS / "matched.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "matched.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
