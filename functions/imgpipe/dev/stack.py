"""`DevStack`: the whole product on one machine, started and stopped as one object.

Start order: data directory (signing keys, API keys) → embedded AWS → resources → what the data
directory's journal holds restored (objects, table, pending events back on their queues) → moto shims →
one poller per lane (ingest handlers built exactly like the deployed ones, from `infra.environment`) → the
management API behind a local API Gateway (`gateway.LocalApiGateway`) → event log → HTTP server →
samples on a first start → state file.
`stop()` undoes it in reverse; every thread is a daemon, so a crashed test process never hangs on them.
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from imgpipe.delivery import SigningPolicy, parse_signing_keys
from imgpipe.dev.aws import (
    EmbeddedAws,
    MotoShims,
    Resources,
    delete_marker_event,
    provision,
)
from imgpipe.dev.cdn import LocalCdn, ResizeOrigin
from imgpipe.dev.datadir import DataDir, LocalApiKey, default_data_dir, pid_alive
from imgpipe.dev.gateway import LocalApiGateway
from imgpipe.dev.journal import JournalState, StoreJournal, event_identity
from imgpipe.dev.ops import LaneQueueUrls, Target, queue_depths
from imgpipe.dev.poller import Handler, Invocation, LanePoller, LaneSettings
from imgpipe.dev.samples import samples
from imgpipe.dev.server import make_server
from imgpipe.dev.session import LocalSession
from imgpipe.dev.web import DevWeb
from imgpipe.observability import logger as powertools_logger
from imgpipe.observability import metrics as powertools_metrics
from infra.config import ConfigError, StageConfig, load_stage_config
from infra.constants import (
    LANE_BULK,
    LANE_INTERACTIVE,
    ORIGINALS_BUCKET,
    SOURCE_PREFIXES,
    TRANSFORMED_BUCKET,
    UPLOADS_PREFIX,
)
from infra.environment import ResourceNames, api_environment, ingest_environment, resize_environment
from ingest.handler import IngestApp
from ingest.settings import IngestSettings

_log = logging.getLogger("imgpipe-dev")

DEFAULT_PORT = 8750
DEFAULT_TENANT = "local"
# Production: visibility = 6 × the function timeout (6 min and more). Locally a failed message comes
# back while you watch.
DEFAULT_VISIBILITY_TIMEOUT = 30
# infra/pipeline.py: ingest memory and the timeout rule (max(60 s, batch size × 20 s)).
INGEST_MEMORY_MB = 2048
_PER_IMAGE_BUDGET_SECONDS = 20
_MIN_INGEST_TIMEOUT_SECONDS = 60
EVENT_LOG_SIZE = 200


def ingest_timeout_seconds(batch_size: int) -> int:
    return max(_MIN_INGEST_TIMEOUT_SECONDS, batch_size * _PER_IMAGE_BUDGET_SECONDS)


def load_local_config(cdk_json: Path | None = None, stage: str = "dev") -> StageConfig:
    """The `dev` stage of cdk.json when there is one (same presets, lanes and policy), else the defaults."""
    path = cdk_json or Path("cdk.json")
    if path.is_file():
        try:
            context = json.loads(path.read_text(encoding="utf-8")).get("context", {})
            return load_stage_config({**context, "stage": stage})
        except (ValueError, ConfigError) as error:
            _log.warning("ignoring %s: %s", path, error)
    return StageConfig(stage="local")


class AlreadyRunning(RuntimeError):
    def __init__(self, data_dir: Path, state: dict[str, Any]) -> None:
        super().__init__(
            f"a local stack is already running from {data_dir} (pid {state.get('pid')}, {state.get('url')}); "
            "stop it first, or start another one with --data DIR"
        )


class PortInUse(OSError):
    def __init__(self, host: str, port: int) -> None:
        super().__init__(
            f"port {port} on {host} is taken (another `imgpipe dev`? `imgpipe status` tells); "
            f"choose another with --port N, or --port 0 for any free port"
        )
        self.host = host
        self.port = port


@dataclass
class DevOptions:
    data_dir: Path = field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    tenant: str = DEFAULT_TENANT
    seed: bool = True  # upload the sample images on the first start of a data directory
    persist: bool = True  # journal the embedded AWS into the data directory and restore it on start
    visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT
    config: StageConfig | None = None  # None: load_local_config()
    verbose: bool = False  # Powertools' JSON logs of the handlers on stdout
    echo: Callable[[str], None] | None = None  # one line per pipeline step (the dev console)
    write_state: bool = True
    # Extra environment for the handlers (e.g. IMGPIPE_MAX_INLINE_BYTES), over the stack's own keys.
    environment: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LoggedEvent:
    number: int
    time: str
    detail_type: str
    detail: dict[str, Any]


class DevStack:
    def __init__(self, options: DevOptions | None = None) -> None:
        self.options = options or DevOptions()
        self.config = self.options.config or load_local_config()
        self.data = DataDir(self.options.data_dir)
        self._logger_level: int | None = None
        self.aws = EmbeddedAws(self.options.host)
        self.session: LocalSession | None = None
        self.resources: Resources | None = None
        self.shims: MotoShims | None = None
        self.pollers: dict[str, LanePoller] = {}
        self.cdn: LocalCdn | None = None
        self.resize: ResizeOrigin | None = None
        self.api: LocalApiGateway | None = None
        self.api_keys: list[LocalApiKey] = []
        self.server: Any = None
        self.url = ""
        self.events: collections.deque[LoggedEvent] = collections.deque(maxlen=EVENT_LOG_SIZE)
        self._event_count = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._ingest_apps: dict[str, IngestApp] = {}
        self.journal: StoreJournal | None = None
        # Receives an event had used before the last restart (its SQS receive count starts again at 1).
        self._earlier_receives: dict[str, int] = {}
        self.signing_keys: dict[str, str] = {}
        self.restored = 0
        self.seeded = 0
        self.started = False

    # Console

    def echo(self, text: str) -> None:
        if self.options.echo is not None:
            self.options.echo(f"{datetime.now().strftime('%H:%M:%S')}  {text}")

    # Lifecycle

    def start(self) -> DevStack:
        options = self.options
        self.data.ensure()
        running = self.data.read_state() or {}
        other = int(running.get("pid") or 0)
        if options.write_state and other != os.getpid() and pid_alive(other):
            raise AlreadyRunning(self.data.path, running)
        self.signing_keys = self.data.signing_keys()
        parse_signing_keys(self.signing_keys)  # a hand-edited key file fails here, not per request
        self.api_keys = self.data.api_keys(options.tenant)
        if not options.verbose:
            # The handlers' JSON logs would drown the console's one line per image; stop() restores it.
            self._logger_level = powertools_logger.log_level
            powertools_logger.setLevel(logging.WARNING)
        try:
            self._bind_http()
            journaled = JournalState()
            if options.persist:
                self.journal = StoreJournal(
                    self.data.store_dir, durable_buckets=frozenset({ORIGINALS_BUCKET})
                )
                journaled = self.journal.read()
            endpoint = self.aws.start(self.journal, buckets=(ORIGINALS_BUCKET, TRANSFORMED_BUCKET))
            self.session = LocalSession(endpoint, secret_key=self.data.aws_secret())
            first_start = not self.data.seeded
            if first_start:
                self.echo(f"first start in {self.data.path}: keys generated; creating the stack's resources")
            self.resources = provision(
                self.session,
                self.config,
                visibility_timeout=options.visibility_timeout,
                on_step=(lambda step: self.echo(f"  created {step}")) if first_start else None,
            )
            resources = self.resources
            if self.journal is not None:
                self._restore(journaled)
            self.shims = MotoShims({resources.originals_bucket}, self.journal).install()
            for lane in (LANE_INTERACTIVE, LANE_BULK):
                self.pollers[lane] = self._poller(lane)
            self.resize = ResizeOrigin(self.resize_environment(), self.session)
            self.cdn = LocalCdn(
                s3=self.session.client("s3"),
                transformed_bucket=resources.transformed_bucket,
                policy=self.signing_policy,
                secrets=self.secrets,
                presets=self.config.presets,
                origin=self.resize,
            )
            self.api = LocalApiGateway(
                self.api_environment(),
                self.session,
                keys=self.api_keys,
                stage=self.config.stage,
                upload_endpoint=f"{self.url}/_dev/s3",
                verbose=options.verbose,
                echo=self.echo,
            )
            self.api.load()  # the cold start: binds the local keys to their tenants in the table
            self._serve_http()
            for poller in self.pollers.values():
                poller.start()
            self._spawn(self._drain_events, "imgpipe-event-log")
            self.started = True
            self._fill()
            if options.write_state:
                self.data.write_state(self.state())
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, grace_seconds: float = 30.0) -> None:
        """Stop everything; a batch still being processed gets `grace_seconds` to finish (its messages
        return to the queue after the visibility timeout otherwise, and are processed on the next start)."""
        self._stop.set()
        if self.server is not None:
            if any(thread.name == "imgpipe-http" for thread in self._threads):
                self.server.shutdown()
            self.server.server_close()
            self.server = None
        for poller in self.pollers.values():
            poller.stop(timeout=grace_seconds)
        for thread in self._threads:
            thread.join(timeout=5)
        if self.api is not None:
            self.api.close()
            self.api = None
        if self.shims is not None:
            self.shims.uninstall()
            self.shims = None
        self.aws.stop()
        if self.journal is not None:
            self.journal.close()
        if self._logger_level is not None:
            powertools_logger.setLevel(self._logger_level)
            self._logger_level = None
        if self.options.write_state and self.started:
            self.data.clear_state(pid=os.getpid())
        self.started = False

    def __enter__(self) -> DevStack:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    # Configuration shared with the handlers

    @property
    def signing_policy(self) -> SigningPolicy:
        policy: SigningPolicy = self.config.signing_policy
        return policy

    def secrets(self) -> tuple[bytes, ...]:
        return parse_signing_keys(self.signing_keys)

    @property
    def endpoint(self) -> str:
        return self.aws.endpoint

    def require_resources(self) -> Resources:
        if self.resources is None or self.session is None:
            raise RuntimeError("the stack is not started")
        return self.resources

    def _names(self) -> ResourceNames:
        resources = self.require_resources()
        return ResourceNames(
            originals_bucket=resources.originals_bucket,
            transformed_bucket=resources.transformed_bucket,
            images_table=resources.images_table,
            event_bus=resources.event_bus,
        )

    def ingest_environment(self, lane: str) -> dict[str, str]:
        """What infra/pipeline.py gives the ingest function of `lane` (`infra.environment`, one definition).
        GuardDuty Malware Protection does not exist locally: nothing would ever tag an upload."""
        environment = ingest_environment(
            self.config,
            self._names(),
            lane=lane,
            malware_scan=False,
        )
        return {**environment, **self.options.environment}

    def resize_environment(self) -> dict[str, str]:
        """What infra/delivery.py gives the resize function; the signing-key document itself instead of
        the secret's ARN (no Secrets Manager locally)."""
        environment = resize_environment(
            self.config, self._names(), signing_keys_document=json.dumps(self.signing_keys)
        )
        return {**environment, **self.options.environment}

    def api_environment(self) -> dict[str, str]:
        """What infra/api.py gives the API function."""
        environment = api_environment(self.config, self._names(), delivery_base_url=self.url)
        return {**environment, **self.options.environment}

    def api_key(self, tenant: str | None = None) -> LocalApiKey:
        """The local API key of `tenant` (the stack's own by default)."""
        wanted = tenant or self.options.tenant
        return next(key for key in self.api_keys if key.tenant == wanted)

    def ingest_app(self, lane: str = LANE_INTERACTIVE) -> IngestApp:
        app = self._ingest_apps.get(lane)
        if app is None:
            app = self._build_ingest_app(lane)
        return app

    def _build_ingest_app(self, lane: str) -> IngestApp:
        assert self.session is not None
        app = IngestApp.from_settings(IngestSettings.from_env(self.ingest_environment(lane)), self.session)
        self._ingest_apps[lane] = app
        return app

    # Pipeline

    def _poller(self, lane: str) -> LanePoller:
        resources = self.require_resources()
        assert self.session is not None
        lane_config = self.config.lanes.interactive if lane == LANE_INTERACTIVE else self.config.lanes.bulk
        queues = resources.interactive if lane == LANE_INTERACTIVE else resources.bulk
        settings = LaneSettings(
            lane=lane,
            function_name=f"imgpipe-local-ingest-{lane}",
            batch_size=lane_config.batch_size,
            batching_window_seconds=lane_config.batching_window_seconds,
            timeout_seconds=ingest_timeout_seconds(lane_config.batch_size),
            memory_mb=INGEST_MEMORY_MB,
        )

        def factory() -> Handler:
            # A new execution environment: a cold start builds the app again from its settings.
            app = self._build_ingest_app(lane)

            def invoke(event: dict[str, Any], context: Any) -> Any:
                try:
                    response = app.handle(event, context)
                except BaseException:
                    self._journal_attempt(event, failed=None)
                    raise
                else:
                    failures = response.get("batchItemFailures") if isinstance(response, dict) else None
                    failed = {
                        str(item.get("itemIdentifier")) for item in failures or [] if isinstance(item, dict)
                    }
                    self._journal_attempt(event, failed=failed)
                    return response
                finally:
                    if self.options.verbose:
                        powertools_metrics.flush_metrics()
                    else:
                        powertools_metrics.clear_metrics()
                    release_freed_memory()

            return invoke

        return LanePoller(
            settings,
            sqs=self.session.client("sqs"),
            queue_url=queues.queue_url,
            queue_arn=queues.queue_arn,
            handler_factory=factory,
            on_invocation=self._report_invocation,
        )

    def _journal_attempt(self, event: Mapping[str, Any], *, failed: set[str] | None) -> None:
        """After an invocation: each event it finished is done; each it failed used one more receive (None:
        the whole batch failed)."""
        if self.journal is None:
            return
        for message in event.get("Records") or []:
            message_id = str(message.get("messageId"))
            try:
                identity = event_identity(json.loads(message.get("body") or "{}"))
            except (ValueError, AttributeError):
                identity = None
            if identity is None:
                continue
            if failed is None or message_id in failed:
                receives = int((message.get("attributes") or {}).get("ApproximateReceiveCount") or 1)
                self.journal.event_failed(identity, self._earlier_receives.get(identity, 0) + receives)
            else:
                self.journal.event_done(identity)
                self._earlier_receives.pop(identity, None)

    def _restore(self, journaled: JournalState) -> None:
        """What the data directory's journal holds, back into the fresh embedded AWS: the objects, the
        table (replayed), and every event not finished yet back on its queue (or its DLQ, when it had used
        up its receives). Then the journal is compacted into that state."""
        assert self.journal is not None and self.session is not None
        resources = self.require_resources()
        self.journal.open()
        items = self.aws.restore(journaled)
        self.journal.compact(journaled.objects, items, journaled.events)
        sqs = self.session.client("sqs")
        lanes = {queues.queue_url.rsplit("/", 1)[-1]: queues for queues in resources.lanes()}
        limit = self.config.lanes.max_receive_count
        for pending in journaled.events.values():
            queues = lanes.get(pending.queue)
            if queues is None:
                continue
            self._earlier_receives[pending.identity] = pending.receives
            queue_url = queues.dlq_url if pending.receives >= limit else queues.queue_url
            sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(pending.body))
        self.restored = len(journaled.events)
        if not journaled.empty:
            images = sum(
                1
                for table in items.values()
                for item in table
                if item.get("item_type", {}).get("S") == "image"
            )
            self.echo(
                f"restored from {self.data.path}: {len(journaled.objects)} object(s), "
                f"{images} image record(s), "
                f"{len(journaled.events)} unfinished upload event(s) back on their queues"
            )

    def _report_invocation(self, invocation: Invocation) -> None:
        lane = f"ingest[{invocation.lane}]"
        plural = "s" if invocation.messages != 1 else ""
        took = f"{invocation.duration_ms:6.0f} ms"
        visibility = self.options.visibility_timeout
        if invocation.killed:
            self.echo(
                f"{lane} {invocation.messages} message{plural} {took}  worker died mid-batch: all "
                f"{invocation.messages} come back after the visibility timeout ({visibility} s)"
            )
        elif invocation.error:
            self.echo(f"{lane} {invocation.messages} message{plural} {took}  failed: {invocation.error}")
        elif invocation.failed:
            self.echo(
                f"{lane} {invocation.messages} message{plural} {took}  {invocation.failed} failed: visible "
                f"again in {visibility} s (receive counts {list(invocation.receive_counts)}, "
                f"DLQ after {self.config.lanes.max_receive_count})"
            )
        elif self.options.verbose:
            self.echo(f"{lane} {invocation.messages} message{plural} {took}  ok")

    def _drain_events(self) -> None:
        """EventBridge → rule → queue → this log (and the console)."""
        resources = self.require_resources()
        assert self.session is not None
        sqs = self.session.client("sqs")
        while not self._stop.is_set():
            try:
                messages = sqs.receive_message(
                    QueueUrl=resources.events_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
                ).get("Messages", [])
            except Exception:
                if self._stop.is_set():
                    return
                self._stop.wait(1.0)
                continue
            for message in messages:
                try:
                    envelope = json.loads(message["Body"])
                    self._log_event(str(envelope.get("detail-type", "?")), dict(envelope.get("detail") or {}))
                except (ValueError, TypeError):
                    pass
            if messages:
                sqs.delete_message_batch(
                    QueueUrl=resources.events_queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
                    ],
                )
            else:
                self._stop.wait(0.3)

    def _log_event(self, detail_type: str, detail: dict[str, Any]) -> None:
        self._event_count += 1
        self.events.append(
            LoggedEvent(
                self._event_count, datetime.now(UTC).isoformat(timespec="milliseconds"), detail_type, detail
            )
        )
        key = detail.get("source_key") or ""
        if detail_type == "Image Processed":
            size = f"{detail.get('width')}×{detail.get('height')} {detail.get('format')}"
            self.echo(f"READY      {key}  {size}, {len(detail.get('renditions') or [])} renditions")
        elif detail_type == "Image Rejected":
            message = detail.get("message") or detail.get("reason_message") or ""
            self.echo(f"REJECTED   {key}  {detail.get('reason')}: {message}")
        elif detail_type == "Image Deleted":
            self.echo(f"DELETED    {key}  ({detail.get('cause') or detail.get('reason') or 'deleted'})")
        elif detail_type == "Batch Completed":
            self.echo(
                f"BATCH      {detail.get('tenant')}/{detail.get('batch_id')} completed: "
                f"{detail.get('ready')} ready, {detail.get('rejected')} rejected"
            )
        elif self.options.verbose:
            self.echo(f"event      {detail_type}  {key}")

    # The originals: upload, delete, mirror into the data directory

    def put_original(self, key: str, data: bytes, content_type: str | None) -> None:
        resources = self.require_resources()
        assert self.session is not None
        arguments: dict[str, Any] = {"Bucket": resources.originals_bucket, "Key": key, "Body": data}
        if content_type:
            arguments["ContentType"] = content_type
        self.session.client("s3").put_object(**arguments)

    def delete_original(self, key: str) -> None:
        resources = self.require_resources()
        assert self.session is not None
        response = self.session.client("s3").delete_object(Bucket=resources.originals_bucket, Key=key)
        if self.shims is None or not self.shims.installed["delete_marker"]:
            # This moto cannot be patched: send what S3 sends for a versioned bucket ourselves.
            # Every removal goes to the interactive lane (LanesConfig), batch members' too.
            lane = resources.interactive if key.startswith(SOURCE_PREFIXES) else None
            if lane is not None:
                body = delete_marker_event(
                    resources.originals_bucket, "us-east-1", key, response.get("VersionId"), "imgpipe-dev"
                )
                if self.journal is not None:
                    self.journal.event_accepted(lane.queue_url.rsplit("/", 1)[-1], body)
                self.session.client("sqs").send_message(QueueUrl=lane.queue_url, MessageBody=json.dumps(body))

    def open_batch(self, tenant: str, batch_id: str, expected: int) -> Any:
        return self.ingest_app(LANE_INTERACTIVE).service.open_batch(tenant, batch_id, expected)

    def _fill(self) -> None:
        """Seed the samples on the first start of a data directory (or import one of the older layout)."""
        legacy = self.data.legacy_originals() if self.options.persist else []
        if legacy:
            for tenant, batch_id, expected in self.data.legacy_batches():
                try:
                    self.open_batch(tenant, batch_id, expected)
                except Exception:
                    _log.exception("could not declare batch %s/%s again", tenant, batch_id)
            for original in legacy:
                self.put_original(original.key, original.file.read_bytes(), original.content_type)
            self.data.remove_legacy()
            self.echo(
                f"imported {len(legacy)} original(s) of an older data directory: "
                "the pipeline rebuilds the rest"
            )
        elif self.options.seed and not self.data.seeded:
            for sample in samples():
                key = f"{UPLOADS_PREFIX}{self.options.tenant}/{sample.name}"
                self.put_original(key, sample.data, sample.content_type)
                self.seeded += 1
            self.echo(f"seeded {self.seeded} sample image(s) under {UPLOADS_PREFIX}{self.options.tenant}/")
        if self.options.persist:
            self.data.mark_seeded()

    # HTTP

    def _bind_http(self) -> None:
        options = self.options
        try:
            self.server = make_server(options.host, options.port)
        except OSError as error:
            if error.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
                raise PortInUse(options.host, options.port) from None
            raise
        host, port = self.server.server_address[:2]
        self.url = f"http://{host}:{port}"

    def _serve_http(self) -> None:
        self.server.web = DevWeb(self)
        self._spawn(self.server.serve_forever, "imgpipe-http")

    def state(self) -> dict[str, Any]:
        resources = self.require_resources()
        return {
            "version": 1,
            "pid": os.getpid(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "url": self.url,
            "api_url": f"{self.url}/v1",
            "api_keys_file": str(self.data.api_keys_file),
            "aws_endpoint": self.endpoint,
            "tenant": self.options.tenant,
            "signing_policy": self.config.signing_policy,
            "presets": self.config.presets,
            "resources": {
                **resources.to_json(),
                LANE_INTERACTIVE: {
                    "queue_url": resources.interactive.queue_url,
                    "dlq_url": resources.interactive.dlq_url,
                },
                LANE_BULK: {"queue_url": resources.bulk.queue_url, "dlq_url": resources.bulk.dlq_url},
            },
        }

    # Waiting (tests and scripts)

    def target(self) -> Target:
        """This stack as the CLI's operations see it."""
        resources = self.require_resources()
        return Target(
            kind="local",
            session=self.session,
            images_url=self.url,
            originals_bucket=resources.originals_bucket,
            transformed_bucket=resources.transformed_bucket,
            images_table=resources.images_table,
            event_bus=resources.event_bus,
            lanes=[LaneQueueUrls(q.lane, q.queue_url, q.dlq_url) for q in resources.lanes()],
            signing_policy=self.config.signing_policy,
            presets=dict(self.config.presets),
            signing_keys_file=self.data.keys_file,
            description=f"local stack at {self.url} (data: {self.data.path})",
        )

    def idle(self) -> bool:
        """No message waiting or in flight on either lane, and no worker busy."""
        depths = queue_depths(self.target())
        waiting = sum(
            (lane["queue"] or {}).get("visible", 0) + (lane["queue"] or {}).get("in_flight", 0)
            for lane in depths.values()
        )
        return waiting == 0 and not any(poller.busy for poller in self.pollers.values())

    def wait_idle(self, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.idle():
                return True
            time.sleep(0.2)
        return False


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, where there is one (Linux)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)
    return trim if callable(trim) else None


_TRIM = _malloc_trim()


def release_freed_memory() -> None:
    """Give the heap that a render freed back to the OS. A Lambda environment is small and short-lived;
    this one process holds every function for hours, and glibc keeps freed arenas of Pillow's large
    buffers otherwise (the process only ever grew)."""
    if _TRIM is not None:
        _TRIM(0)
