"""Hostile real files: each is rejected with a fitting reason or handled safely, under a memory cap.

Every file runs in a forked child with an address-space limit, so a decoder that runs away is killed
by the kernel instead of taking the test run with it; the child's peak RSS is asserted too.
"""

from __future__ import annotations

import json
import os
import resource

import pytest

from imgpipe.core import Rejected, inspect, render
from tests.corpus.conftest import MANIFEST, CorpusFile, corpus_params

pytestmark = pytest.mark.corpus

ADDRESS_SPACE_CAP = 3 * 1024**3
PEAK_RSS_CAP_MB = 1024

# The manifest's words for a reason → the reasons imgpipe may give for it.
FITTING = {
    "empty": {"empty"},
    "not-an-image": {"not-an-image"},
    "truncated": {"truncated", "corrupt"},
    "corrupt": {"corrupt", "truncated"},
    "bomb": {"bomb", "pixel-limit"},
    "pixel-limit": {"pixel-limit", "bomb"},
    "aspect-limit": {"pixel-limit", "bomb"},
    "too-many-frames": {"too-many-frames"},
    "format-not-allowed": {"unsupported-format"},
    "svg-script": {"unsupported-format"},
    "svg-external-ref": {"unsupported-format"},
    "ext-mismatch": {"type-mismatch"},
    "unknown-chunk": {"corrupt"},
}
FITTING_ANY = frozenset().union(*FITTING.values())
# A format we never decode is refused before its payload is read: that is a fitting reason too.
NOT_ACCEPTED_FORMATS = {"ICO", "PSD", "PCD"}


def _fitting_reasons(row: CorpusFile) -> set[str]:
    verdict = row.expected.split(" ", 1)[0]
    reasons: set[str] = set()
    if verdict.startswith("reject:"):
        for word in verdict.removeprefix("reject:").split("/"):
            reasons |= FITTING.get(word, {word})
    if "or reject" in row.expected and "or reject:" not in row.expected:
        reasons |= set(FITTING_ANY)
    if row.format in NOT_ACCEPTED_FORMATS or row.path.endswith(".ico"):
        reasons.add("unsupported-format")
    return reasons


def _may_process(row: CorpusFile) -> bool:
    return row.expected.startswith("process") or "or process" in row.expected or "first frame" in row.expected


def _run_capped(path: str, declared: str) -> tuple[dict[str, object], float]:
    """Inspect and render in a forked child under the caps; returns its verdict and its peak RSS in MB."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_end)
        outcome: dict[str, object]
        try:
            resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_CAP, ADDRESS_SPACE_CAP))
            data = open(path, "rb").read()  # noqa: SIM115 - the child exits right after
            try:
                inspect(data, declared_type=declared)
                outputs = [render(data, q).data for q in ("w=300&fm=webp&anim=0", "w=300&fm=jpeg&anim=0")]
                outcome = {
                    "status": "processed",
                    "php": any(b"<?php" in out for out in outputs),
                    "same_tail": any(data[-64:] in out for out in outputs) if len(data) > 4096 else False,
                }
            except Rejected as rejection:
                outcome = {"status": "rejected", "reason": rejection.reason, "message": rejection.message}
        except BaseException as error:  # the crash itself is the finding
            outcome = {"status": "crashed", "error": f"{type(error).__name__}: {error}"}
        os.write(write_end, json.dumps(outcome).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        payload = reader.read()
    _, status, usage = os.wait4(pid, 0)
    if not payload:
        return {"status": "killed", "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None}, 0.0
    return json.loads(payload), usage.ru_maxrss / 1024


@pytest.mark.parametrize("row", corpus_params("hostile"))
def test_hostile_file_is_rejected_or_handled_safely(row: CorpusFile) -> None:
    # Given a hostile file / When inspected and rendered under a memory cap
    outcome, peak_mb = _run_capped(str(row.file), row.file.name)
    # Then nothing crashed and the process stayed within the cap
    assert outcome["status"] in ("rejected", "processed"), outcome
    assert peak_mb < PEAK_RSS_CAP_MB, f"peak RSS {peak_mb:.0f} MB"
    if outcome["status"] == "rejected":
        assert outcome["reason"] in _fitting_reasons(row), (row.expected, outcome)
        assert outcome["message"], "a rejection always says why"
    else:
        assert _may_process(row), (row.expected, outcome)
        assert not outcome["php"], "payload hidden in metadata survived into an output"
        assert not outcome["same_tail"], "output carries the source's trailing bytes"


def test_md5_collision_pair_gets_distinct_checksums() -> None:
    pair = [row for row in MANIFEST if "collisions__md5" in row.path]
    if len(pair) != 2:
        pytest.skip("collision pair not in the corpus")
    infos = [inspect(row.file.read_bytes()) for row in pair]
    assert infos[0].sha256 != infos[1].sha256
