"""The dependency layer: what `layers/build.py` produces must import on Lambda's Python 3.12 on arm64, and
hold exactly the versions of uv.lock that the tests run with."""

from __future__ import annotations

import ast
import csv
import os
import struct
import sys
from email.parser import Parser
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from infra.bundle import bundle_function_code
from layers.build import (
    PROVIDED_BY_RUNTIME,
    PYTHON_VERSION,
    SIZE_LIMIT,
    build_layer,
    directory_size,
    locked_requirements,
)

EM_AARCH64 = 183
ELF_MAGIC = b"\x7fELF"
# Import names that each runtime requirement must provide (the handlers import these).
IMPORT_NAMES = {
    "pillow": "PIL",
    "pillow-heif": "pillow_heif",
    "numpy": "numpy",
    "pydantic": "pydantic",
    "aws-lambda-powertools": "aws_lambda_powertools",
    "aws-xray-sdk": "aws_xray_sdk",
    "wrapt": "wrapt",
    "annotated-types": "annotated_types",
    "jmespath": "jmespath",
    "pydantic-core": "pydantic_core",
    "typing-extensions": "typing_extensions",
    "typing-inspection": "typing_inspection",
    "awscrt": "awscrt",
}


# Lambda's python3.12 on arm64, for evaluating the environment markers of requirements.
LAMBDA_MARKERS = {
    "python_version": PYTHON_VERSION,
    "python_full_version": f"{PYTHON_VERSION}.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "aarch64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "extra": "",
}
# Importable on Lambda without the layer (boto3 and its dependencies come with the runtime).
RUNTIME_MODULES = frozenset({"boto3", "botocore", "s3transfer", "urllib3", "dateutil", "six", "jmespath"})
# The standard library of Lambda's Python 3.12 (the tests run on 3.12 too).
STDLIB_312 = frozenset(sys.stdlib_module_names) - {"distutils", "imp", "asynchat", "asyncore", "smtpd"}


@pytest.fixture(scope="module")
def site() -> Path:
    return build_layer() / "python"


def _distributions(site: Path) -> dict[str, dict[str, object]]:
    """Name -> parsed METADATA of every distribution installed in the layer."""
    found: dict[str, dict[str, object]] = {}
    for info in site.glob("*.dist-info"):
        message = Parser().parsestr((info / "METADATA").read_text(encoding="utf-8"), headersonly=True)
        found[canonicalize_name(message["Name"])] = {
            "version": message["Version"],
            "requires": message.get_all("Requires-Dist") or [],
        }
    return found


