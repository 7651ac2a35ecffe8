"""The viewer-response function (`Vary: Accept` when negotiated) under Node and njs, and its Python twin."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from imgpipe.core.spec import DEFAULT_PRESETS, TransformSpec
from imgpipe.delivery import VARY_STATUSES, at_edge, negotiated_by_query, vary_with_accept
from infra.constants import EDGE_KVS_PRESETS
from tests.edge.njs import report_of, require_njs, run_under_njs
from tests.node import REPO, run_node

VECTORS: dict[str, Any] = json.loads((REPO / "tests" / "vectors" / "delivery.json").read_text("utf-8"))
RESPONSE_SOURCE = REPO / "functions" / "edge" / "viewer_response.js"
ACCEPT_AVIF = "image/avif,image/webp,*/*"
# A stage whose presets fix the format, or say `auto` outright, beside one that leaves it free.
FORMAT_PRESETS = {
    "webp-thumb": "w=200&fm=webp",
    "shouted": "w=300&fm=JPG",
    "auto-thumb": "w=200&fm=auto",
    "plain": "w=400",
}
# (query, negotiated) under FORMAT_PRESETS, every one a query the edge accepts with the policy off.
EXTRA_QUERIES = [
    ("preset=webp-thumb", False),
    ("preset=shouted", False),
    ("preset=webp-thumb&fm=auto", True),
    ("preset=webp-thumb&fm=AUTO", True),
    ("preset=webp-thumb&fm=png", False),
    ("preset=auto-thumb", True),
    ("preset=auto-thumb&fm=avif", False),
    ("preset=plain", True),
    ("preset=plain&fm=jpg", False),
    ("w=300&fm=WEBP", False),
    ("w=300&%66m=webp", False),
    ("w=300&fm=%61uto", True),
    ("w=300&fm=auto", True),
    ("w=300", True),
    ("", True),
]


def _case(name: str, query: str | None, presets: dict[str, str] | None, **extra: Any) -> dict[str, Any]:
    case: dict[str, Any] = {
        "name": name,
        "request": {"uri": "/uploads/acme/cat.jpg", "query": query, "accept": ACCEPT_AVIF},
        "store": "ok",
        "status": 200,
        "headers": {"content-type": "image/avif"},
    }
    if presets is not None:
        case["presets"] = presets
    case.update(extra)
    return case


def _vector_cases() -> list[dict[str, Any]]:
    cases = []
    for entry in VECTORS["cases"]:
        if entry["expect"]["status"] != 200:
            continue
        case = _case(entry["name"], entry["request"]["query"], entry.get("edge", {}).get("presets"))
        case["request"] = entry["request"]
        case["negotiated"] = entry["expect"]["negotiated"]  # what `at_edge` says (the vectors check it)
        cases.append(case)
    return cases


def _extra_cases() -> list[dict[str, Any]]:
    cases = []
    for query, negotiated in EXTRA_QUERIES:
        cases.append(
            _case(f"format preset: {query or '(empty)'}", query, FORMAT_PRESETS, negotiated=negotiated)
        )
    # The store unreadable: the default presets apply, and none of them fixes the format
    cases.append(_case("store unreadable", "preset=webp-thumb", None, store="failing", negotiated=True))
    return cases


def _answer_cases() -> list[dict[str, Any]]:
    cases = []
    for query, negotiated in (("preset=small", True), ("preset=small&fm=webp", False)):
        for status in (200, 206, 304, 307, 400, 403, 404, 500, 503):
            cases.append(_case(f"{query} {status}", query, None, status=status, negotiated=negotiated))
        for vary in ("Origin", "accept", "Origin, Accept", "*", "Accept-Encoding", ["Origin", "Accept"]):
            cases.append(
                _case(f"{query} vary {vary}", query, None, headers={"vary": vary}, negotiated=negotiated)
            )
    return cases


CASES = _vector_cases() + _extra_cases() + _answer_cases()


def _presets(case: dict[str, Any]) -> dict[str, str]:
    # No presets document in the store (or no store): the defaults, as both edge functions fall back to
    return case["presets"] if "presets" in case and case["store"] == "ok" else DEFAULT_PRESETS


def _python_vary(case: dict[str, Any]) -> str | None:
    given = case["headers"].get("vary")
    have = ", ".join(given) if isinstance(given, list) else given
    negotiated = negotiated_by_query(case["request"]["query"] or "", _presets(case))
    return vary_with_accept(case["status"], have, negotiated) or have


def _covers_accept(vary: str | None) -> bool:
    return vary is not None and re.search(r"(^|,)\s*(accept|\*)\s*(,|$)", vary, re.IGNORECASE) is not None


@pytest.fixture(scope="module", params=["node", "njs"])
def node_report(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    """The function's answers to CASES under Node and, as strictly as CloudFront, under njs."""
    if request.param == "njs":
        report = report_of(
            run_under_njs(require_njs(), RESPONSE_SOURCE, {"scenario": "response", "cases": CASES})
        )
    else:
        path: Path = tmp_path_factory.mktemp("viewer-response") / "cases.json"
        path.write_text(json.dumps(CASES), encoding="utf-8")
        result = run_node("tests/edge/run_viewer_response.mjs", str(path))
        assert result.returncode == 0, result.stderr or result.stdout
        report = json.loads(result.stdout)
    results = report["results"]
    assert [r["name"] for r in results] == [c["name"] for c in CASES]
    return {r["name"]: r for r in results}


