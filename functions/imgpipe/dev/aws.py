"""The embedded AWS of `imgpipe dev`: moto's server on loopback, the stack's resources, and what moto omits.

Everything is created from `infra.constants` (and the lane settings of `infra.config`), the same names
the CDK stack derives its physical names from, so the handlers run against the same layout locally.

moto's server is not thread-safe (its DynamoDB models deepcopy dicts that another request thread is
changing: `RuntimeError: dictionary changed size during iteration`), so `EmbeddedAws` dispatches one
request at a time (SQS long polls excepted: they wait inside moto). It also keeps everything in memory:
with a `journal.StoreJournal`, every write that succeeded is journaled in the data directory before the
client gets its answer, and `restore` puts it back into a fresh server (see `journal`).

moto's S3 notifications differ from AWS in two ways the pipeline relies on, and `MotoShims` makes up for
both, for the dev stack's buckets only (and stops moto's record of every model object, see
`_untracked_model`):

- events carry no `sequencer` (nor `versionId`): a monotonic sequencer (hex, like S3's) is added to each
  event when moto builds it, i.e. in the order S3 accepted the writes;
- a delete on a versioned bucket creates a delete marker without any notification: the shim sends the
  `ObjectRemoved:DeleteMarkerCreated` event AWS sends, to every queue whose filter matches.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from html import unescape
from typing import Any
from urllib.parse import quote_plus, unquote, urlsplit

from moto.core import common_models as moto_models
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.s3 import models as s3_models
from moto.s3 import notifications as s3_notifications
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.test import Client

from imgpipe.dev.journal import JournalState, StoreJournal
from imgpipe.dev.session import LOCAL_ACCESS_KEY, LOCAL_REGION, LocalSession
from infra.config import StageConfig
from infra.constants import (
    BULK_DLQ,
    BULK_QUEUE,
    EVENT_BUS,
    EVENT_SOURCE,
    IMAGES_TABLE,
    IMAGES_TABLE_INDEXES,
    INTERACTIVE_DLQ,
    INTERACTIVE_QUEUE,
    LANE_BULK,
    LANE_INTERACTIVE,
    ORIGINALS_BUCKET,
    TABLE_PARTITION_KEY,
    TABLE_SORT_KEY,
    TRANSFORMED_BUCKET,
    TTL_ATTRIBUTE,
)

# Where the dev stack collects the events ingest publishes (an EventBridge rule targets it), for the
# gallery's event log. Local only: the deployed stack has an archive instead.
EVENTS_QUEUE = "imgpipe-dev-events"
EVENTS_RULE = "imgpipe-dev-all-events"
# Same order as infra/metadata.py (INDEXES): each index is `{name}pk` / `{name}sk`, projecting everything.
DELETE_MARKER_EVENT = "ObjectRemoved:DeleteMarkerCreated"

_log = logging.getLogger("imgpipe-dev")


# DynamoDB requests that change items: journaled when they succeed, replayed in order on restore.
TABLE_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
_DELETE_KEYS = re.compile(rb"<Key>(.*?)</Key>", re.DOTALL)
_WSGI = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _s3_backend() -> Any:
    return s3_models.s3_backends[DEFAULT_ACCOUNT_ID]["aws"]


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body: bytes = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _is_long_poll(target: str, body: bytes) -> bool:
    if not target.endswith(".ReceiveMessage"):
        return False
    try:
        return int(json.loads(body or b"{}").get("WaitTimeSeconds") or 0) > 0
    except (ValueError, AttributeError, TypeError):
        return False


class SerialDispatch:
    """WSGI middleware in front of moto's app: one request at a time, and each successful write journaled
    before its answer leaves (WSGI sends nothing until the app's iterable is returned)."""

    def __init__(self, app: _WSGI, journal: StoreJournal | None, buckets: Iterable[str]) -> None:
        self.app = app
        self.journal = journal
        self.buckets = frozenset(buckets)
        self.lock = threading.RLock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = str(environ.get("HTTP_X_AMZ_TARGET") or "")
        body = _read_body(environ) if target else b""
        if _is_long_poll(target, body):
            return self.app(environ, start_response)  # waits inside moto; must not hold the others up
        bucket, key = self._s3_place(environ) if not target else ("", "")
        if bucket and environ.get("REQUEST_METHOD") == "POST" and "delete" in environ.get("QUERY_STRING", ""):
            body = _read_body(environ)
        status: list[str] = []

        def capture(code: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status.append(code)
            return start_response(code, headers, exc_info)

        with self.lock:
            chunks = list(self.app(environ, capture))
            if self.journal is not None and status and status[0].startswith("2"):
                if target.startswith("DynamoDB_") and target.rsplit(".", 1)[-1] in TABLE_WRITES:
                    self.journal.table_write(target.rsplit(".", 1)[-1], json.loads(body))
                elif bucket and environ.get("REQUEST_METHOD") in ("PUT", "POST", "DELETE"):
                    keys = [key] if key else [unescape(k.decode("utf-8")) for k in _DELETE_KEYS.findall(body)]
                    for name in keys:
                        self._journal_object(bucket, name)
        return chunks

    def _s3_place(self, environ: dict[str, Any]) -> tuple[str, str]:
        """(bucket, key) of a path-style S3 request to one of the journaled buckets, else ("", "")."""
        raw = str(environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO") or "")
        path = unquote(urlsplit(raw).path)
        bucket, _, key = path.lstrip("/").partition("/")
        return (bucket, key) if bucket in self.buckets else ("", "")

    def _journal_object(self, bucket: str, key: str) -> None:
        assert self.journal is not None
        stored = _s3_backend().get_object(bucket, key)
        if stored is None:
            self.journal.delete_object(bucket, key)
        else:
            self.journal.put_object(bucket, key, stored.value, dict(stored.metadata))


# moto keeps each object's bytes in a SpooledTemporaryFile of this size (5 MiB by default), i.e. in memory:
# originals, mezzanines and renditions grew the process by their whole size. Above this, the bytes go to an
# unlinked temporary file (one descriptor each) and memory stays flat however many images are held.
OBJECT_MEMORY_BYTES = 64 * 1024
_DESCRIPTORS_WANTED = 65_536


def _objects_on_disk() -> None:
    """Spill moto's object bytes to disk (process-wide, read by moto per object) and allow the file
    descriptors that takes (the soft limit raised towards the hard one)."""
    os.environ.setdefault(MOTO_OBJECT_BUFFER_ENV, str(OBJECT_MEMORY_BYTES))
    try:
        import resource  # noqa: PLC0415 - POSIX only

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = _DESCRIPTORS_WANTED if hard == resource.RLIM_INFINITY else min(hard, _DESCRIPTORS_WANTED)
        if soft != resource.RLIM_INFINITY and soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ImportError, ValueError, OSError):
        _log.warning("could not raise the open-file limit; many stored objects may exhaust it")


MOTO_OBJECT_BUFFER_ENV = "MOTO_S3_DEFAULT_KEY_BUFFER_SIZE"


class EmbeddedAws:
    """moto's server on 127.0.0.1 and a free port, in this process (daemon thread), behind
    `SerialDispatch`."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._app: DomainDispatcherApplication | None = None
        self.dispatch: SerialDispatch | None = None
        self.endpoint = ""

    def start(self, journal: StoreJournal | None = None, buckets: Iterable[str] = ()) -> str:
        # moto's server logs every request through werkzeug; the dev console shows the pipeline instead.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        _objects_on_disk()
        self._app = DomainDispatcherApplication(create_backend_app)
        self.dispatch = SerialDispatch(self._app, journal, buckets)
        self._server = make_server(
            self.host, 0, self.dispatch, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="imgpipe-aws", daemon=True)
        self._thread.start()
        host, port = self._server.server_address[:2]
        self.endpoint = f"http://{host!s}:{port}"
        return self.endpoint

    def restore(self, state: JournalState) -> dict[str, list[Any]]:
        """Put a journal's objects and table writes into this (freshly provisioned) server, without
        notifications and without journaling them again; returns every table's items, for compaction."""
        assert self._app is not None and self.dispatch is not None
        backend = _s3_backend()
        journal = self.dispatch.journal
        for stored in state.objects.values():
            if journal is None:
                break
            restored = backend.put_object(
                stored.bucket, stored.key, journal.blob(stored.blob), disable_notification=True
            )
            restored.set_metadata(dict(stored.metadata))
        client = Client(self._app)
        credential = f"{LOCAL_ACCESS_KEY}/20260101/{LOCAL_REGION}/dynamodb/aws4_request"
        tables: set[str] = set()
        for operation, request in state.table_writes:
            with self.dispatch.lock:
                answer = client.post(
                    "/",
                    data=json.dumps(request),
                    headers={
                        "X-Amz-Target": f"DynamoDB_20120810.{operation}",
                        "Content-Type": "application/x-amz-json-1.0",
                        "Authorization": f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host, "
                        "Signature=0",
                    },
                )
            if answer.status_code != 200:
                _log.warning("restoring %s failed: %s", operation, answer.get_data(as_text=True)[:200])
            tables.update(_tables_of(operation, request))
        session = LocalSession(self.endpoint)
        dynamodb = session.client("dynamodb")
        items: dict[str, list[Any]] = {}
        for table in tables:
            items[table] = [
                item
                for page in dynamodb.get_paginator("scan").paginate(TableName=table)
                for item in page.get("Items", [])
            ]
        return items

    def stop(self) -> None:
        """Stop the server and drop its state: moto's backends live in this process, and a later stack
        (a restart, the next test) must find an empty account, as a fresh `moto server` would."""
        if self._server is not None:
            try:
                request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
                urllib.request.urlopen(request, timeout=10).close()
            except OSError:
                _log.warning("could not reset the embedded AWS at %s", self.endpoint)
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=10)
            self._server = None
            self._thread = None


def _tables_of(operation: str, request: dict[str, Any]) -> set[str]:
    if operation == "BatchWriteItem":
        return set((request.get("RequestItems") or {}).keys())
    if operation == "TransactWriteItems":
        found = set()
        for item in request.get("TransactItems") or []:
            for part in item.values():
                if isinstance(part, dict) and part.get("TableName"):
                    found.add(str(part["TableName"]))
        return found
    return {str(request["TableName"])} if request.get("TableName") else set()


# The shims: process-wide patches of moto, active only for buckets registered here.


class _ShimState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.buckets: set[str] = set()
        self.originals: dict[str, Any] = {}
        self.last_sequence = 0
        self.memo: tuple[int, str, str] | None = None
        self.journal: StoreJournal | None = None


_shims = _ShimState()


def next_sequencer() -> str:
    """A new S3-style sequencer (hex), greater than every one before it, also across restarts."""
    with _shims.lock:
        _shims.last_sequence = max(_shims.last_sequence + 1, time.time_ns())
        return f"{_shims.last_sequence:016X}"


def _sequencer_for(key: Any, event_name: str) -> str:
    # moto builds the event once per matching destination; AWS gives one event one sequencer.
    memo = _shims.memo
    if memo is not None and memo[0] == id(key) and memo[1] == event_name:
        return memo[2]
    sequencer = next_sequencer()
    _shims.memo = (id(key), event_name, sequencer)
    return sequencer


def _event_with_order(event_name: str, bucket: Any, key: Any, notification_id: str) -> dict[str, Any]:
    body: dict[str, Any] = _shims.originals["_get_s3_event"](event_name, bucket, key, notification_id)
    if getattr(bucket, "name", None) in _shims.buckets:
        for record in body.get("Records", []):
            entity = record["s3"]["object"]
            entity.setdefault("sequencer", _sequencer_for(key, event_name))
            version = getattr(key, "version_id", None)
            if getattr(bucket, "is_versioned", False) and version:
                entity.setdefault("versionId", str(version))
    return body


def _send_journaled(account_id: str, event_body: Any, queue_name: str, region_name: str) -> None:
    """moto's S3 → SQS send, with the event journaled first: the queue's pending work survives a kill."""
    journal = _shims.journal
    records = event_body.get("Records") if isinstance(event_body, dict) else None
    bucket = (records[0].get("s3") or {}).get("bucket", {}).get("name") if records else None
    if journal is not None and bucket in _shims.buckets:
        journal.event_accepted(queue_name, event_body)
    _shims.originals["_send_sqs_message"](account_id, event_body, queue_name, region_name)


def _untracked_model(cls: type, *args: Any, **kwargs: Any) -> Any:
    """`BaseModel.__new__` without moto's `cls.instances_tracked.append(instance)`: moto keeps every model
    object it ever built (for its /moto-api dashboard), and its DynamoDB copies whole items on every read and
    write, so the dev process grew with every image it ingested. Unreferenced objects are freed instead."""
    return object.__new__(cls)


def _marker_with_notification(backend: Any, bucket_name: str, key_name: str) -> Any:
    marker = _shims.originals["_set_delete_marker"](backend, bucket_name, key_name)
    if bucket_name in _shims.buckets:
        try:
            _send_delete_marker_event(backend, backend.get_bucket(bucket_name), key_name, marker)
        except Exception:  # an asynchronous side effect in AWS: the delete itself succeeded
            _log.exception("could not send %s for %s", DELETE_MARKER_EVENT, key_name)
    return marker


def delete_marker_event(
    bucket_name: str, region: str, key_name: str, version_id: str | None, configuration_id: str
) -> dict[str, Any]:
    """The notification AWS sends when a delete on a versioned bucket creates a delete marker."""
    entity: dict[str, Any] = {"key": quote_plus(key_name), "sequencer": next_sequencer()}
    if version_id:
        entity["versionId"] = version_id
    now = datetime.now(UTC)
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
                "eventName": DELETE_MARKER_EVENT,
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": configuration_id,
                    "bucket": {"name": bucket_name, "arn": f"arn:aws:s3:::{bucket_name}"},
                    "object": entity,
                },
            }
        ]
    }


