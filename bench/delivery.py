#!/usr/bin/env python3
"""Delivery latency: a cache miss rendered from the original vs from the mezzanine, a stored hit, and thumbor.

    .venv/bin/python bench/delivery.py                    # 4 photos spread over the corpus, 3 reps
    .venv/bin/python bench/delivery.py --photos 6 --reps 5
    .venv/bin/python bench/delivery.py --photo craft-beer --no-thumbor

Same photos, same transformations, same run. imgpipe's side is the distribution's request path with the
real code on both ends: the edge's Python twin, the transformed bucket, and on a miss the resize function's
handler (`resize.handler.handler`, Function URL event in, response out) with the S3 adapter, all against
moto's in-memory S3 in this process. So "miss" is a cache miss on a warm function (no Lambda cold start, no
network to S3): the fetch, decode, resize, encode and store work of one request, plus boto3's own cost.
"Hit" is the same request once the rendition is stored (the edge plus one S3 GET, no render). thumbor
renders the same transformation per request over loopback HTTP from the same files (file loader, no result
storage: every request is a render), as in bench/run.py, through bench/harness.

The mezzanine is written exactly as ingest writes it (`imgpipe.core.mezzanine`, 2560 px, q92), before
timing. Results: bench/results/delivery.json (every number) and bench/results/delivery.md (the tables).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(REPO), str(BENCH)]
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # one log line per request would drown the report

from harness.adapters import ThumborClient  # noqa: E402
from harness.ops import rendition_from_query  # noqa: E402
from harness.thumbor_peer import ensure_thumbor, serve, write_config  # noqa: E402
from harness.thumbor_peer import versions as thumbor_versions  # noqa: E402
from PIL import Image  # noqa: E402

from imgpipe.adapters.s3 import S3ObjectStore  # noqa: E402
from imgpipe.core import RenderOptions, inspect, render_many  # noqa: E402
from imgpipe.core.mezzanine import (  # noqa: E402
    MEZZANINE_QUALITY,
    mezzanine_key,
    mezzanine_metadata,
    mezzanine_spec,
    needs_mezzanine,
)
from imgpipe.delivery import at_edge  # noqa: E402
from imgpipe.observability import metrics  # noqa: E402
from infra.constants import (  # noqa: E402
    ENV_ORIGINALS_BUCKET,
    ENV_SIGNING_POLICY,
    ENV_TRANSFORMED_BUCKET,
    MEZZANINE_PREFIX,
)
from resize.handler import ResizeApp  # noqa: E402
from resize.service import IMMUTABLE  # noqa: E402
from resize.settings import ResizeSettings  # noqa: E402
from tests.fakes.delivery import CloudFront  # noqa: E402

CORPUS = Path(os.environ.get("IMGPIPE_CORPUS", REPO.parent / "shared" / "corpus"))
RESULTS = BENCH / "results"
TMP = RESULTS / "tmp"
PEERS = BENCH / ".peers"
# imgpipe query → what thumbor is asked for the same picture (harness.ops translates it).
OPERATIONS = {
    "webp800": "w=800&fm=webp",
    "jpeg400": "w=400&fm=jpeg",
    "thumb-webp": "w=200&h=200&fit=cover&fm=webp",
}
REGION = "us-east-1"
# Where a miss renders from: the mezzanine as ingest writes it, its pixels as progressive JPEG, the original.
PATHS = ("mezzanine", "progressive", "original")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--photos", type=int, default=6, help="N JPEGs spread over the corpus, plus the non-JPEGs (default 6)"
    )
    parser.add_argument("--photo", action="append", default=[], help="a photo by (part of) its name")
    parser.add_argument("--reps", type=int, default=3, help="timed requests per (path, op, photo); default 3")
    parser.add_argument("--no-thumbor", action="store_true", help="leave thumbor out")
    parser.add_argument("--out", default=str(RESULTS / "delivery"), help="results path without extension")
    return parser.parse_args(argv)


def select_photos(args: argparse.Namespace) -> list[Path]:
    """`--photos` camera JPEGs spread over the corpus, and every non-JPEG photo (no DCT scaling there)."""
    everything = sorted(
        p for p in (CORPUS / "photos").iterdir() if p.is_file() and not p.name.startswith(".")
    )
    if args.photo:
        return [p for p in everything if any(part.lower() in p.name.lower() for part in args.photo)]
    jpegs = [p for p in everything if p.suffix.lower() in (".jpg", ".jpeg")]
    step = max(1, len(jpegs) // max(1, args.photos))
    return jpegs[::step][: args.photos] + [p for p in everything if p not in jpegs]


@contextlib.contextmanager
def aws() -> Iterator[Any]:
    from moto import mock_aws  # noqa: PLC0415 - a dev dependency, only needed here

    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": REGION}
    )
    with mock_aws():
        import boto3  # noqa: PLC0415

        yield boto3.session.Session(region_name=REGION)


class Stack:
    """Buckets, the resize function and the distribution's request path, on moto."""

    def __init__(self, session: Any) -> None:

        self.s3 = session.client("s3")
        for bucket in ("bench-originals", "bench-transformed"):
            self.s3.create_bucket(Bucket=bucket)
        # Signing is off on both sides: its cost (one HMAC) is not what this measures.
        environment = {
            ENV_ORIGINALS_BUCKET: "bench-originals",
            ENV_TRANSFORMED_BUCKET: "bench-transformed",
            ENV_SIGNING_POLICY: "off",
        }
        settings = ResizeSettings.from_env(environment)
        self.app = ResizeApp.from_settings(settings, session)
        self.renditions = S3ObjectStore(self.s3, "bench-transformed")
        self.cloudfront = CloudFront(
            renditions=self.renditions, origin=self.invoke, policy="off", now=time.time()
        )
        self._mezzanines: dict[str, tuple[bytes, str, dict[str, str]]] = {}
        self._progressive: dict[str, tuple[bytes, str, dict[str, str]]] = {}

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        response = self.app.handle(event, None)
        metrics.clear_metrics()  # the handler's decorator flushes them in Lambda; here they would pile up
        return response

    def put_original(self, key: str, data: bytes) -> None:
        self.s3.put_object(Bucket="bench-originals", Key=key, Body=data, ContentType="image/jpeg")

    def put_mezzanine(self, key: str, data: bytes) -> dict[str, Any]:

        info = inspect(data)
        if not needs_mezzanine(info):
            return {"kept": False, "source": [info.width, info.height]}
        spec = mezzanine_spec(info)
        # As ingest renders it: an intermediate, so a JPEG mezzanine is baseline.
        (mezzanine,) = render_many(data, [spec], options=RenderOptions(intermediates=frozenset({spec})))
        metadata = mezzanine_metadata((mezzanine.width, mezzanine.height), (info.width, info.height))
        self._mezzanines[key] = (mezzanine.data, mezzanine.media_type, metadata)
        if mezzanine.format == "jpeg":
            # The same pixels as a progressive JPEG (what ingest wrote before mezzanines became
            # intermediates), measured beside what it writes now to show what the encoding costs.
            (pixels,) = render_many(data, [mezzanine_spec(info).with_format("png")], options=None)
            with Image.open(io.BytesIO(pixels.data)) as image:
                out = io.BytesIO()
                image.convert("RGB").save(
                    out, "JPEG", quality=MEZZANINE_QUALITY, subsampling=0, progressive=True, optimize=True
                )
            self._progressive[key] = (out.getvalue(), "image/jpeg", metadata)
        self.restore_mezzanine(key)
        return {
            "kept": True,
            "source": [info.width, info.height],
            "source_format": info.format,
            "mezzanine": [mezzanine.width, mezzanine.height],
            "bytes": len(mezzanine.data),
            "progressive_bytes": len(self._progressive[key][0]) if key in self._progressive else None,
        }

    def restore_mezzanine(self, key: str, *, progressive: bool = False) -> None:
        data, media_type, metadata = (self._progressive if progressive else self._mezzanines)[key]
        self.renditions.put(
            mezzanine_key(MEZZANINE_PREFIX, key),
            data,
            content_type=media_type,
            cache_control=IMMUTABLE,
            metadata=metadata,
        )

    def drop_mezzanine(self, key: str) -> None:

        self.renditions.delete(mezzanine_key(MEZZANINE_PREFIX, key))

    def drop(self, object_key: str) -> None:
        self.renditions.delete(object_key)


