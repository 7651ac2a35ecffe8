"""The local stack, started in this process on free ports (tests/local).

One stack per test module, started when the module's first test needs it and stopped after its last:
moto's backends are process-wide, so two stacks cannot run in one process at once, and each module starts
from an empty account and data directory. `LiveStack.restart()` stops the stack and starts it again on
the same data directory. Every thread is a daemon and the fixture's finalizer stops the stack, so a
failing test never leaves a server running.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from imgpipe.dev import DevOptions, DevStack
from imgpipe.dev.ops import wait_for
from imgpipe.records import ImageRecord
from infra.config import LaneConfig, LanesConfig, StageConfig
from infra.constants import BATCHES_PREFIX, ENV_MAX_INLINE_BYTES, UPLOADS_PREFIX

CORPUS = Path(
    os.environ.get("IMGPIPE_CORPUS", Path(__file__).resolve().parents[2].parent / "shared" / "corpus")
)
# Short timeouts keep redelivery tests quick; the lanes keep the deployed batch sizes.
VISIBILITY_TIMEOUT = 2
# Small, so the redirect for renditions too big for a Lambda response is exercised with small images.
MAX_INLINE_BYTES = 150_000
MAX_RECEIVE_COUNT = 3
TENANT = "local"


def local_config() -> StageConfig:
    lanes = LanesConfig(
        interactive=LaneConfig(
            batch_size=1, batching_window_seconds=0, max_concurrency=20, prefixes=(UPLOADS_PREFIX,)
        ),
        bulk=LaneConfig(batch_size=5, batching_window_seconds=1, max_concurrency=5),
        max_receive_count=MAX_RECEIVE_COUNT,
    )
    return StageConfig(stage="local", lanes=lanes)


@dataclass
class LiveStack:
    options: DevOptions
    stack: DevStack = field(init=False)
    console: list[str] = field(default_factory=list)

    def start(self) -> LiveStack:
        self.stack = DevStack(self.options).start()
        return self

    def restart(self) -> DevStack:
        self.stack.stop(grace_seconds=10)
        return self.start().stack

    @property
    def url(self) -> str:
        return self.stack.url

    def key(self, name: str, batch: str | None = None) -> str:
        """A key no other test uses."""
        folder = f"{BATCHES_PREFIX}{TENANT}/{batch}/" if batch else f"{UPLOADS_PREFIX}{TENANT}/"
        return f"{folder}{uuid.uuid4().hex[:8]}-{name}"

    def wait(self, keys: Sequence[str], timeout: float = 60.0) -> dict[str, ImageRecord]:
        records = wait_for(self.stack.target(), keys, timeout=timeout, interval=0.2)
        pending = {key: (record.status if record else None) for key, record in records.items()}
        unfinished = {
            key: status for key, status in pending.items() if status not in ("READY", "REJECTED", "DELETED")
        }
        assert not unfinished, f"not final after {timeout} s: {unfinished}"
        return {key: record for key, record in records.items() if record is not None}

    def wait_status(self, key: str, status: str, timeout: float = 30.0) -> ImageRecord:
        """The newest record of `key` once it has `status` (for changes after a final state: deletes)."""
        deadline = time.monotonic() + timeout
        while True:
            record = wait_for(self.stack.target(), [key], timeout=0, interval=0)[key]
            if record is not None and record.status == status:
                return record
            assert time.monotonic() < deadline, f"{key} is {record.status if record else None}, not {status}"
            time.sleep(0.2)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    data_dir = tmp_path_factory.mktemp("imgpipe-dev")
    console: list[str] = []
    options = DevOptions(
        data_dir=data_dir,
        port=0,
        seed=False,
        visibility_timeout=VISIBILITY_TIMEOUT,
        config=local_config(),
        echo=console.append,
        environment={ENV_MAX_INLINE_BYTES: str(MAX_INLINE_BYTES)},
    )
    holder = LiveStack(options, console=console).start()
    try:
        yield holder
    finally:
        holder.stack.stop(grace_seconds=10)


@dataclass
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def fetch(
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    follow: bool = False,
) -> Answer:
    request = urllib.request.Request(url, data=body, headers=dict(headers or {}), method=method)
    opener = urllib.request.build_opener() if follow else urllib.request.build_opener(_NoRedirect)
    started = time.monotonic()
    try:
        with opener.open(request, timeout=60) as response:
            return Answer(
                response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
            )
    except urllib.error.HTTPError as error:
        return Answer(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())
    finally:
        assert time.monotonic() - started < 60


def post_json(url: str, payload: Any) -> Answer:
    return fetch(
        url, method="POST", headers={"content-type": "application/json"}, body=json.dumps(payload).encode()
    )


def multipart(fields: Mapping[str, str], file: bytes, filename: str = "upload.bin") -> tuple[str, bytes]:
    boundary = f"----imgpipe{uuid.uuid4().hex}"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + file
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(parts)
