"""The gallery in headless Chromium: it loads, uploads a file through its file input, and shows it READY.

Chromium is driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: JSON messages ending
in NUL on fds 3 and 4), so no driver and no WebSocket library are needed. Skipped where no Chromium is
installed (`apt-get install chromium` on Debian).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.builders import encode, photo_like
from tests.local.conftest import LiveStack

CHROMIUM = next(
    (found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))),
    None,
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium here (Debian: apt-get install chromium)"
)


class DevTools:
    """A minimal DevTools-protocol client over Chromium's debugging pipe."""

    def __init__(self, binary: str, profile: Path) -> None:
        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()

        def wire_pipes() -> None:  # in the child: Chromium reads commands on fd 3 and writes on fd 4
            os.dup2(commands_read, 3)
            os.dup2(replies_write, 4)

        self.process = subprocess.Popen(
            [
                binary,
                "--headless=new",
                "--remote-debugging-pipe",
                "--no-sandbox",  # running as root in a container
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=wire_pipes,  # noqa: PLW1509 - only dup2, before exec
        )
        os.close(commands_read)
        os.close(replies_write)
        self._next_id = 0
        self._lock = threading.Lock()
        self._answers: dict[int, dict[str, Any]] = {}
        self._arrived = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.session: str | None = None

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self._replies, 65536)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "id" in message:
                    with self._arrived:
                        self._answers[message["id"]] = message
                        self._arrived.notify_all()

    def send(self, method: str, timeout: float = 20.0, **params: Any) -> dict[str, Any]:
        with self._lock:
            self._next_id += 1
            number = self._next_id
        message: dict[str, Any] = {"id": number, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            message["sessionId"] = self.session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._arrived:
            while number not in self._answers:
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"Chromium did not answer {method} within {timeout} s"
                self._arrived.wait(remaining)
            answer = self._answers.pop(number)
        assert "error" not in answer, f"{method}: {answer['error']}"
        result: dict[str, Any] = answer.get("result", {})
        return result

    def open(self, url: str) -> None:
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send("Page.enable")
        self.send("Page.navigate", url=url)

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30.0) -> Any:
        """The expression's value once truthy (errors count as not yet: the page may still be loading)."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.send(
                "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
            )
            value = None if "exceptionDetails" in result else result["result"].get("value")
            if value:
                return value
            assert time.monotonic() < deadline, f"still false after {timeout} s: {expression}"
            time.sleep(0.2)

    def close(self) -> None:
        with contextlib.suppress(AssertionError, OSError):
            self.send("Browser.close", timeout=5)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        os.close(self._commands)
        os.close(self._replies)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[DevTools]:
    assert CHROMIUM is not None
    tools = DevTools(CHROMIUM, tmp_path / "profile")
    try:
        yield tools
    finally:
        tools.close()


def test_the_gallery_uploads_a_dropped_file_and_shows_it_ready(
    live: LiveStack, browser: DevTools, tmp_path: Path
) -> None:
    # Given the gallery, loaded in Chromium
    browser.open(live.url + "/")
    browser.wait_for("document.body && document.body.dataset.ready === '1'")
    assert "API /v1: on" in browser.evaluate("document.getElementById('chips').textContent")
    # When a file is chosen in its file input (the drop zone's own input)
    name = f"browser-{time.monotonic_ns()}.jpg"
    picture = tmp_path / name
    picture.write_bytes(encode(photo_like(360, 240), "JPEG"))
    document = browser.send("DOM.getDocument")["root"]["nodeId"]
    picker = browser.send("DOM.querySelector", nodeId=document, selector="#picker")["nodeId"]
    browser.send("DOM.setFileInputFiles", nodeId=picker, files=[str(picture)])
    # Then it is uploaded by presigned POST, processed, and shown READY with its thumbnail
    key = f"uploads/local/{name}"
    card = f"document.querySelector('.card[data-key=\"{key}\"]')"
    browser.wait_for(f"{card} && {card}.dataset.status === 'READY'", timeout=60)
    browser.wait_for(
        f"{card}.querySelector('img.loaded') && {card}.querySelector('img').naturalWidth === 200"
    )
    placeholder = browser.evaluate(f"{card}.querySelector('.thumb').style.backgroundImage")
    assert placeholder.startswith('url("data:image/png'), "the BlurHash placeholder is drawn"
    # ... and hidden once the thumbnail is in, so it cannot show through transparent pixels
    shown = browser.evaluate(f"getComputedStyle({card}.querySelector('.thumb')).backgroundImage")
    assert shown == "none", shown
    # And a file dropped on the drop zone (a real drag and drop) goes the same way
    dropped = tmp_path / f"dropped-{time.monotonic_ns()}.png"
    dropped.write_bytes(encode(photo_like(120, 90), "PNG"))
    x, y = browser.evaluate(
        "(() => { const r = document.getElementById('drop').getBoundingClientRect();"
        " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
    )
    drag = {"items": [], "files": [str(dropped)], "dragOperationsMask": 1}
    for kind in ("dragEnter", "dragOver", "drop"):
        browser.send("Input.dispatchDragEvent", type=kind, x=x, y=y, data=drag)
    dropped_card = f"document.querySelector('.card[data-key=\"uploads/local/{dropped.name}\"]')"
    browser.wait_for(f"{dropped_card} && {dropped_card}.dataset.status === 'READY'", timeout=60)
    # And the detail view shows its facts and builds signed URLs in the playground
    browser.evaluate(f"{card}.click()")
    browser.wait_for("document.getElementById('detail').open")
    facts = browser.wait_for("document.getElementById('facts').textContent")
    assert "360 × 240" in facts and "blurhash" in facts
    browser.evaluate(
        "(() => { const w = document.querySelector('#playground [name=w]'); w.value = '120';"
        " w.dispatchEvent(new Event('input', {bubbles: true})); })()"
    )
    url = browser.wait_for("(document.getElementById('url-text').textContent.match(/w=120.*&s=/) || [''])[0]")
    assert url
    if live.stack.resize is not None and live.stack.resize.available:
        width = browser.wait_for(
            "(() => { const img = document.querySelector('#live-image img'); "
            "return img && img.complete ? img.naturalWidth : 0; })()"
        )
        assert width == 120
