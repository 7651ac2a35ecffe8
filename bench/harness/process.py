"""Run a benchmark worker in a fresh process and read its peak RSS as the kernel reports it."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path


def run_measured(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """(exit code, the child's `ru_maxrss` in KB) via `wait4`, so the figure is that process's alone.

    An interrupt (Ctrl-C, SIGTERM) stops the child before it is passed on: no worker outlives the run.
    """
    process = subprocess.Popen(list(argv), cwd=cwd, env=None if env is None else dict(env))
    try:
        _, status, usage = os.wait4(process.pid, 0)
    except BaseException:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        raise
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_maxrss
