"""`imgpipe upload | url | status | export` against the local stack, found through its state file
(`export` through the management API: tests/local/test_api.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from imgpipe.cli import main
from imgpipe.dev.ops import wait_for
from tests.builders import colour_card, encode
from tests.local.conftest import LiveStack, fetch


def test_upload_waits_and_reports_each_file(
    live: LiveStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = tmp_path / "cli-good.jpg", tmp_path / "cli-bad.png"
    good.write_bytes(encode(colour_card(90, 60), "JPEG"))
    bad.write_bytes(b"definitely not a png")
    data = str(live.options.data_dir)
    code = main(["upload", str(good), str(bad), "--wait", "--timeout", "60", "--data", data])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = dict(line.split("\t", 1) for line in out.splitlines())
    assert lines["uploads/local/cli-good.jpg"].startswith("READY\t90x60 jpeg")
    assert lines["uploads/local/cli-bad.png"].startswith("REJECTED\tnot-an-image")
    assert "2/2 files" in err and "2/2 final" in err  # the progress bars, on stderr


def test_url_signs_what_the_policy_needs(live: LiveStack, capsys: pytest.CaptureFixture[str]) -> None:
    key = live.key("for-url.jpg")
    live.stack.put_original(key, encode(colour_card(100, 100), "JPEG"), "image/jpeg")
    live.wait([key])
    data = str(live.options.data_dir)
    assert main(["url", key, "w=50", "fm=png", "--data", data]) == 0
    url = capsys.readouterr().out.strip()
    assert "&s=" in url  # a transformation needs a signature under presets-unsigned
    answer = fetch(url)
    if answer.status == 501:
        pytest.skip("on-demand delivery is not available yet")
    assert answer.status == 200 and answer.headers["content-type"] == "image/png"
    assert main(["url", key, "preset=thumb", "--data", data]) == 0
    assert capsys.readouterr().out.strip().endswith("?preset=thumb")


def test_status_reads_the_stack_and_export_names_a_missing_batch(
    live: LiveStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(live.options.data_dir)
    assert main(["status", "--json", "--data", data]) == 0
    out = capsys.readouterr().out
    assert '"interactive"' in out and '"READY"' in out
    assert main(["export", "any-batch", "--data", data, "-o", str(tmp_path / "any.zip")]) == 64
    assert "refused: 404 (not-found)" in capsys.readouterr().err


def test_without_a_running_stack_the_cli_says_how_to_start_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--data", str(tmp_path)]) == 69
    assert "make dev" in capsys.readouterr().err


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path: Path) -> None:
    # Given a pipe whose reader has already gone (`imgpipe ... | head` once head has its lines)
    image = tmp_path / "piped.png"
    image.write_bytes(encode(colour_card(30, 20), "PNG"))
    read_end, write_end = os.pipe()
    os.close(read_end)
    # When a command prints into it
    try:
        finished = subprocess.run(
            [sys.executable, "-m", "imgpipe.cli", "inspect", str(image)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            check=False,
            timeout=60,
        )
    finally:
        os.close(write_end)
    # Then it stops with the shell's SIGPIPE status and no traceback
    assert finished.returncode == 141, finished.stderr.decode()
    assert b"Traceback" not in finished.stderr


class _CountingSession:
    """The stack's session, counting the DynamoDB operations its clients call."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.calls: list[str] = []

    def client(self, service: str, **kwargs: Any) -> Any:
        client = self.session.client(service, **kwargs)
        client.meta.events.register(
            "before-call.dynamodb.*", lambda model, **_: self.calls.append(model.name)
        )
        return client


def test_waiting_for_uploads_reads_their_own_records_never_the_whole_table(live: LiveStack) -> None:
    # Given a stack holding other images, and two uploads to wait for
    keys = [live.key("waited-1.jpg"), live.key("waited-2.jpg")]
    for key in keys:
        live.stack.put_original(key, encode(colour_card(70, 50), "JPEG"), "image/jpeg")
    counting = _CountingSession(live.stack.session)
    # When `imgpipe upload --wait` waits for them
    records = wait_for(replace(live.stack.target(), session=counting), keys, timeout=60, interval=0.2)
    # Then it saw both final, by key: GetItem/Query of their records only, no Scan
    assert all(record is not None and record.status == "READY" for record in records.values())
    assert counting.calls and "Scan" not in counting.calls, sorted(set(counting.calls))
