"""The journal of the embedded AWS on a restart: unfinished events go back where they were (their queue,
or the DLQ when they had used up their receives), and a line torn by a kill is ignored."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from imgpipe.dev import DevOptions, DevStack
from imgpipe.dev.aws import delete_marker_event
from imgpipe.dev.datadir import DataDir
from imgpipe.dev.journal import EVENTS_FILE, StoreJournal, event_identity
from imgpipe.dev.ops import queue_depths
from infra.constants import INTERACTIVE_QUEUE, ORIGINALS_BUCKET
from tests.local.conftest import MAX_RECEIVE_COUNT, local_config


def _event(key: str, sequencer: str) -> dict[str, object]:
    body = delete_marker_event(ORIGINALS_BUCKET, "us-east-1", key, None, "interactive-0")
    body["Records"][0]["s3"]["object"]["sequencer"] = sequencer
    return body


@pytest.fixture
def restarted(tmp_path: Path) -> Iterator[DevStack]:
    # Given a data directory whose journal holds two unfinished events, one with its receives used up,
    # one finished, and a last line torn by a kill
    data = DataDir(tmp_path).ensure()
    journal = StoreJournal(data.store_dir).open()
    tired, fresh, finished = (_event(f"uploads/local/{name}", f"0{n}") for n, name in enumerate("abc"))
    for body in (tired, fresh, finished):
        journal.event_accepted(INTERACTIVE_QUEUE, body)
    journal.event_failed(str(event_identity(tired)), MAX_RECEIVE_COUNT)
    journal.event_done(str(event_identity(finished)))
    journal.close()
    with (data.store_dir / EVENTS_FILE).open("ab") as file:
        file.write(b'{"op":"done","id":"Obj')
    # When the stack starts on it
    stack = DevStack(
        DevOptions(data_dir=tmp_path, port=0, seed=False, visibility_timeout=2, config=local_config())
    ).start()
    try:
        yield stack
    finally:
        stack.stop(grace_seconds=5)


def test_unfinished_events_go_back_to_their_queue_or_dead_letter_queue(restarted: DevStack) -> None:
    # Then the one with its receives used up is in the DLQ, the other was handed to ingest again
    assert restarted.restored == 2
    deadline = time.monotonic() + 30
    while True:
        depth = queue_depths(restarted.target())["interactive"]
        if depth["queue"]["visible"] + depth["queue"]["in_flight"] == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert depth["dlq"]["visible"] == 1
    assert depth["queue"]["visible"] + depth["queue"]["in_flight"] == 0
    assert restarted.pollers["interactive"].invocations, "the other one was not handed to ingest"