def test_the_cases_cover_negotiated_and_fixed_formats() -> None:
    vector_cases = _vector_cases()
    assert {c["negotiated"] for c in vector_cases} == {True, False}
    assert len(vector_cases) == sum(1 for e in VECTORS["cases"] if e["expect"]["status"] == 200)


@pytest.mark.parametrize("case", _vector_cases() + _extra_cases(), ids=lambda c: c["name"])
def test_python_rule_is_the_edges_negotiation(case: dict[str, Any]) -> None:
    # Given a query the edge accepts, and what the viewer-request twin decided for it
    query = case["request"]["query"] or ""
    presets = _presets(case)
    if case["name"].startswith("format preset"):
        delivery = at_edge(
            "/uploads/acme/cat.jpg", query, ACCEPT_AVIF, policy="off", secrets=[], presets=presets, now=0
        )
        assert delivery.negotiated is case["negotiated"]
    # Then the rule read from the query alone agrees
    assert negotiated_by_query(query, presets) is case["negotiated"]


def test_no_default_preset_fixes_the_format() -> None:
    # The JS falls back to "negotiated" when the store cannot be read, which is right only while this holds
    assert all(TransformSpec.parse(query, {}).fm == "auto" for query in DEFAULT_PRESETS.values())


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_the_function_sends_the_vary_python_sends(
    case: dict[str, Any], node_report: dict[str, dict[str, Any]]
) -> None:
    got = node_report[case["name"]]
    assert "error" not in got, got.get("error")
    expected = _python_vary(case)
    assert got["vary"] == expected
    assert got["status"] == case["status"]  # the answer itself is never replaced
    # And what that means: Accept is named exactly for a negotiated rendition's answer (or was already)
    given = case["headers"].get("vary")
    have = ", ".join(given) if isinstance(given, list) else given
    if case["status"] in VARY_STATUSES:
        assert _covers_accept(expected) is (case["negotiated"] or _covers_accept(have))
    else:
        assert expected == have


def test_the_store_is_read_only_for_a_preset_without_fm(node_report: dict[str, dict[str, Any]]) -> None:
    reads = {name: r["reads"] for name, r in node_report.items()}
    assert reads["format preset: preset=webp-thumb"] == [EDGE_KVS_PRESETS]
    assert reads["format preset: preset=webp-thumb&fm=auto"] == []
    assert reads["format preset: w=300"] == []


def test_the_function_reads_only_the_presets_key() -> None:
    source = RESPONSE_SOURCE.read_text("utf-8")
    assert set(re.findall(r"kvs\.get\('([a-z-]+)'\)", source)) == {EDGE_KVS_PRESETS}


def test_vary_with_accept_keeps_other_headers_and_never_duplicates() -> None:
    assert vary_with_accept(200, None, True) == "Accept"
    assert vary_with_accept(304, "Origin", True) == "Origin, Accept"
    assert vary_with_accept(200, "Origin, ACCEPT", True) is None
    assert vary_with_accept(200, "Accept-Encoding", True) == "Accept-Encoding, Accept"
    assert vary_with_accept(200, None, False) is None
    assert vary_with_accept(404, None, True) is None
