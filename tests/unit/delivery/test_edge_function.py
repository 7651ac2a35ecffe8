"""The edge function beyond the shared vectors: its KeyValueStore keys, and a store that fails."""

from __future__ import annotations

import json
import re

from infra.constants import EDGE_KVS_PRESETS, EDGE_KVS_SIGNING_KEYS, EDGE_KVS_SIGNING_POLICY
from tests.node import REPO, run_node

SOURCE = (REPO / "functions" / "edge" / "viewer_request.js").read_text("utf-8")


def test_the_function_reads_the_store_keys_the_stack_writes() -> None:
    read = set(re.findall(r"kv\('([a-z-]+)'\)", SOURCE))
    assert read == {EDGE_KVS_PRESETS, EDGE_KVS_SIGNING_KEYS, EDGE_KVS_SIGNING_POLICY}


def test_a_failing_or_garbled_store_never_lets_a_signature_through() -> None:
    result = run_node("tests/edge/kvs_faults.mjs")
    assert result.returncode == 0, result.stderr
    outcomes = json.loads(result.stdout)
    # Unreadable store: the default policy and presets apply, and no signature verifies
    assert outcomes["failingPreset"]["status"] == 200
    assert outcomes["failingPreset"]["query"] == "w=400&preset=small"
    assert (outcomes["failingSigned"]["status"], outcomes["failingSigned"]["code"]) == (
        403,
        "signature-invalid",
    )
    # Garbled documents: a presets document that is not an object knows no preset, and no signature verifies
    assert (outcomes["garbagePreset"]["status"], outcomes["garbagePreset"]["param"]) == (400, "preset")
    assert outcomes["garbageSigned"]["code"] == "signature-invalid"
    # HEAD is rewritten like GET
    assert (
        outcomes["methodHead"]["uri"]
        == "/uploads/a.jpg/fit%3Dcover%26fm%3Djpeg%26g%3Dauto%26h%3D200%26w%3D200"
    )
