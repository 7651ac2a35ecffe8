"""Aggregate raw runs into per-op tables and target verdicts; render them as markdown."""

from __future__ import annotations

import statistics
from typing import Any

from harness.ops import Op

SSIM_TOLERANCE = 0.002
RSS_TARGET_MB = 250.0
TOOL_LABELS = {
    "imgpipe": "imgpipe",
    "pillow": "naive Pillow",
    "vips": "libvips (pyvips)",
    "thumbor": "thumbor (HTTP)",
}


def mb(kb: float | None) -> float | None:
    return None if kb is None else kb * 1024 / 1e6


def _failures(run: dict[str, Any] | None, scores: dict[str, Any], tool: str, op: Op) -> dict[str, str]:
    """Photos a tool failed for this op: an error while rendering, or an output that could not be scored
    (wrong geometry, such as a sideways image). One bad rendition fails the photo's whole op."""
    failed = {}
    for row in (run or {}).get("photos", []):
        if row.get("error"):
            failed[row["photo"]] = row["error"]
            continue
        photo_scores = scores.get(row["photo"], {}).get("scores", {})
        for r in op.renditions:
            error = photo_scores.get(f"{tool}/{op.name}/{r.name}", {}).get("error")
            if error:
                failed[row["photo"]] = f"{r.name}: {error}"
                break
    return failed


def _ok_rows(
    run: dict[str, Any] | None, scores: dict[str, Any], tool: str, op: Op
) -> dict[str, dict[str, Any]]:
    if not run or "photos" not in run:
        return {}
    failed = _failures(run, scores, tool, op)
    return {row["photo"]: row for row in run["photos"] if row["photo"] not in failed}


