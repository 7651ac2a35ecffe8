"""The edge functions stay inside AWS's documented cloudfront-js-2.0 subset (tests/edge/check_runtime.mjs).

Node runs the functions in the other edge tests and accepts far more than CloudFront does; njs is closer
but not CloudFront either. This check parses the source with acorn (npm, package-lock.json, installed by
`make test`) and refuses every construct the runtime 2.0 page does not list, and AWS's stated restrictions
(await only standing alone, no async closures, only CloudFront's modules, no eval or timers).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.node import REPO, run_node

CHECK = "tests/edge/check_runtime.mjs"
FUNCTIONS = sorted((REPO / "functions" / "edge").glob("*.js"))
HEADER = "import cf from 'cloudfront';\nvar kvs = cf.kvs();\n"


@pytest.fixture(scope="module", autouse=True)
def _acorn() -> None:
    if (REPO / "node_modules" / "acorn" / "package.json").exists():
        return
    reason = "acorn is not installed: `make test` (or `make edge-tools`) installs it from package-lock.json"
    if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
        pytest.fail(reason)
    pytest.skip(reason)


def problems(*paths: Path) -> dict[str, list[str]]:
    result = run_node(CHECK, *map(str, paths))
    report: dict[str, list[str]] = json.loads(result.stdout)
    assert result.returncode == (1 if any(report.values()) else 0), result.stderr
    return report


def test_both_functions_stay_inside_the_documented_runtime() -> None:
    # Given the functions as deployed
    # When the allow-list check reads them
    report = problems(*FUNCTIONS)
    # Then neither uses anything the runtime 2.0 page does not list
    assert report == {str(path): [] for path in FUNCTIONS}


REFUSED = {
    # issue 12, defect 1: what both functions did, and CloudFront refuses to compile
    "await in call arguments": "async function h() { var x = JSON.parse(await kvs.get('a')); return x; }",
    "await in arguments inside try": (
        "async function h() { try { var k = JSON.parse(await kvs.get('k')); } catch (e) {} }"
    ),
    "await in a logical expression": "async function h() { var p = await kvs.get('p') || 'x'; return p; }",
    "await in a condition": "async function h() { if (!(await kvs.get('p'))) return 1; }",
    "await at the top level": "var top = await kvs.get('a');",
    "async arrow closure": "var f = async () => 1;",
    "async function expression as an argument": "[1].forEach(async function (x) { return x; });",
    "nested async function": "function outer() { async function inner() {} return inner; }",
    "a module CloudFront lacks": "import fs from 'fs';",
    "a named import": "import { kvs as k } from 'cloudfront';",
    "nullish coalescing": "var a = kvs ?? 1;",
    "optional chaining": "var a = kvs?.get;",
    "destructuring": "var { get } = kvs;",
    "default parameters": "function f(a = 1) { return a; }",
    "for-of": "for (var x of [1]) {}",
    "a class": "class A {}",
    "a generator": "function* g() {}",
    "spread arguments": "Math.max(...[1, 2]);",
    "shorthand properties": "var o = { kvs };",
    "optional catch binding": "try { kvs.get('a'); } catch { }",
    "eval": "eval('1');",
    "the Function constructor": "var f = new Function('return 1');",
    "timers": "setTimeout(function () {}, 1);",
    "a method the page does not list": "var x = Object.fromEntries([]);",
    "Array.prototype.at": "var x = [1].at(0);",
    "console.log with commas": "console.log('a', 'b');",
    "the dotAll regexp flag": "var r = /a.b/s;",
    "BigInt": "var n = 1n;",
}


@pytest.mark.parametrize("snippet", REFUSED.values(), ids=list(REFUSED))
def test_the_check_refuses_what_the_runtime_does_not_list(snippet: str, tmp_path: Path) -> None:
    # Given a function with one construct outside the documented runtime
    path = tmp_path / "edge.js"
    path.write_text(HEADER + snippet + "\nfunction handler(event) { return event.request; }\n", "utf-8")
    # When the check reads it
    report = problems(path)
    # Then it is refused, with the line it is on
    assert report[str(path)], snippet
    assert all(problem.startswith(("line ", "does not parse")) for problem in report[str(path)])


def test_the_documented_forms_pass(tmp_path: Path) -> None:
    # Given AWS's own forms: awaits standing alone, a top-level async handler, arrow functions, let/const
    path = tmp_path / "edge.js"
    path.write_text(
        "import cf from 'cloudfront';\nimport crypto from 'crypto';\nconst kvs = cf.kvs();\n"
        "async function read(name) { try { return await kvs.get(name); } catch (e) { return null; } }\n"
        "async function handler(event) {\n  let r = event.request, q = r.rawQueryString();\n"
        "  var doc = await read('presets');\n  await read('other');\n  doc = await read('again');\n"
        "  var mac = crypto.createHmac('sha256', 'k').update(q || `${doc}`).digest('base64url');\n"
        "  r.headers.x = { value: mac };\n"
        "  [1, 2].map((x) => x ** 2).forEach((x, ...rest) => rest.push(x));\n  return r;\n}\n",
        "utf-8",
    )
    assert problems(path) == {str(path): []}
