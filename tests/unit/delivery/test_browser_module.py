"""The browser module under Node, and its URLs against the Python SDK's and the edge's."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest

from imgpipe.client import ImageUrls
from imgpipe.core.signing import SignatureVerdict
from imgpipe.delivery import at_edge
from tests.node import run_node

BASE = "https://images.example.com"
# (key, preset, companions) built by both builders
REQUESTS = [
    ("uploads/acme/cat.jpg", "thumb", {}),
    ("uploads/café/my cat (1).jpg", "small", {"fm": "webp"}),
    ("uploads/a+b%.png", "medium", {"dpr": 1.255, "v": "7", "dl": "photo.png"}),
    ("uploads/a.jpg", "og", {"dpr": 2, "fm": "jpg"}),
    ("uploads/ねこ.gif", "large", {"fm": "auto", "dpr": 1}),
]


def test_the_node_tests_pass() -> None:
    result = run_node("--test", "--test-reporter=tap", "tests/unit/delivery/browser_urls.test.mjs")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    passed = re.search(r"^# pass (\d+)$", result.stdout, re.MULTILINE)
    assert "# fail 0" in result.stdout and passed and int(passed.group(1)) >= 10


def browser_urls() -> list[str]:
    script = (
        "import { ImageUrls } from './functions/imgpipe/browser/imgpipe-urls.mjs';"
        f"const urls = new ImageUrls({json.dumps(BASE)});"
        f"const requests = {json.dumps(REQUESTS, ensure_ascii=False)};"
        "console.log(JSON.stringify(requests.map(([k, p, o]) => urls.url(k, p, o))));"
    )
    result = run_node("--input-type=module", "-e", script)
    assert result.returncode == 0, result.stderr
    urls: list[str] = json.loads(result.stdout)
    return urls


def test_the_browser_writes_the_same_urls_as_the_python_sdk() -> None:
    sdk = ImageUrls(BASE)
    expected = [sdk.url(key, preset=preset, **companions) for key, preset, companions in REQUESTS]  # type: ignore[arg-type]
    assert browser_urls() == expected


@pytest.mark.parametrize("url", browser_urls())
def test_the_edge_serves_every_browser_url_unsigned(url: str) -> None:
    parts = urlsplit(url)
    delivery = at_edge(parts.path, parts.query, "image/avif", policy="presets-unsigned", secrets=[], now=0)
    assert delivery.verdict is SignatureVerdict.MISSING
    assert delivery.preset_only
