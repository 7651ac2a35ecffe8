"""Build the Lambda layer: the locked runtime dependencies as aarch64 CPython 3.12 wheels, without Docker.

    python layers/build.py            # prints the layer directory (layers/out/<key>/)
    python layers/build.py --docker   # the same inside the SAM build image (only when asked)

The layer holds exactly the versions the tests ran: `uv export` reads them, with their hashes, from the one
lock file (`uv.lock`: the project's runtime dependencies plus the `lambda` group), and pip installs that list
with `--require-hashes --no-deps` as manylinux aarch64 wheels for the Lambda runtime's Python into
`layers/out/<key>/python`, the layout Lambda adds to `sys.path`. The key hashes everything that decides the
contents (the locked list, the target platform, this file), so a build is reused until one of them changes,
and a new build never overwrites one that a running synth may be reading.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "layers" / "out"
LOCK_FILE = ROOT / "uv.lock"

PYTHON_VERSION = "3.12"
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")
# The dependency group of pyproject.toml with what only Lambda needs (Powertools' Tracer talks to X-Ray).
LAMBDA_GROUP = "lambda"
# boto3 and botocore come with the runtime and are kept current by AWS; shipping them would pin old ones.
PROVIDED_BY_RUNTIME = frozenset({"boto3", "botocore", "s3transfer", "urllib3", "python-dateutil", "six"})
SIZE_LIMIT = 250 * 1024 * 1024  # Lambda: function code plus all layers, unzipped
DOCKER_IMAGE = "public.ecr.aws/sam/build-python3.12:latest-arm64"
_PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;]+)")


@dataclass(frozen=True)
class LockedRequirement:
    """One pinned distribution of the lock, as `uv export` writes it (pin, markers and hashes)."""

    name: str
    version: str
    text: str


def _uv() -> str:
    beside = Path(sys.executable).with_name("uv")
    found = str(beside) if beside.is_file() else shutil.which("uv")
    if found is None:
        raise RuntimeError("uv is needed to read uv.lock; `make install` puts it into .venv")
    return found


def locked_requirements(lock_file: Path = LOCK_FILE) -> tuple[LockedRequirement, ...]:
    """The layer's distributions: the lock's runtime closure less what the Lambda runtime provides."""
    exported = subprocess.run(
        [
            _uv(), "export", "--frozen", "--no-default-groups", "--group", LAMBDA_GROUP, "--no-emit-project",
            "--format", "requirements-txt", "--no-header", "--no-annotate",
        ],
        cwd=lock_file.parent, check=True, capture_output=True, text=True,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    ).stdout  # fmt: skip
    entries: list[LockedRequirement] = []
    for block in re.split(r"\n(?=\S)", exported.strip()):
        match = _PIN.match(block)
        if match is None:
            raise RuntimeError(f"uv export wrote an entry that is not a pin: {block.splitlines()[0]!r}")
        name = match.group(1).lower().replace("_", "-")
        if name not in PROVIDED_BY_RUNTIME:
            entries.append(LockedRequirement(name=name, version=match.group(2), text=block.strip()))
    return tuple(entries)


def layer_key(requirements: Sequence[LockedRequirement], platforms: Sequence[str] = PLATFORMS) -> str:
    digest = hashlib.sha256()
    for part in (*(r.text for r in requirements), PYTHON_VERSION, *platforms):
        digest.update(part.encode())
        digest.update(b"\0")
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]


def _pip_command(target: Path, requirements_file: Path, platforms: Sequence[str]) -> list[str]:
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    for platform in platforms:
        command += ["--platform", platform]
    command += [
        "--implementation", "cp",
        "--python-version", PYTHON_VERSION,
        "--only-binary=:all:",
        # The lock already holds the whole closure: pip resolves nothing and checks every wheel's hash.
        "--no-deps",
        "--require-hashes",
        # Byte code compiled here would be for the build machine's Python, not Lambda's: useless there.
        "--no-compile",
        "--upgrade",
        "--target", str(target),
        "-r", str(requirements_file),
    ]  # fmt: skip
    return command


def _docker_command(workdir: Path) -> list[str]:
    script = (
        "pip install --no-compile --only-binary=:all: --no-deps --require-hashes "
        "--target /out/python -r /out/requirements.txt"
    )
    return [
        "docker", "run", "--rm", "--platform", "linux/arm64",
        "-v", f"{workdir}:/out", "--entrypoint", "/bin/sh", DOCKER_IMAGE, "-c", script,
    ]  # fmt: skip


def _prune(site: Path) -> None:
    """Drop what Lambda never uses: console scripts with this machine's shebang, caches, runtime packages."""
    shutil.rmtree(site / "bin", ignore_errors=True)
    for cache in site.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)
    for name in PROVIDED_BY_RUNTIME:
        module = name.replace("-", "_")
        shutil.rmtree(site / module, ignore_errors=True)
        for info in site.glob(f"{module}-*.dist-info"):
            shutil.rmtree(info, ignore_errors=True)


def directory_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def host_platforms() -> tuple[str, ...]:
    """The same wheels for this machine's architecture: a twin of the layer that can be imported here."""
    machine = os.uname().machine
    return tuple(p.replace("aarch64", machine) for p in PLATFORMS)


def build_layer(*, docker: bool = False, out: Path = OUT, platforms: Sequence[str] = PLATFORMS) -> Path:
    """Return the layer directory (containing `python/`), building it first when no current build exists.

    `platforms` other than Lambda's build a twin for another machine (one build kept per `out`)."""
    requirements = locked_requirements()
    key = layer_key(requirements, platforms)
    final = out / key
    if (final / "python").is_dir():
        return final
    out.mkdir(parents=True, exist_ok=True)
    # Several pytest-xdist workers or a synth and a test may ask at once: one builds, the others wait.
    with FileLock(str(out / ".build.lock")):
        if (final / "python").is_dir():
            return final
        staging = out / f".{key}.{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        site = staging / "python"
        site.mkdir(parents=True)
        pinned = staging / "requirements.txt"
        pinned.write_text("\n".join(r.text for r in requirements) + "\n", encoding="utf-8")
        if docker:
            subprocess.run(_docker_command(staging), check=True)
        else:
            # The machine's pip constraints (if any) are for its own installs, not for the layer's pins.
            env = {**os.environ, "PIP_CONSTRAINT": ""}
            subprocess.run(_pip_command(site, pinned, platforms), check=True, env=env)
        _prune(site)
        size = directory_size(site)
        if size > SIZE_LIMIT:
            raise RuntimeError(f"layer is {size / 2**20:.0f} MiB unzipped; Lambda allows 250 MiB in all")
        staging.rename(final)
        for stale in out.iterdir():  # keep one build: older keys are never read again
            if stale.is_dir() and stale.name != key and not stale.name.startswith("."):
                shutil.rmtree(stale, ignore_errors=True)
    return final


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docker", action="store_true", help="build inside the SAM build image instead")
    args = parser.parse_args(argv)
    path = build_layer(docker=args.docker)
    print(f"{path} ({directory_size(path / 'python') / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
