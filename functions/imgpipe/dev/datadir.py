"""The data directory of a local stack (`--data DIR`, default `.imgpipe/`).

What is in it:

- `signing-keys.json`: the local URL-signing keys (`{"key id": "secret"}`), generated on first start,
  readable by the owner only. The directory carries its own `.gitignore` (`*`), so it is never committed.
- `api-keys.json`: the local management-API keys (`{"keys": [{"id", "value", "tenant", "plan"}]}`), one
  generated for the stack's tenant on first start, readable by the owner only: the dev server checks
  `x-api-key` against it as API Gateway checks its keys, and binds each key id to its tenant in the table.
- `state.json`: where the running stack listens (gallery URL, embedded AWS endpoint, resource names); the
  CLI finds the stack through it. Written at start, removed at a clean stop.
- `store/`: the embedded AWS's journal (`imgpipe.dev.journal`): every object of the stack's buckets, every
  write to the table, the upload events not finished yet. moto keeps everything in memory; the journal
  is written before a write is answered, and restored on the next start, so records, ids, batches and
  pending uploads survive a kill. (`originals/` and `originals.json`, the older layout, are imported
  once as new uploads.)
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV_DATA_DIR = "IMGPIPE_DATA"
DEFAULT_DATA_DIR = ".imgpipe"
STATE_FILE = "state.json"
KEYS_FILE = "signing-keys.json"
API_KEYS_FILE = "api-keys.json"
AWS_SECRET_FILE = "aws-secret"
LOCAL_API_PLAN = "pro"
STORE_DIR = "store"
SEEDED_FILE = ".seeded"
ORIGINALS_DIR = "originals"  # the older layout, imported once
MANIFEST_FILE = "originals.json"
LOCAL_KEY_ID = "local-1"


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (the stack recorded in a state file may have died)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def default_data_dir() -> Path:
    return Path(os.environ.get(ENV_DATA_DIR) or DEFAULT_DATA_DIR)


def _write_json(path: Path, payload: Any, mode: int = 0o644) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    temporary.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.chmod(temporary, mode)
    os.replace(temporary, path)


@dataclass(frozen=True)
class LocalApiKey:
    """One API key as API Gateway holds it: an id (what the function sees) and a secret value (what the
    client sends in `x-api-key`), bound to a tenant and a plan."""

    id: str
    value: str
    tenant: str
    plan: str

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "value": self.value, "tenant": self.tenant, "plan": self.plan}


@dataclass(frozen=True)
class MirroredOriginal:
    key: str
    content_type: str | None
    file: Path


class DataDir:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def ensure(self) -> DataDir:
        self.path.mkdir(parents=True, exist_ok=True)
        ignore = self.path / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# imgpipe dev data: local signing keys and uploads, never committed\n*\n")
        return self

    # Signing keys

    @property
    def keys_file(self) -> Path:
        return self.path / KEYS_FILE

    def signing_keys(self) -> dict[str, str]:
        """The local signing-key document, created with one random key on first use."""
        if self.keys_file.exists():
            document = json.loads(self.keys_file.read_text(encoding="utf-8"))
            if isinstance(document, dict) and document:
                return {str(key): str(value) for key, value in document.items()}
        document = {LOCAL_KEY_ID: secrets.token_urlsafe(32)}  # 43 printable characters
        _write_json(self.keys_file, document, mode=0o600)
        return document

    # The local AWS secret key: presigned POSTs to the dev server are signed and checked with it

    def aws_secret(self) -> str:
        """This data directory's own secret (owner-only file), generated on first use."""
        file = self.path / AWS_SECRET_FILE
        with self._lock:
            try:
                secret = file.read_text(encoding="utf-8").strip()
            except FileNotFoundError:
                secret = ""
            if len(secret) < 32:
                secret = secrets.token_urlsafe(32)
                temporary = file.with_name(f".{file.name}.{os.getpid()}.tmp")
                temporary.touch(mode=0o600)
                os.chmod(temporary, 0o600)
                temporary.write_text(secret + "\n", encoding="utf-8")
                os.replace(temporary, file)
        return secret

    # API keys

    @property
    def api_keys_file(self) -> Path:
        return self.path / API_KEYS_FILE

    def read_api_keys(self) -> list[LocalApiKey]:
        """The keys on file (none when there is no file or it does not parse)."""
        try:
            document = json.loads(self.api_keys_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        entries = document.get("keys") if isinstance(document, dict) else None
        found: list[LocalApiKey] = []
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict):
                continue
            values = [entry.get(name) for name in ("id", "value", "tenant", "plan")]
            if all(isinstance(value, str) and value for value in values):
                found.append(LocalApiKey(*(str(value) for value in values)))
        return found

    def api_keys(self, tenant: str, plan: str = LOCAL_API_PLAN) -> list[LocalApiKey]:
        """The keys on file, with one for `tenant` generated (and written, owner-only) when it has none."""
        with self._lock:
            keys = self.read_api_keys()
            if not any(key.tenant == tenant for key in keys):
                # API Gateway's shapes: a 10-character id, a value of 40 random URL-safe characters.
                keys.append(
                    LocalApiKey(
                        id=secrets.token_hex(5), value=secrets.token_urlsafe(30), tenant=tenant, plan=plan
                    )
                )
                _write_json(self.api_keys_file, {"keys": [key.to_json() for key in keys]}, mode=0o600)
        return keys

    # The running stack

    @property
    def state_file(self) -> Path:
        return self.path / STATE_FILE

    def write_state(self, state: dict[str, Any]) -> None:
        _write_json(self.state_file, state)

    def read_state(self) -> dict[str, Any] | None:
        try:
            state = json.loads(self.state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return state if isinstance(state, dict) else None

    def clear_state(self, pid: int | None = None) -> None:
        state = self.read_state()
        if state is not None and (pid is None or state.get("pid") == pid):
            self.state_file.unlink(missing_ok=True)

    # The journal of the embedded AWS

    @property
    def store_dir(self) -> Path:
        return self.path / STORE_DIR

    @property
    def seeded(self) -> bool:
        return (self.path / SEEDED_FILE).exists() or (self.path / MANIFEST_FILE).exists()

    def mark_seeded(self) -> None:
        (self.path / SEEDED_FILE).touch()

    # The older layout: copies of the originals and the batches, uploaded again on start

    @property
    def manifest_file(self) -> Path:
        return self.path / MANIFEST_FILE

    def _manifest(self) -> dict[str, Any]:
        try:
            manifest = json.loads(self.manifest_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            manifest = {}
        if not isinstance(manifest, dict):
            manifest = {}
        manifest.setdefault("originals", {})
        manifest.setdefault("batches", {})
        return manifest

    def legacy_originals(self) -> list[MirroredOriginal]:
        found = []
        for key, entry in self._manifest()["originals"].items():
            file = self.path / ORIGINALS_DIR / entry["file"]
            if file.is_file():
                found.append(MirroredOriginal(key=key, content_type=entry.get("content_type"), file=file))
        return found

    def legacy_batches(self) -> list[tuple[str, str, int]]:
        found = []
        for name, expected in self._manifest()["batches"].items():
            tenant, _, batch_id = name.partition("/")
            found.append((tenant, batch_id, int(expected)))
        return found

    def remove_legacy(self) -> None:
        """Once imported into the journal, the older copies go (the journal holds the objects now)."""
        self.mark_seeded()
        for entry in self._manifest()["originals"].values():
            (self.path / ORIGINALS_DIR / entry["file"]).unlink(missing_ok=True)
        self.manifest_file.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            (self.path / ORIGINALS_DIR).rmdir()
