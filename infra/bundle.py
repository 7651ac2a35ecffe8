"""The function code asset: first-party code laid out as Lambda imports it from /var/task (CDK-free).

One asset for every imgpipe function: the handler packages, `imgpipe` (the engine and its adapters) and
the CDK-free `infra.constants` they import. It is made by copying, so synthesis never needs Docker.
Third-party packages come from the layer (`layers/build.py`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = REPO_ROOT / "functions"

# Never shipped: the local runtime and CLI (`imgpipe dev` needs moto and a terminal), the CloudFront
# Function source (it runs at the edge, not in Lambda), packaging metadata and caches.
EXCLUDED_PATHS = frozenset({"imgpipe/dev", "imgpipe/cli.py", "imgpipe/browser", "edge"})
EXCLUDED_NAMES = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", "node_modules"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo", ".egg-info")
# The handlers import names from here; it is CDK-free by contract, so it can ship with them.
SHARED_MODULES = ("infra/__init__.py", "infra/constants.py")


def bundle_function_code(output_dir: Path, functions_dir: Path = FUNCTIONS_DIR) -> None:
    """Copy the first-party code into `output_dir`, laid out as Lambda imports it from /var/task."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        relative = Path(directory).relative_to(functions_dir)
        return {
            name
            for name in names
            if name in EXCLUDED_NAMES
            or name.endswith(EXCLUDED_SUFFIXES)
            or (relative / name).as_posix() in EXCLUDED_PATHS
        }

    shutil.copytree(functions_dir, output_dir, ignore=ignore, dirs_exist_ok=True)
    for module in SHARED_MODULES:
        target = output_dir / module
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / module, target)
