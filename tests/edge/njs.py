"""The edge functions under njs, the engine family of CloudFront Functions (cloudfront-js-2.0).

Node accepts what CloudFront refuses (`await` inside call arguments, for one), so the functions also run
under njs 0.9.6, built from `../shared/tools/njs` by its `build.sh` into a cache directory keyed by the
version (about 20 s once, then instant; needs a C compiler and PCRE2 headers, which `make test` installs).
Without that script, Debian's `njs` is used if present (0.7.9: a weaker check, it misses `await` in call
arguments inside a `try` block). With no njs at all the tests fail under CI (`CI=true`) and skip elsewhere,
saying why.

njs resolves a bare module name only as a file, so the function's `import cf from 'cloudfront'` is
pointed at `cloudfront_stub.js` (a KeyValueStore the runner fills per case); `crypto` is njs's own module,
which has `createHmac(...).digest('base64url')` as CloudFront's does.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.node import REPO

NJS_VERSION = "0.9.6"
BUILD_SCRIPT = REPO.parent / "shared" / "tools" / "njs" / "build.sh"
CACHE_DIR = Path(tempfile.gettempdir()) / f"imgpipe-njs-{NJS_VERSION}"
EDGE_DIR = REPO / "tests" / "edge"
REQUEST_SOURCE = REPO / "functions" / "edge" / "viewer_request.js"
RESPONSE_SOURCE = REPO / "functions" / "edge" / "viewer_response.js"
_CLOUDFRONT_IMPORT = re.compile(r"^import cf from 'cloudfront';$", re.MULTILINE)


@dataclass(frozen=True)
class Engine:
    path: Path
    version: str
    note: str  # where it came from, and how strict it is


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@functools.cache
def find_njs() -> Engine | str:
    """The njs to run the functions under, or the reason there is none."""
    if BUILD_SCRIPT.exists():
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        # One build at a time: pytest-xdist workers may all ask at once.
        with (CACHE_DIR / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            built = subprocess.run(
                ["bash", str(BUILD_SCRIPT), str(CACHE_DIR)],
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
        if built.returncode != 0:
            tail = (built.stderr or built.stdout).strip().splitlines()[-3:]
            return f"building njs {NJS_VERSION} with {BUILD_SCRIPT} failed: {' | '.join(tail)}"
        return Engine(CACHE_DIR / "njs", NJS_VERSION, f"njs {NJS_VERSION} built from {BUILD_SCRIPT}")
    system = shutil.which("njs")
    if system is None:
        return f"no njs: {BUILD_SCRIPT} is absent and no `njs` is on PATH (Debian: apt-get install njs)"
    version = subprocess.run([system, "-v"], capture_output=True, text=True, check=False).stdout.strip()
    return Engine(
        Path(system), version, f"Debian's njs {version} (weaker: misses await in arguments inside try)"
    )


def require_njs() -> Engine:
    """The engine, or fail (under CI) / skip (elsewhere) with the reason."""
    found = find_njs()
    if isinstance(found, Engine):
        return found
    if _in_ci():
        pytest.fail(f"the edge functions must run under njs in CI: {found}")
    pytest.skip(found)


def edge_program(text: str, scenario: dict[str, Any]) -> str:
    """A function's text, its `cloudfront` import pointed at the stub, then the runner over `scenario`."""
    if not _CLOUDFRONT_IMPORT.search(text):
        raise AssertionError(
            "an edge function must import the KeyValueStore module as `import cf from 'cloudfront';`"
        )
    text = _CLOUDFRONT_IMPORT.sub("import cf from 'cloudfront_stub.js';", text)
    # Imports are hoisted, so adding these after the function keeps its line numbers in njs's messages.
    runner = (EDGE_DIR / "njs_runner.js").read_text("utf-8")
    cases = EDGE_DIR / "cases.mjs"
    return f"{text}\nimport cases from '{cases}';\nvar INPUT = {json.dumps(scenario)};\n{runner}"


def run_program(
    engine: Engine, name: str, text: str, scenario: dict[str, Any]
) -> subprocess.CompletedProcess[str]:
    """Run a function's `text` (as file `name`) with the runner over `scenario`."""
    with tempfile.TemporaryDirectory(prefix="imgpipe-njs-") as work:
        directory = Path(work)
        shutil.copy(EDGE_DIR / "cloudfront_stub.js", directory / "cloudfront_stub.js")
        (directory / name).write_text(edge_program(text, scenario), "utf-8")
        return subprocess.run(
            [str(engine.path), name],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            stdin=subprocess.DEVNULL,
        )


def run_under_njs(engine: Engine, source: Path, scenario: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """Run the function in `source` with the runner over `scenario` ({"scenario": "vectors" | "response" |
    "faults", ...})."""
    return run_program(engine, source.name, source.read_text("utf-8"), scenario)


def report_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The runner's JSON report; fails with njs's own words (a SyntaxError, say) when there is none."""
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert result.returncode == 0 and lines, f"njs refused or failed: {result.stderr or result.stdout}"
    report: dict[str, Any] = json.loads(lines[-1])
    assert "runner_error" not in report, report["runner_error"]
    return report