def timed_get(stack: Stack, target: str) -> tuple[float, Any]:
    started = time.perf_counter()
    answer = stack.cloudfront.get(target, accept="image/avif;q=0,image/webp")
    return (time.perf_counter() - started) * 1000, answer


def server_timing(header: str) -> dict[str, float]:
    parts: dict[str, float] = {}
    for entry in header.split(","):
        name, *fields = entry.strip().split(";")
        for field in fields:
            if field.startswith("dur="):
                parts[name] = float(field[4:])
    return parts


def object_key_of(target: str) -> str:

    path, _, query = target.partition("?")
    return at_edge(path, query, "image/webp", policy="off", secrets=[], now=0).object_key


def measure_imgpipe(stack: Stack, photos: list[Path], reps: int) -> dict[str, Any]:
    results: dict[str, Any] = {"photos": {}}
    for photo in photos:
        key = f"uploads/bench/{photo.name}"
        data = photo.read_bytes()
        stack.put_original(key, data)
        facts = stack.put_mezzanine(key, data)
        per_op: dict[str, Any] = {}
        for op, query in OPERATIONS.items():
            target = f"/{key}?{query}"
            object_key = object_key_of(target)
            row: dict[str, Any] = {}
            # One untimed miss per op warms imports and codec state for this photo.
            stack.drop(object_key)
            timed_get(stack, target)
            for path in PATHS:
                if path == "original":
                    stack.drop_mezzanine(key)
                elif not facts["kept"] or (path == "progressive" and not facts.get("progressive_bytes")):
                    continue
                else:
                    stack.restore_mezzanine(key, progressive=path == "progressive")
                times, stages, sources = [], [], []
                for _ in range(reps):
                    stack.drop(object_key)
                    elapsed, answer = timed_get(stack, target)
                    assert answer.status == 200 and answer.served_by == "function", answer.status
                    times.append(elapsed)
                    stages.append(server_timing(answer.headers["server-timing"]))
                    sources.append(answer.headers["server-timing"].split('desc="', 1)[1].split('"', 1)[0])
                assert set(sources) == {"original" if path == "original" else "mezzanine"}, (path, sources)
                row[f"miss_{path}_ms"] = statistics.median(times)
                row[f"miss_{path}_stages_ms"] = {
                    name: statistics.median(stage.get(name, 0.0) for stage in stages) for name in stages[0]
                }
                row["bytes"] = len(answer.body)
            # Stored hits: the last miss stored it.
            hits = []
            for _ in range(reps):
                elapsed, answer = timed_get(stack, target)
                assert answer.served_by == "bucket"
                hits.append(elapsed)
            row["hit_ms"] = statistics.median(hits)
            per_op[op] = row
            if facts["kept"]:
                stack.restore_mezzanine(key)  # back for the next op
        results["photos"][photo.name] = {"facts": facts, "bytes_in": len(data), "ops": per_op}
    return results


