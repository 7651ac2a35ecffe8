"""A small client of the management API (`/v1`) for the CLI: `imgpipe export`.

The local stack's API is found through the data directory (its state file for the URL, `api-keys.json`
for the key); a deployed one through its stack outputs (`ApiUrl`) and a key given with `--api-key`.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from imgpipe.dev.datadir import DataDir, pid_alive
from imgpipe.dev.ops import TargetError, read_stack_outputs

API_KEY_HEADER = "x-api-key"
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ApiEndpoint:
    url: str  # ends with /v1
    key: str
    description: str = ""


class ApiError(Exception):
    """A refusal of the API (a problem document), or no answer at all (`status` 0)."""

    def __init__(self, status: int, detail: str, problem: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.problem = problem or {}

    @property
    def code(self) -> str:
        kind = str(self.problem.get("type") or "")
        return kind.rsplit(":", 1)[-1] if kind else ""


def local_api(data_dir: Path, key: str | None = None) -> ApiEndpoint:
    data = DataDir(data_dir)
    state = data.read_state()
    if state is None:
        raise TargetError(
            f"no local stack is running (no {data.state_file}); start one with `make dev` "
            "(or `imgpipe dev --data DIR`), or pass --stack-outputs FILE --api-key KEY for a deployed stack"
        )
    pid = int(state.get("pid", 0))
    if pid and not pid_alive(pid):
        raise TargetError(
            f"the local stack recorded in {data.state_file} (pid {pid}) is not running any more; "
            "start it again with `make dev`"
        )
    url = str(state.get("api_url") or f"{str(state['url']).rstrip('/')}/v1")
    if key is None:
        tenant = state.get("tenant")
        keys = data.read_api_keys()
        chosen = next((entry for entry in keys if entry.tenant == tenant), keys[0] if keys else None)
        if chosen is None:
            raise TargetError(f"no API key in {data.api_keys_file}; restart the local stack to create one")
        key = chosen.value
    return ApiEndpoint(url=url.rstrip("/"), key=key, description=f"local API at {url}")


def deployed_api(outputs_file: Path, key: str | None) -> ApiEndpoint:
    outputs = read_stack_outputs(outputs_file)
    url = outputs.get("ApiUrl")
    if not url:
        raise TargetError(f"{outputs_file}: the stack outputs name no ApiUrl")
    if not key:
        raise TargetError("a deployed API needs an API key: --api-key KEY (or $IMGPIPE_API_KEY)")
    return ApiEndpoint(url=url.rstrip("/"), key=key, description=f"API at {url}")


def api_key_from_env() -> str | None:
    return os.environ.get("IMGPIPE_API_KEY") or None


def call(
    endpoint: ApiEndpoint,
    method: str,
    path: str,
    payload: Any = None,
    *,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """One request; the JSON answer, or ApiError with the problem document."""
    body = json.dumps(payload).encode("utf-8") if payload is not None else None
    headers = {API_KEY_HEADER: endpoint.key, "accept": "application/json"}
    if body is not None:
        headers["content-type"] = "application/json"
    request = urllib.request.Request(endpoint.url + path, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            document = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            problem = json.loads(raw)
        except ValueError:
            problem = {}
        if not isinstance(problem, dict):
            problem = {}
        detail = str(problem.get("detail") or problem.get("message") or error.reason)
        raise ApiError(error.code, detail, problem) from None
    except (OSError, ValueError) as error:
        raise ApiError(0, f"no answer from {endpoint.url}: {error}") from None
    if not isinstance(document, dict):
        raise ApiError(0, f"{endpoint.url}{path} answered something other than a JSON object")
    return document


def wait_for_batch(
    endpoint: ApiEndpoint,
    batch_id: str,
    *,
    timeout: float,
    interval: float = 1.0,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Poll `GET /v1/batches/{id}` until it is completed (or every expected upload is done) or time runs
    out; the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        batch = call(endpoint, "GET", f"/batches/{quote(batch_id, safe='')}")
        if progress is not None:
            progress(batch)
        expected = int(batch.get("expected") or 0)
        done = bool(batch.get("completed")) or (expected > 0 and int(batch.get("done") or 0) >= expected)
        if done or time.monotonic() >= deadline:
            return batch
        time.sleep(interval)


def export_batch(
    endpoint: ApiEndpoint, batch_id: str, output: Path, *, timeout: float = 300.0
) -> dict[str, Any]:
    """`POST /v1/batches/{id}/export` (the ZIP is built within the request), then the ZIP downloaded from
    its presigned URL to `output` (written whole or not at all). The export's answer."""
    export = call(endpoint, "POST", f"/batches/{quote(batch_id, safe='')}/export", timeout=timeout)
    url = export.get("url")
    if not isinstance(url, str) or not url:
        raise ApiError(0, "the export answer carries no download URL")
    partial = output.with_name(f".{output.name}.{os.getpid()}.part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, partial.open("wb") as file:
            while chunk := response.read(_CHUNK):
                file.write(chunk)
        partial.replace(output)
    except OSError as error:
        raise ApiError(0, f"cannot download the export: {error}") from None
    finally:
        partial.unlink(missing_ok=True)
    return export