def _send_delete_marker_event(backend: Any, bucket: Any, key_name: str, marker: Any) -> None:
    configuration = bucket.notification_configuration
    if configuration is None:
        return
    for notification in configuration.queue:
        if notification.matches("s3:" + DELETE_MARKER_EVENT, key_name):
            body = delete_marker_event(
                bucket.name,
                bucket.region_name,
                key_name,
                getattr(marker, "version_id", None),
                notification.id,
            )
            region = notification.arn.split(":")[3]
            queue_name = notification.arn.split(":")[-1]
            s3_notifications._send_sqs_message(backend.account_id, body, queue_name, region)


class MotoShims:
    """Install the S3 notification shims for `buckets`; `installed` says which moto allowed."""

    def __init__(self, buckets: Iterable[str], journal: StoreJournal | None = None) -> None:
        self.buckets = set(buckets)
        self.journal = journal
        self.installed: dict[str, bool] = {
            "sequencer": False,
            "delete_marker": False,
            "journal": False,
            "untracked_models": False,
        }

    def install(self) -> MotoShims:
        models, notifications = s3_models, s3_notifications
        with _shims.lock:
            if "_get_s3_event" not in _shims.originals and callable(
                getattr(notifications, "_get_s3_event", None)
            ):
                _shims.originals["_get_s3_event"] = notifications._get_s3_event
                notifications._get_s3_event = _event_with_order
            backend_class = getattr(models, "S3Backend", None)
            if (
                "_set_delete_marker" not in _shims.originals
                and backend_class is not None
                and callable(getattr(backend_class, "_set_delete_marker", None))
                and callable(getattr(notifications, "_send_sqs_message", None))
            ):
                _shims.originals["_set_delete_marker"] = backend_class._set_delete_marker
                setattr(backend_class, "_set_delete_marker", _marker_with_notification)  # noqa: B010
            if "_send_sqs_message" not in _shims.originals and callable(
                getattr(notifications, "_send_sqs_message", None)
            ):
                _shims.originals["_send_sqs_message"] = notifications._send_sqs_message
                notifications._send_sqs_message = _send_journaled
            base_model = getattr(moto_models, "BaseModel", None)
            if "BaseModel.__new__" not in _shims.originals and "__new__" in vars(base_model or object):
                _shims.originals["BaseModel.__new__"] = vars(base_model)["__new__"]
                setattr(base_model, "__new__", staticmethod(_untracked_model))  # noqa: B010
            _shims.buckets.update(self.buckets)
            if self.journal is not None:
                _shims.journal = self.journal
            self.installed = {
                "sequencer": "_get_s3_event" in _shims.originals,
                "delete_marker": "_set_delete_marker" in _shims.originals,
                "journal": "_send_sqs_message" in _shims.originals,
                "untracked_models": "BaseModel.__new__" in _shims.originals,
            }
        missing = [name for name, done in self.installed.items() if not done]
        if missing:
            _log.warning("this moto version cannot be patched for: %s", ", ".join(missing))
        return self

    def uninstall(self) -> None:
        models, notifications = s3_models, s3_notifications
        with _shims.lock:
            _shims.buckets.difference_update(self.buckets)
            if self.journal is not None and _shims.journal is self.journal:
                _shims.journal = None
            if _shims.buckets:
                return
            if "_send_sqs_message" in _shims.originals:
                notifications._send_sqs_message = _shims.originals.pop("_send_sqs_message")
            if "_get_s3_event" in _shims.originals:
                notifications._get_s3_event = _shims.originals.pop("_get_s3_event")
            if "_set_delete_marker" in _shims.originals:
                setattr(models.S3Backend, "_set_delete_marker", _shims.originals.pop("_set_delete_marker"))  # noqa: B010
            if "BaseModel.__new__" in _shims.originals:
                setattr(moto_models.BaseModel, "__new__", _shims.originals.pop("BaseModel.__new__"))  # noqa: B010