def _ssims(
    scores: dict[str, Any], tool: str, op: Op, photos: list[str], *, rendition: str | None, key: str
) -> list[float]:
    values = []
    for photo in photos:
        for r in op.renditions:
            if rendition is not None and r.name != rendition:
                continue
            entry = scores.get(photo, {}).get("scores", {}).get(f"{tool}/{op.name}/{r.name}", {})
            if key in entry:
                values.append(entry[key])
    return values


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 5) if values else None


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def aggregate(
    ops: dict[str, Op],
    tools: list[str],
    runs: dict[str, dict[str, Any]],
    scores: dict[str, Any],
    rss_24mp: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    summary: dict[str, Any] = {"ops": {}, "targets": [], "rss_24mp": {}}
    for op in ops.values():
        per_tool: dict[str, Any] = {}
        thumbor_rows = _ok_rows(runs.get("thumbor", {}).get(op.name), scores, "thumbor", op)
        for tool in tools:
            run = runs.get(tool, {}).get(op.name)
            rows = _ok_rows(run, scores, tool, op)
            photos = sorted(rows)
            entry: dict[str, Any] = {
                "photos_ok": len(rows),
                "photos_failed": _failures(run, scores, tool, op),
                "pass_error": (run or {}).get("error"),
                "median_ms": _median([rows[p]["median_ms"] for p in photos]),
                "median_bytes": _median([sum(rows[p]["bytes"]) for p in photos]),
                "mean_ssim": _mean(_ssims(scores, tool, op, photos, rendition=None, key="ssim")),
                "mean_ssim_managed": _mean(
                    _ssims(scores, tool, op, photos, rendition=None, key="ssim_managed")
                ),
                "peak_rss_mb": mb((run or {}).get("peak_rss_kb")),
                "baseline_rss_mb": mb((run or {}).get("baseline_rss_kb")),
            }
            if tool == "thumbor":
                entry["server_median_ms"] = _median(
                    [rows[p]["server_median_ms"] for p in photos if "server_median_ms" in rows[p]]
                )
            entry["renditions"] = {
                r.name: {
                    "median_bytes": _median([rows[p]["bytes"][i] for p in photos]),
                    "mean_ssim": _mean(_ssims(scores, tool, op, photos, rendition=r.name, key="ssim")),
                    "mean_ssim_managed": _mean(
                        _ssims(scores, tool, op, photos, rendition=r.name, key="ssim_managed")
                    ),
                }
                for i, r in enumerate(op.renditions)
            }
            if thumbor_rows and tool != "thumbor":
                entry["vs_thumbor"] = _versus(op, tool, rows, thumbor_rows, scores)
            per_tool[tool] = entry
        summary["ops"][op.name] = per_tool
        if "imgpipe" in per_tool and "vs_thumbor" in per_tool["imgpipe"]:
            summary["targets"].extend(_targets(op, per_tool["imgpipe"]["vs_thumbor"]))
    for tool, by_op in rss_24mp.items():
        summary["rss_24mp"][tool] = {name: mb(r.get("peak_rss_kb")) for name, r in by_op.items()}
    imgpipe_rss = [v for v in summary["rss_24mp"].get("imgpipe", {}).values() if v is not None]
    if imgpipe_rss:
        peak = max(imgpipe_rss)
        summary["targets"].append(
            {
                "target": "peak RSS, 24 MP JPEG (imgpipe, every op, fresh process)",
                "value": f"{peak:.0f} MB",
                "limit": f"≤ {RSS_TARGET_MB:.0f} MB",
                "passed": peak <= RSS_TARGET_MB,
                "miss": None
                if peak <= RSS_TARGET_MB
                else f"{peak - RSS_TARGET_MB:.0f} MB over ({peak / RSS_TARGET_MB:.2f}×)",
            }
        )
    return summary


def _versus(
    op: Op, tool: str, rows: dict[str, Any], peer: dict[str, Any], scores: dict[str, Any]
) -> dict[str, Any]:
    """Ratios against thumbor over the photos both rendered."""
    common = sorted(set(rows) & set(peer))
    if not common:
        return {}
    result: dict[str, Any] = {
        "photos": len(common),
        "ms_ratio": _ratio(
            _median([rows[p]["median_ms"] for p in common]), _median([peer[p]["median_ms"] for p in common])
        ),
        "renditions": {},
    }
    for i, r in enumerate(op.renditions):
        mine = sum(rows[p]["bytes"][i] for p in common)
        theirs = sum(peer[p]["bytes"][i] for p in common)
        per_photo = [rows[p]["bytes"][i] / peer[p]["bytes"][i] for p in common]
        result["renditions"][r.name] = {
            "bytes": mine,
            "thumbor_bytes": theirs,
            "bytes_ratio": round(mine / theirs, 4),
            "worst_photo_ratio": round(max(per_photo), 4),
            "median_photo_ratio": round(statistics.median(per_photo), 4),
            "ssim": _mean(_ssims(scores, tool, op, common, rendition=r.name, key="ssim")),
            "thumbor_ssim": _mean(_ssims(scores, "thumbor", op, common, rendition=r.name, key="ssim")),
            "ssim_managed": _mean(_ssims(scores, tool, op, common, rendition=r.name, key="ssim_managed")),
            "thumbor_ssim_managed": _mean(
                _ssims(scores, "thumbor", op, common, rendition=r.name, key="ssim_managed")
            ),
        }
    return result


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def _targets(op: Op, versus: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets are times: imgpipe ≤ r × thumbor's time, where bytes ≤ thumbor's and
    SSIM ≥ thumbor's − 0.002 (the conditions that make the times comparable)."""
    out = []
    ms_ratio = versus.get("ms_ratio")
    for name, v in versus.get("renditions", {}).items():
        label = op.title if len(op.renditions) == 1 else f"{op.title}: {name}"
        time_ok = ms_ratio is not None and ms_ratio <= op.target_ratio
        bytes_ok = v["bytes_ratio"] <= 1.0
        ssim_ok = (
            v["ssim"] is not None
            and v["thumbor_ssim"] is not None
            and v["ssim"] >= v["thumbor_ssim"] - SSIM_TOLERANCE
        )
        managed_ok = (
            v["ssim_managed"] is not None
            and v["thumbor_ssim_managed"] is not None
            and v["ssim_managed"] >= v["thumbor_ssim_managed"] - SSIM_TOLERANCE
        )
        misses = []
        if not time_ok and ms_ratio is not None:
            misses.append(f"time {ms_ratio:.2f}× thumbor, target ≤ {op.target_ratio}×")
        if not bytes_ok:
            misses.append(f"bytes {v['bytes_ratio']:.3f}× thumbor (condition: ≤ 1×)")
        if not ssim_ok and v["ssim"] is not None and v["thumbor_ssim"] is not None:
            short = v["thumbor_ssim"] - SSIM_TOLERANCE - v["ssim"]
            misses.append(
                f"SSIM {v['ssim']:.4f} < thumbor {v['thumbor_ssim']:.4f} − {SSIM_TOLERANCE}"
                f" (short by {short:.4f})"
            )
        out.append(
            {
                "target": label,
                "op": op.name,
                "rendition": name,
                "value": f"{ms_ratio:.2f}× time, {v['bytes_ratio']:.2f}× bytes" if ms_ratio else "—",
                "limit": f"time ≤ {op.target_ratio}× thumbor, bytes ≤ 1×",
                "ssim": v["ssim"],
                "thumbor_ssim": v["thumbor_ssim"],
                "ssim_managed": v["ssim_managed"],
                "thumbor_ssim_managed": v["thumbor_ssim_managed"],
                "passed": time_ok and bytes_ok and ssim_ok,
                "passed_colour_managed": time_ok and bytes_ok and managed_ok,
                "miss": "; ".join(misses) or None,
            }
        )
    return out


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "—" if value is None else f"{value:{spec}}{suffix}"


def markdown(ops: dict[str, Op], tools: list[str], summary: dict[str, Any], meta: dict[str, Any]) -> str:
    lines = [
        "# imgpipe benchmark",
        "",
        f"{meta['date']} · {meta['cpu']} · {meta['cores']} cores · {meta['photos']} photos · "
        f"{meta['reps']} timed reps after {meta['warmup']} warm-up · wall time {meta['wall']}",
        "",
        f"Versions: {meta['versions_line']}",
        "",
        *[f"> **Warning:** {warning}\n" for warning in meta.get("warnings", [])],
        "Median ms: median over photos of each photo's median of the timed reps (in-process tools: bytes in "
        "memory → encoded bytes; thumbor: HTTP round trip on loopback, its server-side time in the note). "
        "Bytes: median over photos. SSIM: luma SSIM against a full-decode LANCZOS reference, mean over "
        "photos; "
        "the colour-managed column converts non-sRGB sources and outputs to sRGB first. "
        "Peak RSS: the whole pass over every photo in a fresh process (thumbor: the server's VmHWM).",
        "",
    ]
    for op in ops.values():
        per_tool = summary["ops"].get(op.name, {})
        queries = ", ".join(f"`{r.query}`" for r in op.renditions)
        lines += [f"## {op.title}", "", queries if len(op.renditions) == 1 else f"Renditions: {queries}", ""]
        lines += [
            "| tool | median ms | ms × thumbor | median bytes | bytes × thumbor | mean SSIM "
            "| SSIM (colour-managed) "
            "| peak RSS MB | failed |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for tool in tools:
            e = per_tool.get(tool)
            if not e:
                continue
            versus = e.get("vs_thumbor") or {}
            reps = versus.get("renditions", {})
            bytes_ratio = (
                sum(v["bytes"] for v in reps.values()) / sum(v["thumbor_bytes"] for v in reps.values())
                if reps
                else (1.0 if tool == "thumbor" else None)
            )
            ms_ratio = versus.get("ms_ratio", 1.0 if tool == "thumbor" else None)
            lines.append(
                f"| {TOOL_LABELS[tool]} | {_fmt(e['median_ms'], '.0f')} | {_fmt(ms_ratio, '.2f', '×')} "
                f"| {_fmt(e['median_bytes'], ',.0f')} | {_fmt(bytes_ratio, '.2f', '×')} "
                f"| {_fmt(e['mean_ssim'], '.4f')} "
                f"| {_fmt(e['mean_ssim_managed'], '.4f')} | {_fmt(e['peak_rss_mb'], '.0f')} "
                f"| {len(e['photos_failed']) or ''} |"
            )
        th = per_tool.get("thumbor")
        if th and th.get("server_median_ms") is not None and th.get("median_ms") is not None:
            overhead = th["median_ms"] - th["server_median_ms"]
            lines += [
                "",
                f"thumbor's own time (tornado access log): median {th['server_median_ms']:.0f} ms; "
                f"HTTP and client overhead ≈ {overhead:.0f} ms.",
            ]
        if len(op.renditions) > 1:
            lines += [
                "",
                "Per preset: median bytes (mean SSIM).",
                "",
                "| preset | query | " + " | ".join(TOOL_LABELS[t] for t in tools if t in per_tool) + " |",
                "| --- | --- | " + " | ".join("---:" for t in tools if t in per_tool) + " |",
            ]
            for r in op.renditions:
                cells = []
                for tool in tools:
                    if tool not in per_tool:
                        continue
                    rr = per_tool[tool]["renditions"][r.name]
                    cells.append(f"{_fmt(rr['median_bytes'], ',.0f')} ({_fmt(rr['mean_ssim'], '.4f')})")
                lines.append(f"| {r.name} | `{r.query}` | " + " | ".join(cells) + " |")
        for tool, e in per_tool.items():
            if e.get("pass_error"):
                lines += ["", f"**{TOOL_LABELS[tool]}: the pass failed** ({e['pass_error']})."]
        failed = {t: e["photos_failed"] for t, e in per_tool.items() if e["photos_failed"]}
        for tool, reasons in failed.items():
            lines += ["", f"{TOOL_LABELS[tool]} failed (left out of its row and of the ratios):"]
            lines += [f"- {photo}: {reason}" for photo, reason in sorted(reasons.items())]
        lines.append("")
    if summary["rss_24mp"]:
        names = list(ops)
        lines += [
            "## Peak RSS rendering the 24 MP JPEG (6000×4000), fresh process per op",
            "",
            "| tool | " + " | ".join(ops[n].title for n in names) + " |",
            "| --- | " + " | ".join("---:" for _ in names) + " |",
        ]
        for tool in tools:
            row = summary["rss_24mp"].get(tool)
            if row:
                lines.append(
                    f"| {TOOL_LABELS[tool]} | "
                    + " | ".join(_fmt(row.get(n), ".0f", " MB") for n in names)
                    + " |"
                )
        lines.append("")
    if summary["targets"]:
        lines += [
            "## Targets",
            "",
            "Each target is a time ratio that counts only where imgpipe's bytes ≤ thumbor's and its SSIM ≥ "
            f"thumbor's − {SSIM_TOLERANCE} (mean over the same photos); at the default q these conditions "
            "may not hold, so `matched.md` repeats the comparison at the q that meets them.",
            "",
            "| target | imgpipe | limit | SSIM imgpipe / thumbor | result | colour-managed SSIM "
            "| result (managed) |",
            "| --- | ---: | --- | --- | --- | --- | --- |",
        ]
        for t in summary["targets"]:
            ssim = (
                f"{t['ssim']:.4f} / {t['thumbor_ssim']:.4f}"
                if t.get("ssim") is not None and t.get("thumbor_ssim") is not None
                else "—"
            )
            managed = (
                f"{t['ssim_managed']:.4f} / {t['thumbor_ssim_managed']:.4f}"
                if t.get("ssim_managed") is not None and t.get("thumbor_ssim_managed") is not None
                else "—"
            )
            passed_managed = t.get("passed_colour_managed", t["passed"])
            lines.append(
                f"| {t['target']} | {t['value']} | {t['limit']} | {ssim} "
                f"| {'pass' if t['passed'] else '**miss**'} "
                f"| {managed} | {'pass' if passed_managed else '**miss**'} |"
            )
        misses = [t for t in summary["targets"] if t["miss"]]
        if misses:
            lines += ["", "Missed:", ""] + [f"- {t['target']}: {t['miss']}" for t in misses]
        lines.append("")
    return "\n".join(lines)
