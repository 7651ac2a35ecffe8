"""What survives a kill of `imgpipe dev`: the embedded AWS's durable state, journaled in the data directory.

moto keeps everything in memory. The embedded server (`aws.EmbeddedAws`) writes what the pipeline needs
to this journal *before* it answers the request that changed it, so anything a client was told succeeded
is on disk:

- `store/objects.jsonl` + `store/blobs/`: the current object (bytes, content type, metadata) of every key
  the stack's buckets hold after each write or delete. Blobs are named by their sha256, written to a
  temporary file, fsynced and renamed; the line naming them is appended and fsynced after.
- `store/table.jsonl`: every DynamoDB item write that succeeded (PutItem, UpdateItem, DeleteItem,
  BatchWriteItem, TransactWriteItems), as the request was sent, appended and fsynced. Replayed in order
  on a fresh table they give the same items (the requests carry their own values and timestamps).
- `store/events.jsonl`: the queue's pending work. Every S3 notification moto sends to a lane queue is
  journaled when S3 accepts the write (`accepted`), and the local Lambda runtime marks it `done` once the
  function has finished it, or counts a failed receive (`failed`), so that after a restart the work that
  was waiting or in flight goes back to its queue, and what had used up its receives to the DLQ.

On start the journal is read, restored into the fresh embedded AWS, and compacted (rewritten as a
snapshot: the items of the table, the objects, the pending events) with the same write-then-rename rule.
A line torn by a kill is the last one, and was never acknowledged: it is ignored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

_log = logging.getLogger("imgpipe-dev")

STORE_DIR = "store"
OBJECTS_FILE = "objects.jsonl"
TABLE_FILE = "table.jsonl"
EVENTS_FILE = "events.jsonl"
BLOBS_DIR = "blobs"


def _fsync_directory(path: Path) -> None:
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:  # not every platform opens directories
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_durably(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write `data` to `path` whole or not at all, and on disk when this returns (fsync + atomic rename)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(temporary, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.chmod(temporary, mode)
    os.replace(temporary, path)
    _fsync_directory(path.parent)


def event_identity(body: Mapping[str, Any]) -> str | None:
    """One S3 notification's identity: event, bucket, key and sequencer (the same after a redelivery or
    a hand-over from the interactive to the bulk queue, which send the same body)."""
    records = body.get("Records")
    if not isinstance(records, list) or not records or not isinstance(records[0], dict):
        return None
    record = records[0]
    s3 = record.get("s3") or {}
    entity = s3.get("object") or {}
    bucket = (s3.get("bucket") or {}).get("name")
    if not entity.get("key") or not bucket:
        return None
    return f"{record.get('eventName')} {bucket}/{entity['key']} {entity.get('sequencer') or ''}"


@dataclass
class StoredObject:
    bucket: str
    key: str
    blob: str
    metadata: dict[str, str]


@dataclass
class PendingEvent:
    identity: str
    queue: str
    body: dict[str, Any]
    receives: int = 0


@dataclass
class JournalState:
    """What a journal holds, read back: current objects, table writes in order, pending events."""

    objects: dict[tuple[str, str], StoredObject] = field(default_factory=dict)
    table_writes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    events: dict[str, PendingEvent] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.objects or self.table_writes or self.events)


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return
    for line in raw.split(b"\n"):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:  # the last line, torn by a kill before it was acknowledged
            _log.warning("ignoring a torn line in %s", path)
            continue
        if isinstance(entry, dict):
            yield entry


class StoreJournal:
    """Appends durably, one lock for all three files (writes arrive from the server's request threads)."""

    def __init__(self, path: Path, *, durable_buckets: frozenset[str] = frozenset()) -> None:
        self.path = path
        # Buckets whose writes are fsynced (the originals: what a 204 promised). The others (renditions,
        # a cache delivery can render again) are journaled too, without waiting for the disk.
        self.durable_buckets = durable_buckets
        self.blobs = path / BLOBS_DIR
        self._lock = threading.Lock()
        self._files: dict[str, BinaryIO] = {}

    @property
    def exists(self) -> bool:
        return self.path.is_dir()

    def open(self) -> StoreJournal:
        self.blobs.mkdir(parents=True, exist_ok=True)
        return self

    def close(self) -> None:
        with self._lock:
            for file in self._files.values():
                file.close()
            self._files.clear()

    def _append(self, name: str, entry: Mapping[str, Any], *, sync: bool = True) -> None:
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
        with self._lock:
            file = self._files.get(name)
            if file is None:
                file = self._files[name] = open(self.path / name, "ab")  # noqa: SIM115 - kept open
            file.write(line)
            file.flush()
            if sync:
                os.fsync(file.fileno())

    # Writes

    def put_object(self, bucket: str, key: str, data: bytes, metadata: Mapping[str, str]) -> None:
        durable = bucket in self.durable_buckets
        blob = hashlib.sha256(data).hexdigest()
        file = self.blobs / blob
        if not file.exists():
            if durable:
                write_durably(file, data)
            else:
                temporary = file.with_name(f".{blob}.{threading.get_ident()}.tmp")
                temporary.write_bytes(data)
                os.replace(temporary, file)
        self._append(
            OBJECTS_FILE, {"b": bucket, "k": key, "blob": blob, "meta": dict(metadata)}, sync=durable
        )

    def delete_object(self, bucket: str, key: str) -> None:
        self._append(OBJECTS_FILE, {"b": bucket, "k": key, "blob": None}, sync=bucket in self.durable_buckets)

    def table_write(self, target: str, request: Mapping[str, Any]) -> None:
        self._append(TABLE_FILE, {"op": target, "request": request})

    def event_accepted(self, queue: str, body: Mapping[str, Any]) -> None:
        identity = event_identity(body)
        if identity is not None:
            self._append(EVENTS_FILE, {"op": "accepted", "id": identity, "queue": queue, "body": body})

    def event_done(self, identity: str) -> None:
        self._append(EVENTS_FILE, {"op": "done", "id": identity})

    def event_failed(self, identity: str, receives: int) -> None:
        self._append(EVENTS_FILE, {"op": "failed", "id": identity, "receives": receives})

    # Reading back

    def read(self) -> JournalState:
        state = JournalState()
        for entry in _lines(self.path / OBJECTS_FILE):
            place = (str(entry.get("b")), str(entry.get("k")))
            if entry.get("blob"):
                state.objects[place] = StoredObject(*place, str(entry["blob"]), dict(entry.get("meta") or {}))
            else:
                state.objects.pop(place, None)
        for entry in _lines(self.path / TABLE_FILE):
            if isinstance(entry.get("request"), dict):
                state.table_writes.append((str(entry.get("op")), entry["request"]))
        for entry in _lines(self.path / EVENTS_FILE):
            identity = str(entry.get("id"))
            operation = entry.get("op")
            if operation == "accepted" and isinstance(entry.get("body"), dict):
                state.events[identity] = PendingEvent(identity, str(entry.get("queue")), entry["body"])
            elif operation == "done":
                state.events.pop(identity, None)
            elif operation == "failed" and identity in state.events:
                state.events[identity].receives = int(entry.get("receives") or 0)
        return state

    def blob(self, name: str) -> bytes:
        return (self.blobs / name).read_bytes()

    def compact(
        self,
        objects: Mapping[tuple[str, str], StoredObject],
        items: Mapping[str, list[Any]],
        events: Mapping[str, PendingEvent],
    ) -> None:
        """Rewrite the journal as a snapshot: `items` per table (as DynamoDB returns them), the current
        objects, the pending events. Each file is replaced whole; unreferenced blobs are removed."""
        self.close()
        table_lines = [
            {"op": "PutItem", "request": {"TableName": table, "Item": item}}
            for table, table_items in items.items()
            for item in table_items
        ]
        object_lines = [
            {"b": o.bucket, "k": o.key, "blob": o.blob, "meta": o.metadata} for o in objects.values()
        ]
        event_lines = [
            {"op": "accepted", "id": e.identity, "queue": e.queue, "body": e.body} for e in events.values()
        ] + [
            {"op": "failed", "id": e.identity, "receives": e.receives} for e in events.values() if e.receives
        ]
        for name, lines in (
            (TABLE_FILE, table_lines),
            (OBJECTS_FILE, object_lines),
            (EVENTS_FILE, event_lines),
        ):
            text = "".join(
                json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n" for line in lines
            )
            write_durably(self.path / name, text.encode("utf-8"))
        referenced = {o.blob for o in objects.values()}
        for file in self.blobs.iterdir():
            if file.name not in referenced:
                file.unlink(missing_ok=True)
