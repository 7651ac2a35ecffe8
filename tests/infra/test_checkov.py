"""checkov over every synthesised template: any finding that is not acknowledged fails.

checkov pins many libraries that must not touch the project's locked `.venv`, so it runs from a virtualenv
of its own, created from PyPI on first use and cached (`IMGPIPE_TOOLS_CACHE`, default ~/.cache/imgpipe).
Acknowledgements are template metadata (`Metadata: checkov: skip`), written from CDK by
`infra.nag.acknowledge_checkov`, each with its reason; checkov itself honours them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from tests.infra.cfn import path_of
from tests.infra.conftest import Assembly

CHECKOV_VERSION = "3.3.30"
TOOLS_CACHE = Path(os.environ.get("IMGPIPE_TOOLS_CACHE", Path.home() / ".cache" / "imgpipe"))


def _checkov() -> Path:
    venv = TOOLS_CACHE / f"checkov-{CHECKOV_VERSION}"
    executable = venv / "bin" / "checkov"
    TOOLS_CACHE.mkdir(parents=True, exist_ok=True)
    with FileLock(str(TOOLS_CACHE / "checkov.lock")):
        if not executable.exists():
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
            install = subprocess.run(
                [
                    str(venv / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    f"checkov=={CHECKOV_VERSION}",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if install.returncode != 0:
                pytest.fail(
                    f"could not install checkov {CHECKOV_VERSION} from PyPI:\n{install.stderr[-3000:]}"
                )
    return executable


@pytest.fixture(scope="session")
def checkov_report(assembly: Assembly) -> list[dict[str, Any]]:
    templates = sorted(str(p) for p in assembly.directory.glob("*.template.json"))
    result = subprocess.run(
        [str(_checkov()), "--framework", "cloudformation", "--output", "json", "--compact",
         "--skip-download",  # offline: no guidelines from the vendor's platform
         *[arg for template in templates for arg in ("--file", template)]],
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "ERROR"},
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert result.stdout.lstrip().startswith(("[", "{")), result.stderr[-3000:]  # checkov itself ran
    report = json.loads(result.stdout)
    return report if isinstance(report, list) else [report]


def _resource(assembly: Assembly, finding: dict[str, Any]) -> dict[str, Any]:
    stack = Path(finding["file_path"]).name.removesuffix(".template.json")
    logical_id = finding["resource"].split(".", 1)[1]
    resource: dict[str, Any] = assembly.template(stack)["Resources"][logical_id]
    return resource


def test_checkov_finds_nothing_unacknowledged(
    assembly: Assembly, checkov_report: list[dict[str, Any]]
) -> None:
    open_findings = []
    for report in checkov_report:
        for finding in report["results"]["failed_checks"]:
            path = path_of(_resource(assembly, finding))
            open_findings.append(
                f"{finding['check_id']} {finding['resource']} ({path}): {finding['check_name']}"
            )
    assert not open_findings, "\n".join(open_findings)


def test_checkov_read_the_acknowledgements_and_each_has_a_reason(
    assembly: Assembly, checkov_report: list[dict[str, Any]]
) -> None:
    skipped = [finding for report in checkov_report for finding in report["results"]["skipped_checks"]]
    assert skipped  # checkov honoured the template metadata
    for finding in skipped:
        assert len(finding["check_result"].get("suppress_comment", "")) >= 40, finding["check_id"]
    passed = sum(len(report["results"]["passed_checks"]) for report in checkov_report)
    assert passed > 100  # it checked the templates, not an empty directory