# Provisioning


@dataclass(frozen=True)
class LaneQueues:
    lane: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str


@dataclass(frozen=True)
class Resources:
    """Names and URLs of the local stack (what the stack outputs say about a deployed one)."""

    originals_bucket: str
    transformed_bucket: str
    images_table: str
    event_bus: str
    interactive: LaneQueues
    bulk: LaneQueues
    events_queue_url: str

    def lanes(self) -> tuple[LaneQueues, LaneQueues]:
        return (self.interactive, self.bulk)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Resources:
        return cls(
            originals_bucket=data["originals_bucket"],
            transformed_bucket=data["transformed_bucket"],
            images_table=data["images_table"],
            event_bus=data["event_bus"],
            interactive=LaneQueues(**data["interactive"]),
            bulk=LaneQueues(**data["bulk"]),
            events_queue_url=data["events_queue_url"],
        )


def create_images_table(dynamodb: Any, table_name: str) -> None:
    """The images table as infra/metadata.py declares it: pk/sk, on-demand, TTL on `ttl`, and the four
    sparse indexes, each projecting everything. The local stack and the moto tests both build it here."""
    strings = [TABLE_PARTITION_KEY, TABLE_SORT_KEY] + [
        f"{index}{part}" for index in IMAGES_TABLE_INDEXES for part in ("pk", "sk")
    ]
    dynamodb.create_table(
        TableName=table_name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in strings],
        KeySchema=[
            {"AttributeName": TABLE_PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": TABLE_SORT_KEY, "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": f"{index}pk", "KeyType": "HASH"},
                    {"AttributeName": f"{index}sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in IMAGES_TABLE_INDEXES
        ],
    )
    dynamodb.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
    )


