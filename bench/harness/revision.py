"""An earlier commit's code, unpacked beside the checkout, so a benchmark can run "before" and "after"."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# What a worker imports: the package, the Lambda entry points, the stack's constants and its stage config.
CODE_PATHS = ("functions", "infra", "cdk.json")


def unpack(rev: str, into: Path, paths: Sequence[str] = CODE_PATHS) -> Path:
    """`git archive` of `paths` at `rev` into `into/code-{rev}` (reused when already there)."""
    target = into / f"code-{rev}"
    if not (target / "functions").is_dir():
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "archive", rev, *paths], cwd=REPO, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target
