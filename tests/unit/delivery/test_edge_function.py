"""The edge function beyond the shared vectors: its KeyValueStore keys, and a store that fails or lies."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from imgpipe.delivery import SIGNING_POLICIES, stored_signing_policy
from infra.constants import EDGE_KVS_PRESETS, EDGE_KVS_SIGNING_KEYS, EDGE_KVS_SIGNING_POLICY
from tests.edge import njs
from tests.edge.njs import REQUEST_SOURCE, RESPONSE_SOURCE, report_of, require_njs, run_program, run_under_njs
from tests.node import run_node

SOURCE = REQUEST_SOURCE.read_text("utf-8")


def test_the_function_reads_the_store_keys_the_stack_writes() -> None:
    read = set(re.findall(r"kv\('([a-z-]+)'\)", SOURCE))
    assert read == {EDGE_KVS_PRESETS, EDGE_KVS_SIGNING_KEYS, EDGE_KVS_SIGNING_POLICY}


def _store_faults(engine: str) -> dict[str, Any]:
    if engine == "njs":
        return report_of(run_under_njs(require_njs(), REQUEST_SOURCE, {"scenario": "faults"}))
    result = run_node("tests/edge/kvs_faults.mjs")
    assert result.returncode == 0, result.stderr
    outcomes: dict[str, Any] = json.loads(result.stdout)
    return outcomes


@pytest.mark.parametrize("engine", ["node", "njs"])
def test_a_failing_or_garbled_store_fails_closed(engine: str) -> None:
    # Given the function (tests/edge/cases.mjs, runStoreFaults) with stores that fail, lack or garble items
    outcomes = _store_faults(engine)
    refused = {name: (o["status"], o.get("code"), o.get("param")) for name, o in outcomes.items()}
    # Then a policy that cannot be read, is absent, empty or unknown requires a signature
    for name in ("failingUnsigned", "noPolicyPreset", "emptyPolicyPreset", "unknownPolicyPreset"):
        assert refused[name] == (403, "signature-required", "s"), name
    # And an unreadable store serves nothing: no preset is known and no signature verifies
    assert refused["failingPreset"] == (400, "bad-parameter", "preset")
    assert refused["failingSigned"] == (403, "signature-invalid", "s")
    assert outcomes["failingSigned"]["headers"]["cache-control"] == "no-store"
    # And garbled documents know no preset and verify no signature
    assert refused["garbagePreset"] == (400, "bad-parameter", "preset")
    assert refused["garbageSigned"] == (403, "signature-invalid", "s")
    # While the policy the stack writes lets the preset through, reading only what it needs
    assert outcomes["unsignedPolicyPreset"]["query"] == "w=400&preset=small"
    assert outcomes["unsignedPolicyPreset"]["reads"] == [EDGE_KVS_PRESETS, EDGE_KVS_SIGNING_POLICY]
    # And HEAD is rewritten like GET
    assert (
        outcomes["methodHead"]["uri"]
        == "/uploads/a.jpg/fit%3Dcover%26fm%3Dwebp%26g%3Dauto%26h%3D200%26w%3D200"
    )


@pytest.mark.parametrize(
    ("stored", "policy"),
    [(None, "required"), ("", "required"), ("Presets-Unsigned", "required"), (7, "required")]
    + [(policy, policy) for policy in SIGNING_POLICIES],
)
def test_the_twin_reads_the_stored_policy_as_the_edge_does(stored: object, policy: str) -> None:
    assert stored_signing_policy(stored) == policy


def test_under_njs_the_old_await_in_call_arguments_is_refused() -> None:
    # Given the defect of issue 12 (what both functions did): await inside a call's arguments
    engine = require_njs()
    text = RESPONSE_SOURCE.read_text("utf-8").replace(
        "var doc = await kvs.get('presets');\n      presets = JSON.parse(doc);",
        "presets = JSON.parse(await kvs.get('presets'));",
    )
    assert "JSON.parse(await" in text
    # When njs compiles it (as CloudFront would)
    result = run_program(engine, "viewer_response.js", text, {"scenario": "response", "cases": []})
    # Then it is a syntax error, which Node's vm never reported
    assert "SyntaxError" in (result.stderr + result.stdout)
    assert "await in arguments" in (result.stderr + result.stdout)


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_without_njs_the_engine_tier_fails_under_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch, ci: str, outcome: type[BaseException]
) -> None:
    # Given a machine where njs cannot be had
    monkeypatch.setattr(njs, "find_njs", lambda: "no njs here")
    monkeypatch.setenv("CI", ci)
    # Then the tier does not pass silently: CI fails, a laptop skips, both saying why
    with pytest.raises(outcome, match="no njs here"):
        njs.require_njs()