def _queue(sqs: Any, name: str, attributes: dict[str, str]) -> tuple[str, str]:
    url: str = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def provision(
    session: LocalSession,
    config: StageConfig,
    *,
    visibility_timeout: int,
    on_step: Callable[[str], None] | None = None,
) -> Resources:
    """Create every resource of the stack that the pipeline touches, as the CDK stack defines it."""
    step = on_step or (lambda _: None)
    s3 = session.client("s3")
    sqs = session.client("sqs")
    dynamodb = session.client("dynamodb")
    events = session.client("events")

    # Storage: originals are versioned (as deployed), renditions are a plain cache.
    s3.create_bucket(Bucket=ORIGINALS_BUCKET)
    s3.put_bucket_versioning(Bucket=ORIGINALS_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.create_bucket(Bucket=TRANSFORMED_BUCKET)
    step("buckets")

    create_images_table(dynamodb, IMAGES_TABLE)
    step("table")

    # Pipeline: two lanes, each a queue with its dead-letter queue and the same maxReceiveCount.
    lanes: dict[str, LaneQueues] = {}
    for lane, queue_name, dlq_name in (
        (LANE_INTERACTIVE, INTERACTIVE_QUEUE, INTERACTIVE_DLQ),
        (LANE_BULK, BULK_QUEUE, BULK_DLQ),
    ):
        dlq_url, dlq_arn = _queue(sqs, dlq_name, {"MessageRetentionPeriod": str(14 * 86_400)})
        redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(config.lanes.max_receive_count)}
        queue_url, queue_arn = _queue(
            sqs,
            queue_name,
            {
                "VisibilityTimeout": str(visibility_timeout),
                "MessageRetentionPeriod": str(4 * 86_400),
                "RedrivePolicy": json.dumps(redrive),
            },
        )
        lanes[lane] = LaneQueues(lane, queue_url, queue_arn, dlq_url, dlq_arn)
    step("queues")

    # Events: the bus, and locally a rule that copies every imgpipe event into a queue for the gallery.
    events.create_event_bus(Name=EVENT_BUS)
    events_url, events_arn = _queue(sqs, EVENTS_QUEUE, {"MessageRetentionPeriod": str(3600)})
    events.put_rule(
        Name=EVENTS_RULE, EventBusName=EVENT_BUS, EventPattern=json.dumps({"source": [EVENT_SOURCE]})
    )
    events.put_targets(
        Rule=EVENTS_RULE, EventBusName=EVENT_BUS, Targets=[{"Id": "gallery", "Arn": events_arn}]
    )
    step("event bus")

    # S3 → SQS: created objects under each lane's prefixes, removed ones under its removed_prefixes
    # (infra/pipeline.py, the same LanesConfig): batches/ is created on the bulk lane, deletes interactive.
    configurations: list[dict[str, Any]] = []
    for lane_name, lane_config in (
        (LANE_INTERACTIVE, config.lanes.interactive),
        (LANE_BULK, config.lanes.bulk),
    ):
        for event, kind, prefixes in (
            ("s3:ObjectCreated:*", "created", lane_config.prefixes),
            ("s3:ObjectRemoved:*", "removed", lane_config.removed_prefixes),
        ):
            configurations.extend(
                {
                    "Id": f"{lane_name}-{kind}-{index}",
                    "QueueArn": lanes[lane_name].queue_arn,
                    "Events": [event],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
                }
                for index, prefix in enumerate(prefixes)
            )
    s3.put_bucket_notification_configuration(
        Bucket=ORIGINALS_BUCKET, NotificationConfiguration={"QueueConfigurations": configurations}
    )
    step("notifications")
    return Resources(
        originals_bucket=ORIGINALS_BUCKET,
        transformed_bucket=TRANSFORMED_BUCKET,
        images_table=IMAGES_TABLE,
        event_bus=EVENT_BUS,
        interactive=lanes[LANE_INTERACTIVE],
        bulk=lanes[LANE_BULK],
        events_queue_url=events_url,
    )