def _top_level_modules(site: Path) -> set[str]:
    modules = {p.name for p in site.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    modules |= {p.name.split(".")[0] for p in site.iterdir() if p.suffix in (".py", ".so")}
    return modules


def _elf_machine(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:20]
    assert header[:4] == ELF_MAGIC, f"{path.name} is not an ELF file"
    elf_class = header[4]  # 2 = 64-bit
    (machine,) = struct.unpack("<H", header[18:20])
    return elf_class, machine


def test_every_requirement_has_its_import_name(site: Path) -> None:
    # Given the locked runtime closure (the project's dependencies plus the `lambda` group)
    names = {r.name for r in locked_requirements()}
    # Then each maps to a known import name that exists in the layer
    assert names <= IMPORT_NAMES.keys(), f"add the import names of {names - IMPORT_NAMES.keys()}"
    for name in names:
        module = IMPORT_NAMES[name]
        assert (site / module / "__init__.py").is_file() or (site / f"{module}.py").is_file(), module


def test_every_installed_file_of_every_distribution_is_present(site: Path) -> None:
    # A wheel's RECORD lists every file it installed: nothing may be missing (pruning must not break one)
    records = list(site.glob("*.dist-info/RECORD"))
    assert len(records) >= len(IMPORT_NAMES)
    for record in records:
        with record.open(newline="") as handle:
            for row in csv.reader(handle):
                relative = row[0]
                if "__pycache__" in relative or relative.startswith("../") or relative.startswith("bin/"):
                    continue
                assert (site / relative).exists(), f"{record.parent.name}: {relative} missing"


def test_pillow_compiled_modules_are_aarch64_for_cpython_312(site: Path) -> None:
    modules = sorted((site / "PIL").glob("_imaging*.so"))
    assert modules, "Pillow's C core is missing"
    for module in modules:
        assert module.name.endswith(".cpython-312-aarch64-linux-gnu.so"), module.name
        assert _elf_machine(module) == (2, EM_AARCH64)
    names = {m.name.split(".")[0] for m in (site / "PIL").glob("*.so")}
    assert {"_imaging", "_imagingft", "_webp", "_avif", "_imagingcms"} <= names


def test_every_shared_object_is_64_bit_arm(site: Path) -> None:
    shared = [p for p in site.rglob("*.so*") if p.is_file()]
    assert len(shared) > 10
    for path in shared:
        assert _elf_machine(path) == (2, EM_AARCH64), path.relative_to(site)
        if ".cpython-" in path.name:
            assert ".cpython-312-aarch64-linux-gnu." in path.name, path.name


def test_wheels_are_manylinux_aarch64_for_the_runtime(site: Path) -> None:
    for wheel in site.glob("*.dist-info/WHEEL"):
        tags = [
            line.split(":", 1)[1].strip()
            for line in wheel.read_text().splitlines()
            if line.startswith("Tag:")
        ]
        assert tags, wheel
        for tag in tags:
            python, abi, platform = tag.split("-")
            if platform == "any":
                continue
            assert "manylinux" in platform and platform.endswith("aarch64"), tag
            assert python in ("cp312", "cp38", "cp39", "cp310", "cp311") and abi in (
                "cp312",
                "abi3",
                "none",
            ), tag


def test_nothing_the_runtime_provides_or_cannot_use_is_shipped(site: Path) -> None:
    assert not (site / "boto3").exists() and not (site / "botocore").exists()
    assert not (site / "bin").exists()
    assert not list(site.rglob("__pycache__"))


def test_layer_fits_lambdas_unzipped_limit(site: Path) -> None:
    # The code asset is a few hundred KB; the layer must leave room for it within 250 MiB.
    assert directory_size(site) < SIZE_LIMIT - 20 * 1024 * 1024


def test_every_dependency_of_every_distribution_is_in_the_layer_or_the_runtime(site: Path) -> None:
    # Given the distributions in the layer and their requirements as Lambda's Python 3.12 on arm64 sees them
    installed = _distributions(site)
    provided = {canonicalize_name(n) for n in PROVIDED_BY_RUNTIME}
    for name, info in installed.items():
        for text in info["requires"]:  # type: ignore[union-attr]
            requirement = Requirement(text)
            if requirement.marker is not None and not requirement.marker.evaluate(LAMBDA_MARKERS):
                continue
            dependency = canonicalize_name(requirement.name)
            # Then each is installed at a version the requirement allows, or comes with the runtime
            if dependency in provided:
                continue
            assert dependency in installed, f"{name} needs {text}, which is not in the layer"
            version = str(installed[dependency]["version"])
            assert requirement.specifier.contains(version, prereleases=True), f"{name}: {text} vs {version}"


def test_every_third_party_import_of_the_shipped_code_is_in_the_layer(site: Path, tmp_path: Path) -> None:
    # Given the function code asset as it is shipped
    bundle_function_code(tmp_path)
    first_party = {p.name for p in tmp_path.iterdir() if p.is_dir()}
    imported: dict[str, str] = {}
    for module in tmp_path.rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                imported.setdefault(name.split(".")[0], module.relative_to(tmp_path).as_posix())
    # Then every import that is neither the standard library, first-party nor the runtime's is in the layer
    available = _top_level_modules(site) | first_party | RUNTIME_MODULES | STDLIB_312
    missing = {name: where for name, where in imported.items() if name not in available}
    assert not missing, f"imported by the functions but not shipped: {missing}"
    assert {"PIL", "pillow_heif", "numpy", "pydantic", "aws_lambda_powertools"} <= imported.keys()


def test_the_layer_holds_exactly_the_locked_versions(site: Path) -> None:
    # Given the pins uv.lock gives the layer
    locked = {r.name: r.version for r in locked_requirements()}
    # Then the layer has those distributions at those versions, and nothing else
    installed = {name: str(info["version"]) for name, info in _distributions(site).items()}
    assert installed == locked


def test_the_tests_run_with_the_versions_the_layer_ships(site: Path) -> None:
    # Given every distribution in the layer, Then the test environment has the very same version of it
    for name, info in _distributions(site).items():
        assert metadata.version(name) == info["version"], f"{name}: tests run another version than Lambda"


def test_the_tests_run_on_lambdas_python() -> None:
    # The venv is built on python3.12 (Makefile); elsewhere `make` warns and this fails only under CI.
    if sys.version_info[:2] != (3, 12) and not os.environ.get("CI"):
        pytest.skip(f"tests run on {sys.version.split()[0]}, not Lambda's 3.12 (the Makefile warned)")
    assert f"{sys.version_info.major}.{sys.version_info.minor}" == PYTHON_VERSION
