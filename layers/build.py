"""Build the Lambda layer: the runtime dependencies as aarch64 CPython 3.12 wheels, without Docker.

    python layers/build.py            # prints the layer directory (layers/out/<key>/)
    python layers/build.py --docker   # the same inside the SAM build image (only when asked)

pip installs manylinux aarch64 wheels for the Lambda runtime's Python into `layers/out/<key>/python`,
the layout Lambda adds to `sys.path`. The key hashes everything that decides the contents (the
requirements, the target platform, this file), so a build is reused until one of them changes, and a
new build never overwrites one that a running synth may be reading.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

from filelock import FileLock

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "layers" / "out"
PYPROJECT = ROOT / "pyproject.toml"

PYTHON_VERSION = "3.12"
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")
# Needed only on Lambda: Powertools' Tracer talks to X-Ray through it. Installed without dependencies
# because its one heavy dependency, botocore, is part of the Lambda runtime already (~90 MB unzipped).
LAMBDA_ONLY = ("aws-xray-sdk>=2.14,<3", "wrapt>=1.16,<2")
# boto3 and botocore come with the runtime and are kept current by AWS; shipping them would pin old ones.
PROVIDED_BY_RUNTIME = frozenset({"boto3", "botocore", "s3transfer", "urllib3", "python-dateutil", "six"})
SIZE_LIMIT = 250 * 1024 * 1024  # Lambda: function code plus all layers, unzipped
DOCKER_IMAGE = "public.ecr.aws/sam/build-python3.12:latest-arm64"


def runtime_requirements() -> tuple[str, ...]:
    """The project's runtime dependency group: the same pins the handlers are tested with."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    return tuple(project["dependencies"])


def layer_key(requirements: Sequence[str], extras: Sequence[str] = LAMBDA_ONLY) -> str:
    digest = hashlib.sha256()
    for part in (*requirements, "--", *extras, PYTHON_VERSION, *PLATFORMS):
        digest.update(part.encode())
        digest.update(b"\0")
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]


def _pip_command(target: Path, requirements: Sequence[str], *, no_deps: bool) -> list[str]:
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    command += [
        "--implementation", "cp",
        "--python-version", PYTHON_VERSION,
        "--only-binary=:all:",
        # Byte code compiled here would be for the build machine's Python, not 3.12: useless on Lambda.
        "--no-compile",
        "--upgrade",
        "--target", str(target),
    ]  # fmt: skip
    if no_deps:
        command.append("--no-deps")
    return [*command, *requirements]


def _docker_command(workdir: Path, requirements: Sequence[str], extras: Sequence[str]) -> list[str]:
    quoted = " ".join(f"'{r}'" for r in requirements)
    quoted_extras = " ".join(f"'{r}'" for r in extras)
    script = (
        f"pip install --no-compile --only-binary=:all: --target /out/python {quoted} && "
        f"pip install --no-compile --only-binary=:all: --no-deps --target /out/python {quoted_extras}"
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


def build_layer(*, docker: bool = False, out: Path = OUT) -> Path:
    """Return the layer directory (containing `python/`), building it first when no current build exists."""
    requirements = runtime_requirements()
    key = layer_key(requirements)
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
        if docker:
            subprocess.run(_docker_command(staging, requirements, LAMBDA_ONLY), check=True)
        else:
            subprocess.run(_pip_command(site, requirements, no_deps=False), check=True)
            subprocess.run(_pip_command(site, LAMBDA_ONLY, no_deps=True), check=True)
        _prune(site)
        size = directory_size(site)
        if size > SIZE_LIMIT:
            raise RuntimeError(f"layer is {size / 2**20:.0f} MiB unzipped; Lambda allows 250 MiB in all")
        (staging / "requirements.txt").write_text("\n".join((*requirements, *LAMBDA_ONLY)) + "\n")
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