def measure_thumbor(photos: list[Path], reps: int) -> dict[str, Any]:
    python = ensure_thumbor(PEERS / "thumbor", PEERS / "thumbor-install.log")
    TMP.mkdir(parents=True, exist_ok=True)
    config = TMP / "thumbor-delivery.conf"
    write_config(config, CORPUS / "photos")
    results: dict[str, Any] = {"versions": thumbor_versions(python), "photos": {}}
    with serve(python, config, TMP / "thumbor-delivery.log") as server:
        client = ThumborClient(server.port)
        try:
            for index, photo in enumerate(photos):
                per_op: dict[str, Any] = {}
                for op, query in OPERATIONS.items():
                    path = rendition_from_query(op, query).thumbor_path() + photo.name
                    if index == 0:
                        client.get(path)  # warm-up: imports, codecs
                    times = []
                    for _ in range(reps):
                        started = time.perf_counter()
                        body = client.get(path)
                        times.append((time.perf_counter() - started) * 1000)
                    per_op[op] = {"ms": statistics.median(times), "bytes": len(body)}
                results["photos"][photo.name] = per_op
        finally:
            client.close()
    return results


def group_of(name: str) -> str:
    return "JPEG" if Path(name).suffix.lower() in (".jpg", ".jpeg") else "AVIF/WebP"


