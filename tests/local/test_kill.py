"""`kill -9` of a real `imgpipe dev` process, at a chosen moment, then a restart on the same data directory:
every upload the stack accepted (a 204 to its presigned POST) is accounted for exactly once, READY,
REJECTED or in a dead-letter queue, with the ids and records it had; the batch declared is still there."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.builders import colour_card, encode
from tests.local.conftest import fetch, multipart

ROOT = Path(__file__).resolve().parents[2]
UPLOADS = 24
BATCH_UPLOADS = 6
HOSTILE_EVERY = 7  # every 7th upload is not an image: it must end REJECTED, not lost
FINAL = ("READY", "REJECTED", "DELETED")


@dataclass
class DevProcess:
    process: subprocess.Popen[bytes]
    data_dir: Path
    log: Path

    @property
    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads((self.data_dir / "state.json").read_text())
        return state

    @property
    def url(self) -> str:
        return str(self.state["url"])

    @property
    def api_key(self) -> str:
        keys = json.loads((self.data_dir / "api-keys.json").read_text())["keys"]
        return str(keys[0]["value"])

    def api(self, method: str, path: str, payload: Any = None) -> Any:
        body = json.dumps(payload).encode() if payload is not None else None
        headers = {"x-api-key": self.api_key, "content-type": "application/json"}
        answer = fetch(f"{self.url}/v1{path}", method=method, headers=headers, body=body)
        return answer.status, (answer.json() if answer.body else None)

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


def start_dev(data_dir: Path, log: Path) -> DevProcess:
    (data_dir / "state.json").unlink(missing_ok=True)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "imgpipe.cli",
            "dev",
            "--port",
            "0",
            "--data",
            str(data_dir),
            "--no-seed",
            "--visibility-timeout",
            "2",
        ],
        cwd=ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    started = DevProcess(process, data_dir, log)
    deadline = time.monotonic() + 120
    while not (data_dir / "state.json").exists():
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "imgpipe dev did not start in 120 s"
        time.sleep(0.2)
    return started


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[list[DevProcess]]:
    started: list[DevProcess] = []
    yield started
    for each in started:
        if each.process.poll() is None:
            each.process.terminate()
            try:
                each.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                each.kill()


def upload(dev: DevProcess, name: str, data: bytes, batch_id: str | None = None) -> str:
    request: dict[str, Any] = {"filename": name, "content_type": "image/png", "size": len(data)}
    if batch_id:
        request["batch_id"] = batch_id
    status, post = dev.api("POST", "/uploads", request)
    assert status in (200, 201), post
    content_type, body = multipart(post["fields"], data, name)
    url = post["url"] if post["url"].startswith("http") else dev.url + post["url"]
    answer = fetch(url, method="POST", headers={"content-type": content_type}, body=body)
    assert answer.status == 204, answer.body
    return str(post["fields"]["key"])


def records_by_key(dev: DevProcess) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    cursor: str | None = None
    while True:
        query = "?limit=100" + (f"&cursor={cursor}" if cursor else "")
        status, page = dev.api("GET", f"/images{query}")
        assert status == 200, page
        for item in page["items"]:
            found.setdefault(item["source_key"], []).append(item)
        cursor = page.get("next_cursor")
        if not cursor:
            return found


def dead_letters(dev: DevProcess) -> int:
    out = subprocess.run(
        [sys.executable, "-m", "imgpipe.cli", "status", "--json", "--data", str(dev.data_dir)],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    queues = json.loads(out)["queues"]
    return sum(lane["dlq"]["visible"] + lane["dlq"]["in_flight"] for lane in queues.values())


def image(index: int) -> tuple[str, bytes]:
    if index % HOSTILE_EVERY == HOSTILE_EVERY - 1:
        return f"hostile-{index}.png", b"\x89PNG\r\n\x1a\n but nothing after the signature"
    return f"photo-{index}.png", encode(colour_card(160 + index, 120), "PNG")


@pytest.mark.parametrize("moment", ["right-after-the-last-204", "with-five-ready"])
def test_a_kill_loses_no_accepted_upload_and_redoes_none(
    moment: str, tmp_path: Path, dev: list[DevProcess]
) -> None:
    data_dir, log = tmp_path / "data", tmp_path / "dev.log"
    # Given a running imgpipe dev, a declared batch and 30 uploads it answered 204
    first = start_dev(data_dir, log)
    dev.append(first)
    status, batch = first.api("POST", "/batches", {"batch_id": "kill-batch", "expected": BATCH_UPLOADS})
    assert status in (200, 201), batch
    keys = [upload(first, *image(index)) for index in range(UPLOADS)]
    keys += [upload(first, *image(UPLOADS + index), batch_id="kill-batch") for index in range(BATCH_UPLOADS)]
    ready_before: dict[str, dict[str, Any]] = {}
    if moment == "with-five-ready":
        deadline = time.monotonic() + 120
        while len(ready_before) < 5:
            assert time.monotonic() < deadline, "fewer than 5 READY after 120 s"
            ready_before = {
                key: items[0]
                for key, items in records_by_key(first).items()
                if key in keys and items[0]["status"] in FINAL
            }
            time.sleep(0.1)
    # When the process is killed at that moment and started again on the same data directory
    first.kill()
    offset = log.stat().st_size
    second = start_dev(data_dir, log)
    dev.append(second)
    # Then every accepted upload ends READY, REJECTED or in a dead-letter queue, exactly once
    deadline = time.monotonic() + 240
    while True:
        records = records_by_key(second)
        unfinished = [key for key in keys if not records.get(key) or records[key][0]["status"] not in FINAL]
        if len(unfinished) <= dead_letters(second) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(unfinished) <= dead_letters(second), f"lost: {unfinished}"
    assert all(len(records.get(key, [])) <= 1 for key in keys), "an upload was recorded twice"
    for key in keys:
        if key in records:
            expected = "REJECTED" if "hostile" in key else "READY"
            assert records[key][0]["status"] == expected, (key, records[key][0])
    # And what had finished before the kill was not done again: the same record, no second event
    console = log.read_bytes()[offset:].decode("utf-8", "replace")
    for key, before in ready_before.items():
        assert records[key][0] == before
        assert f"  {key}  " not in console, f"{key} was processed again after the restart"
    # And the batch is still there, and completes once all of its uploads are in
    status, restored = second.api("GET", "/batches/kill-batch")
    assert status == 200, restored
    assert restored["expected"] == BATCH_UPLOADS and restored["done"] == BATCH_UPLOADS
