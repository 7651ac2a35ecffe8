"""The function code asset: first-party code only, laid out for /var/task, built without Docker."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from infra.bundle import FUNCTIONS_DIR, bundle_function_code


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("function-code")
    bundle_function_code(output)
    return output


def _shipped(bundle: Path) -> set[str]:
    return {p.relative_to(bundle).as_posix() for p in bundle.rglob("*")}


def test_the_local_runtime_cli_and_packaging_metadata_are_not_shipped(bundle: Path) -> None:
    shipped = _shipped(bundle)
    assert not {p for p in shipped if p == "imgpipe/dev" or p.startswith("imgpipe/dev/")}
    assert "imgpipe/cli.py" not in shipped
    assert not {p for p in shipped if ".egg-info" in p or "__pycache__" in p or p.endswith(".pyc")}
    assert not {p for p in shipped if p == "edge" or p.startswith("edge/")}


def test_the_engine_and_every_handler_package_are_shipped(bundle: Path) -> None:
    shipped = _shipped(bundle)
    assert {"imgpipe/__init__.py", "imgpipe/core/__init__.py", "imgpipe/core/render.py"} <= shipped
    for package in FUNCTIONS_DIR.iterdir():
        if (package / "handler.py").is_file():
            assert f"{package.name}/handler.py" in shipped


def test_the_shared_constants_ship_with_the_handlers(bundle: Path) -> None:
    # Given handlers that import infra.constants, Then the asset has that module (and only it) from infra/
    assert sorted(p for p in _shipped(bundle) if p.startswith("infra/")) == [
        "infra/__init__.py",
        "infra/constants.py",
    ]


def test_shipped_infra_modules_do_not_import_the_cdk(bundle: Path) -> None:
    for module in (bundle / "infra").glob("*.py"):
        imported: set[str] = set()
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
        assert not imported & {"aws_cdk", "constructs", "cdk_nag", "boto3"}, module.name
