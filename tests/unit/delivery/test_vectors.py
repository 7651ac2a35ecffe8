"""The shared delivery vectors: the edge function (under Node and njs) and `imgpipe.delivery`, alike."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from imgpipe.core.spec import DEFAULT_PRESETS
from imgpipe.delivery import DEFAULT_SIGNING_POLICY, Refused, at_edge
from tests.edge.njs import report_of, require_njs, run_under_njs
from tests.node import REPO, run_node

VECTORS_FILE = REPO / "tests" / "vectors" / "delivery.json"
VECTORS: dict[str, Any] = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))
EDGE_SOURCE = REPO / "functions" / "edge" / "viewer_request.js"
EDGE_MAX_BYTES = 9 * 1024


def python_outcome(entry: dict[str, Any]) -> dict[str, Any]:
    edge = entry.get("edge", {})
    request = entry["request"]
    secrets = [VECTORS["keys"][key_id].encode("ascii") for key_id in edge.get("keys", VECTORS["active_keys"])]
    try:
        delivery = at_edge(
            request["uri"],
            request["query"] or "",
            request["accept"],
            # What the store holds: a missing policy (null) requires a signature, a missing presets
            # document (null) knows no preset, as at the edge.
            policy=edge.get("policy", VECTORS["policy"]),
            secrets=secrets,
            presets=edge.get("presets", VECTORS["presets"]) or {},
            now=entry.get("now", VECTORS["now"]),
        )
    except Refused as refusal:
        problem = refusal.problem
        return {"status": problem.status, "code": problem.code, "param": problem.param}
    return {
        "status": 200,
        "source": delivery.source_key,
        "canonical": delivery.spec.canonical(),
        "key": delivery.object_key,
        "format": delivery.format,
        "negotiated": delivery.negotiated,
        "verdict": delivery.verdict.value if delivery.verdict else None,
        "uri": delivery.origin_path,
        "query": delivery.origin_query,
    }


@pytest.mark.parametrize("entry", VECTORS["cases"], ids=[entry["name"] for entry in VECTORS["cases"]])
def test_python_side_matches_the_vector(entry: dict[str, Any]) -> None:
    # Given a request from the shared vectors
    # When imgpipe.delivery handles it as the edge would
    got = python_outcome(entry)
    # Then every expected field (canonical key, format, verdict, or status and parameter) matches
    assert got == entry["expect"]


def test_edge_function_matches_every_vector_under_node() -> None:
    # Given the deployed edge function source and the same vectors
    # When Node runs every case through it (tests/edge/run_vectors.mjs)
    result = run_node("tests/edge/run_vectors.mjs")
    # Then no case disagrees
    report = json.loads(result.stdout) if result.stdout.strip().startswith("{") else {}
    assert result.returncode == 0, report.get("failures") or result.stderr or result.stdout
    assert report["cases"] == len(VECTORS["cases"]) and report["failures"] == []


def test_edge_function_matches_every_vector_under_njs() -> None:
    # Given the same function and vectors, and njs: CloudFront's engine family, which refuses what it refuses
    engine = require_njs()
    # When njs runs every case through it (tests/edge/njs_runner.js, the same scenario as under Node)
    report = report_of(run_under_njs(engine, EDGE_SOURCE, {"scenario": "vectors", "vectors": VECTORS}))
    # Then it compiles, and no case disagrees
    assert report["cases"] == len(VECTORS["cases"]), engine.note
    assert report["failures"] == [], engine.note


def test_the_vector_defaults_are_what_the_stack_writes() -> None:
    # The store every case runs against (unless its `edge` says otherwise): the deploy's own items
    assert VECTORS["policy"] == DEFAULT_SIGNING_POLICY
    assert VECTORS["presets"] == DEFAULT_PRESETS


def test_the_vectors_cover_every_status_and_refusal_the_edge_gives() -> None:
    # Given the vectors
    expected = [entry["expect"] for entry in VECTORS["cases"]]
    # When grouped by outcome
    codes = {(e["status"], e.get("code")) for e in expected}
    formats = {e["format"] for e in expected if e["status"] == 200}
    verdicts = {e["verdict"] for e in expected if e["status"] == 200}
    # Then every edge outcome, every output format and every verdict is exercised
    assert codes >= {
        (200, None),
        (400, "bad-parameter"),
        (403, "signature-required"),
        (403, "signature-invalid"),
        (403, "expired"),
        (404, "no-source"),
    }
    assert formats == {"avif", "webp", "jpeg", "png", "gif"}
    assert verdicts == {"valid", "missing", None}


@pytest.mark.parametrize("source", sorted(EDGE_SOURCE.parent.glob("*.js")), ids=lambda path: path.name)
def test_each_edge_function_fits_in_9_kb(source: Path) -> None:
    # Given a function as deployed (CloudFront allows 10 KB; 9 KB keeps a kilobyte of headroom)
    size = len(source.read_bytes())
    # Then it is within 9 KB
    assert size <= EDGE_MAX_BYTES, f"{source.name} is {size} bytes, over {EDGE_MAX_BYTES}"


def test_the_vector_file_is_what_its_builder_writes(tmp_path: Path) -> None:
    # Given the builder's output compared with the committed file (signatures and encodings are computed)
    import runpy  # noqa: PLC0415 - the builder is a script, loaded only here

    builder = runpy.run_path(str(REPO / "tests" / "vectors" / "build_delivery_vectors.py"))
    builder["OUT"] = tmp_path / "delivery.json"
    # Then rebuilding changes nothing (edit the builder, not the JSON)
    cases = [builder["fill"](json.loads(json.dumps(case))) for case in builder["CASES"]]
    assert [case["name"] for case in cases] == [case["name"] for case in VECTORS["cases"]]
    assert cases == VECTORS["cases"]
