"""The browser module under Node, and its URLs against the Python SDK's and the edge's."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

import pytest

from imgpipe.client import ImageUrls, SigningKeyMissingError
from imgpipe.core.signing import SignatureVerdict
from imgpipe.core.spec import DEFAULT_PRESETS
from imgpipe.delivery import Refused, at_edge
from tests.fakes.delivery import KEYS, NOW, SECRETS
from tests.node import run_node

BASE = "https://images.example.com"
PRESETS = {**DEFAULT_PRESETS, "crisp": "w=300&dpr=1.5"}
# (key, preset, options) the edge serves unsigned: both builders write them, the same way
REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("uploads/acme/cat.jpg", "thumb", {}),
    ("uploads/café/my cat (1).jpg", "small", {"fm": "webp"}),
    ("uploads/a+b%.png", "medium", {"dpr": 3, "fm": "png"}),
    ("uploads/a.jpg", "og", {"dpr": 2, "fm": "jpg"}),
    ("uploads/ねこ.gif", "large", {"fm": "auto", "dpr": 1}),
    ("uploads/a.jpg", "crisp", {"dpr": 1}),  # the preset's own dpr is 1.5: dpr=1 must be written
    ("uploads/a.jpg", "crisp", {"dpr": 1.5, "fm": "avif"}),
]
# (key, preset, options) that need a signature: the browser refuses them, the SDK signs them
SIGNED_ONLY: list[tuple[str, str, dict[str, Any]]] = [
    ("uploads/a.jpg", "small", {"v": "7"}),
    ("uploads/a.jpg", "medium", {"dl": "photo.png", "fm": "png"}),
    ("uploads/a.jpg", "small", {"dpr": 1.255}),
    ("uploads/a.jpg", "small", {"dpr": 2.5, "fm": "webp"}),
    ("uploads/a.jpg", "crisp", {"dpr": 4}),
]


def test_the_node_tests_pass() -> None:
    result = run_node("--test", "--test-reporter=tap", "tests/unit/delivery/browser_urls.test.mjs")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    passed = re.search(r"^# pass (\d+)$", result.stdout, re.MULTILINE)
    assert "# fail 0" in result.stdout and passed and int(passed.group(1)) >= 10


def browser_results(requests: list[tuple[str, str, dict[str, Any]]]) -> list[dict[str, str]]:
    """What the browser module answers for each request: {"url": …} or {"error": class, "message": …}."""
    script = (
        "import { ImageUrls } from './functions/imgpipe/browser/imgpipe-urls.mjs';"
        f"const urls = new ImageUrls({json.dumps(BASE)}, {{ presets: {json.dumps(PRESETS)} }});"
        f"const requests = {json.dumps(requests, ensure_ascii=False)};"
        "console.log(JSON.stringify(requests.map(([k, p, o]) => {"
        "  try { return { url: urls.url(k, p, o) }; }"
        "  catch (e) { return { error: e.constructor.name, message: e.message }; }"
        "})));"
    )
    result = run_node("--input-type=module", "-e", script)
    assert result.returncode == 0, result.stderr
    answers: list[dict[str, str]] = json.loads(result.stdout)
    return answers


def browser_urls() -> list[str]:
    answers = browser_results(REQUESTS)
    assert all("url" in answer for answer in answers), answers
    return [answer["url"] for answer in answers]


def test_the_browser_writes_the_same_urls_as_the_python_sdk() -> None:
    # Given requests the edge serves unsigned
    # When the Python SDK (without keys) and the browser module build them
    sdk = ImageUrls(BASE, presets=PRESETS)
    expected = [sdk.url(key, preset=preset, **options) for key, preset, options in REQUESTS]
    # Then they write the same URLs
    assert browser_urls() == expected


@pytest.mark.parametrize("url", browser_urls())
def test_the_edge_serves_every_browser_url_unsigned(url: str) -> None:
    parts = urlsplit(url)
    delivery = at_edge(
        parts.path, parts.query, "image/avif", policy="presets-unsigned", secrets=[], presets=PRESETS, now=0
    )
    assert delivery.verdict is SignatureVerdict.MISSING
    assert delivery.preset_only


def test_what_needs_a_signature_the_browser_refuses_and_the_sdk_signs() -> None:
    # Given preset requests with v, dl or a dpr off the ladder
    # When the browser module builds them
    answers = browser_results(SIGNED_ONLY)
    # Then it throws, saying the URL needs a signature and where to build it
    for (key, preset, options), answer in zip(SIGNED_ONLY, answers, strict=True):
        assert answer.get("error") == ("RangeError" if "dpr" in options else "TypeError"), answer
        assert (
            "needs a signature" in answer["message"]
            and "server that holds the signing keys" in answer["message"]
        )
        # and the Python SDK refuses them without keys, and signs them with keys
        with pytest.raises(SigningKeyMissingError):
            ImageUrls(BASE, presets=PRESETS).url(key, preset=preset, **options)
        signed = ImageUrls(BASE, keys=KEYS, presets=PRESETS).url(key, preset=preset, **options)
        parts = urlsplit(signed)
        delivery = at_edge(
            parts.path,
            parts.query,
            None,
            policy="presets-unsigned",
            secrets=SECRETS,
            presets=PRESETS,
            now=NOW,
        )
        assert delivery.verdict is SignatureVerdict.VALID
        # which the edge would have refused unsigned
        with pytest.raises(Refused):
            at_edge(
                parts.path,
                parts.query.rsplit("&s=", 1)[0],
                None,
                policy="presets-unsigned",
                secrets=SECRETS,
                presets=PRESETS,
                now=NOW,
            )