def summarise(imgpipe: dict[str, Any], thumbor: dict[str, Any] | None) -> dict[str, Any]:
    """Medians over photos, per op and per source group (camera JPEGs; AVIF and WebP)."""
    table: dict[str, Any] = {}
    for op in OPERATIONS:
        table[op] = {}
        for group in ("JPEG", "AVIF/WebP"):
            names = [name for name in imgpipe["photos"] if group_of(name) == group]
            if not names:
                continue
            rows = [imgpipe["photos"][name]["ops"][op] for name in names]
            entry: dict[str, Any] = {"photos": len(names)}
            for column in ("miss_original_ms", "miss_mezzanine_ms", "miss_progressive_ms", "hit_ms"):
                values = [row[column] for row in rows if column in row]
                entry[column] = round(statistics.median(values), 1) if values else None
            if thumbor is not None:
                values = [thumbor["photos"][name][op]["ms"] for name in names]
                entry["thumbor_ms"] = round(statistics.median(values), 1)
            table[op][group] = entry
    return table


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def markdown(report: dict[str, Any]) -> str:
    machine = report["machine"]
    photos = report["imgpipe"]["photos"]
    lines = [
        "# Delivery latency",
        "",
        f"Run {report['finished']} on {machine['cpu']} ({machine['cores']} cores), load average "
        f"{machine['loadavg_start'][0]:.2f} at the start and {machine['loadavg_end'][0]:.2f} at the end; "
        f"{len(photos)} corpus photos, {report['reps']} timed requests per cell, medians over photos of "
        "per-photo medians. Written by `bench/delivery.py` (its docstring says what each column measures).",
        "",
        "| op | sources | miss from original | miss from mezzanine | miss from progressive mezzanine "
        "| stored hit | thumbor | miss ÷ thumbor |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for op, query in OPERATIONS.items():
        for group, row in report["summary"][op].items():
            # What ships: the mezzanine when there is one (as ingest writes it), else the original.
            shipped = row["miss_mezzanine_ms"] or row["miss_original_ms"]
            thumbor = row.get("thumbor_ms")
            versus = f"{shipped / thumbor:.2f}×" if thumbor and shipped else "–"
            lines.append(
                f"| `{query}` | {group} ({row['photos']}) | {_cell(row['miss_original_ms'])} | "
                f"{_cell(row['miss_mezzanine_ms'])} | {_cell(row['miss_progressive_ms'])} | "
                f"{_cell(row['hit_ms'])} | "
                f"{_cell(thumbor)} | {versus} |"
            )
    lines += [
        "",
        "All times in ms. Per-stage medians of the misses (the resize function's Server-Timing):",
        "",
        "| op | source | fetch | decode | transform | encode | store |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for op, query in OPERATIONS.items():
        for path in PATHS:
            stages = [
                facts["ops"][op][f"miss_{path}_stages_ms"]
                for facts in photos.values()
                if f"miss_{path}_stages_ms" in facts["ops"][op]
            ]
            if stages:
                cells = [
                    f"{statistics.median(s.get(name, 0.0) for s in stages):.1f}"
                    for name in ("fetch", "decode", "transform", "encode", "store")
                ]
                lines.append(f"| `{query}` | {path} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| photo | source | bytes | mezzanine | bytes | progressive bytes |",
        "| --- | --- | ---: | --- | ---: | ---: |",
    ]
    for name, facts in photos.items():
        f = facts["facts"]
        mezzanine = "×".join(map(str, f["mezzanine"])) if f.get("kept") else "none"
        lines.append(
            f"| {name} | {'×'.join(map(str, f['source']))} | {facts['bytes_in']:,} | {mezzanine} | "
            f"{f.get('bytes') or 0:,} | {f.get('progressive_bytes') or 0:,} |"
        )
    lines += [
        "",
        "Notes. A miss is a warm function's cache miss: no Lambda cold start, and S3 is moto in memory, so "
        "`fetch` and `store` are boto3's cost, not the network's (in a region, reading the original instead "
        "of the mezzanine also moves the extra bytes of the table above). A hit is the edge plus one S3 GET, "
        'with no CloudFront cache in front. "miss ÷ thumbor" takes the path that ships: the mezzanine when '
        'ingest kept one, else the original. "mezzanine" is the mezzanine exactly as ingest writes it '
        "(`imgpipe.core.mezzanine`: 2560 px, q92, a baseline JPEG as an intermediate); "
        '"progressive mezzanine" is '
        "the same pixels saved as a progressive JPEG at the same quality (what ingest wrote before), to show "
        "what the mezzanine's encoding costs. thumbor renders from the file on every request over loopback "
        "HTTP (no result storage), so it compares with the misses, not the hits.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if not (CORPUS / "photos").is_dir():
        print(f"no corpus at {CORPUS / 'photos'}: nothing to measure (IMGPIPE_CORPUS overrides)")
        return 0
    photos = select_photos(args)
    if not photos:
        print("no photo matches")
        return 0
    started = time.time()
    machine = {
        "cpu": next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        ),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "loadavg_start": list(os.getloadavg()),
    }
    print(f"delivery bench: {len(photos)} photos, {args.reps} reps", flush=True)
    with aws() as session:
        imgpipe = measure_imgpipe(Stack(session), photos, args.reps)
    print("  imgpipe done", flush=True)
    thumbor = None if args.no_thumbor else measure_thumbor(photos, args.reps)
    machine["loadavg_end"] = list(os.getloadavg())
    report = {
        "finished": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "seconds": round(time.time() - started, 1),
        "machine": machine,
        "photos": [photo.name for photo in photos],
        "reps": args.reps,
        "operations": OPERATIONS,
        "summary": summarise(imgpipe, thumbor),
        "imgpipe": imgpipe,
        "thumbor": thumbor,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
