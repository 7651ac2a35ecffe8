"""Operations on a stack, local or deployed: queue depths, counts by status, redrive, uploads, waiting.

The CLI and the dev server share these. A `Target` is what they need to know about a stack: the local
one is read from the data directory's state file, a deployed one from its CloudFormation outputs
(`cdk deploy --outputs-file`), reached with the caller's own AWS credentials.
"""

from __future__ import annotations

import json
import mimetypes
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]

from imgpipe.adapters.dynamodb import (
    IMAGE_SK,
    PK,
    SK,
    SOURCE_SK,
    DynamoMetadataRepository,
    from_item,
    image_pk,
    source_pk,
)
from imgpipe.adapters.events import EventBridgePublisher
from imgpipe.adapters.s3 import S3ObjectStore
from imgpipe.dev.datadir import DataDir, pid_alive
from imgpipe.dev.session import LocalSession
from imgpipe.records import BatchRecord, ImageRecord
from imgpipe.uploads import UploadKey, batch_key_prefix
from infra.constants import (
    LANE_BULK,
    LANE_INTERACTIVE,
    STATUS_DELETED,
    STATUS_PROCESSING,
    STATUS_READY,
    STATUS_REJECTED,
    UPLOADS_PREFIX,
)
from ingest.service import IngestService

STATUSES = (STATUS_PROCESSING, STATUS_READY, STATUS_REJECTED, STATUS_DELETED)
FINAL_STATUSES = frozenset({STATUS_READY, STATUS_REJECTED, STATUS_DELETED})


class TargetError(RuntimeError):
    """No stack to talk to, or its description is incomplete; the message says what to do."""


@dataclass(frozen=True)
class LaneQueueUrls:
    lane: str
    queue_url: str | None
    dlq_url: str


@dataclass
class Target:
    kind: str  # "local" or "deployed"
    session: Any  # anything with .client(service_name)
    images_url: str
    originals_bucket: str
    transformed_bucket: str
    images_table: str
    event_bus: str | None
    lanes: list[LaneQueueUrls]
    signing_policy: str = "presets-unsigned"
    presets: dict[str, str] | None = None
    signing_keys_file: Path | None = None
    signing_keys_secret: str | None = None
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        return self.session.client(service)

    def signing_keys(self) -> dict[str, str]:
        """The active signing-key document (local file, or the deployed stack's secret)."""
        if self.signing_keys_file is not None:
            document = json.loads(self.signing_keys_file.read_text(encoding="utf-8"))
        elif self.signing_keys_secret:
            value = self.client("secretsmanager").get_secret_value(SecretId=self.signing_keys_secret)
            document = json.loads(value["SecretString"])
        else:
            raise TargetError("this stack description names no signing keys")
        if not isinstance(document, dict):
            raise TargetError("the signing-key document is not a JSON object")
        return {str(key): str(value) for key, value in document.items()}


# Finding a stack


def local_target(data_dir: Path) -> Target:
    data = DataDir(data_dir)
    state = data.read_state()
    if state is None:
        raise TargetError(
            f"no local stack is running (no {data.state_file}); start one with `make dev` "
            "(or `imgpipe dev --data DIR`), or pass --stack-outputs FILE for a deployed stack"
        )
    pid = int(state.get("pid", 0))
    if pid and not pid_alive(pid):
        raise TargetError(
            f"the local stack recorded in {data.state_file} (pid {pid}) is not running any more; "
            "start it again with `make dev`"
        )
    resources = state["resources"]
    lanes = [
        LaneQueueUrls(lane, resources[lane]["queue_url"], resources[lane]["dlq_url"])
        for lane in (LANE_INTERACTIVE, LANE_BULK)
    ]
    return Target(
        kind="local",
        session=LocalSession(state["aws_endpoint"]),
        images_url=state["url"].rstrip("/"),
        originals_bucket=resources["originals_bucket"],
        transformed_bucket=resources["transformed_bucket"],
        images_table=resources["images_table"],
        event_bus=resources["event_bus"],
        lanes=lanes,
        signing_policy=state.get("signing_policy", "presets-unsigned"),
        presets=state.get("presets"),
        signing_keys_file=data.keys_file,
        description=f"local stack at {state['url']} (data: {data_dir})",
        extra={"tenant": state.get("tenant"), "pid": pid},
    )


_REQUIRED_OUTPUTS = (
    "ImagesUrl",
    "OriginalsBucket",
    "TransformedBucket",
    "ImagesTable",
    "InteractiveDlq",
    "BulkDlq",
)


def read_stack_outputs(path: Path) -> dict[str, str]:
    """Outputs as `cdk deploy --outputs-file` writes them (`{"Stack": {...}}`) or one flat object."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise TargetError(f"cannot read stack outputs from {path}: {error}") from None
    if not isinstance(document, dict):
        raise TargetError(f"{path} is not a JSON object of stack outputs")
    if "ImagesUrl" not in document:
        stacks = [value for value in document.values() if isinstance(value, dict) and "ImagesUrl" in value]
        if len(stacks) != 1:
            raise TargetError(f"{path}: expected the outputs of one imgpipe stack (with ImagesUrl)")
        document = stacks[0]
    missing = [name for name in _REQUIRED_OUTPUTS if name not in document]
    if missing:
        raise TargetError(f"{path}: missing stack outputs {', '.join(missing)}")
    return {str(key): str(value) for key, value in document.items()}


def deployed_target(path: Path, session: Any = None) -> Target:
    outputs = read_stack_outputs(path)
    session = session or boto3.session.Session()
    sqs = session.client("sqs")
    lanes = []
    for lane, name in ((LANE_INTERACTIVE, "InteractiveDlq"), (LANE_BULK, "BulkDlq")):
        dlq_url = outputs[name]
        sources = sqs.list_dead_letter_source_queues(QueueUrl=dlq_url).get("queueUrls", [])
        lanes.append(LaneQueueUrls(lane, sources[0] if sources else None, dlq_url))
    return Target(
        kind="deployed",
        session=session,
        images_url=outputs["ImagesUrl"].rstrip("/"),
        originals_bucket=outputs["OriginalsBucket"],
        transformed_bucket=outputs["TransformedBucket"],
        images_table=outputs["ImagesTable"],
        event_bus=outputs.get("EventBus"),
        lanes=lanes,
        signing_keys_secret=outputs.get("SigningKeysSecret"),
        description=f"deployed stack at {outputs['ImagesUrl']}",
    )


# Queues


def _depth(sqs: Any, url: str) -> dict[str, int]:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return {
        "visible": int(attributes.get("ApproximateNumberOfMessages", 0)),
        "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        "delayed": int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
    }


def queue_depths(target: Target) -> dict[str, dict[str, Any]]:
    sqs = target.client("sqs")
    depths: dict[str, dict[str, Any]] = {}
    for lane in target.lanes:
        depths[lane.lane] = {
            "queue": _depth(sqs, lane.queue_url) if lane.queue_url else None,
            "dlq": _depth(sqs, lane.dlq_url),
        }
    return depths


def redrive(target: Target, lanes: Iterable[str] | None = None, limit: int | None = None) -> dict[str, int]:
    """Move every message of each lane's DLQ back to its source queue (receive, send, then delete)."""
    wanted = set(lanes) if lanes else None
    sqs = target.client("sqs")
    moved: dict[str, int] = {}
    for lane in target.lanes:
        if wanted is not None and lane.lane not in wanted:
            continue
        source = lane.queue_url
        if source is None:
            sources = sqs.list_dead_letter_source_queues(QueueUrl=lane.dlq_url).get("queueUrls", [])
            if not sources:
                raise TargetError(f"{lane.dlq_url} is no queue's dead-letter queue")
            source = sources[0]
        count = 0
        while limit is None or count < limit:
            batch = sqs.receive_message(
                QueueUrl=lane.dlq_url,
                MaxNumberOfMessages=10 if limit is None else max(1, min(10, limit - count)),
                WaitTimeSeconds=0,
                VisibilityTimeout=60,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                break
            entries = []
            for index, message in enumerate(batch):
                entry: dict[str, Any] = {"Id": str(index), "MessageBody": message["Body"]}
                if message.get("MessageAttributes"):
                    entry["MessageAttributes"] = message["MessageAttributes"]
                entries.append(entry)
            sent = sqs.send_message_batch(QueueUrl=source, Entries=entries)
            delivered = {entry["Id"] for entry in sent.get("Successful", [])}
            done = [
                {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                for index, message in enumerate(batch)
                if str(index) in delivered
            ]
            if done:
                sqs.delete_message_batch(QueueUrl=lane.dlq_url, Entries=done)
            count += len(done)
            if len(done) < len(batch):
                break  # what failed to send stays in the DLQ and becomes visible again
        moved[lane.lane] = count
    return moved


# Records


def _scan(target: Target, item_type: str) -> list[dict[str, Any]]:
    dynamodb = target.client("dynamodb")
    arguments: dict[str, Any] = {
        "TableName": target.images_table,
        "FilterExpression": "#type = :type",
        "ExpressionAttributeNames": {"#type": "item_type"},
        "ExpressionAttributeValues": {":type": {"S": item_type}},
    }
    items: list[dict[str, Any]] = []
    while True:
        response = dynamodb.scan(**arguments)
        items.extend(from_item(item) for item in response.get("Items", []))
        if "LastEvaluatedKey" not in response:
            return items
        arguments["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def images(target: Target, tenant: str | None = None) -> list[ImageRecord]:
    """Every image record (newest first), optionally of one tenant. A scan: fine locally, costly at scale."""
    records = [ImageRecord.model_validate(item) for item in _scan(target, "image")]
    if tenant is not None:
        records = [record for record in records if record.tenant == tenant]
    return sorted(records, key=lambda record: (record.created_at, record.image_id), reverse=True)


def batches(target: Target, tenant: str | None = None) -> list[BatchRecord]:
    found = [BatchRecord.model_validate(item) for item in _scan(target, "batch")]
    if tenant is not None:
        found = [batch for batch in found if batch.tenant == tenant]
    return sorted(found, key=lambda batch: batch.created_at or "", reverse=True)


def counts_by_status(records: Iterable[ImageRecord]) -> dict[str, int]:
    counter: Counter[str] = Counter(record.status for record in records)
    return {status: counter.get(status, 0) for status in STATUSES}


def current_records(records: Sequence[ImageRecord]) -> dict[str, ImageRecord]:
    """The newest record of each source key (a re-upload supersedes the one before)."""
    latest: dict[str, ImageRecord] = {}
    for record in records:
        known = latest.get(record.source_key)
        if known is None or (record.sequencer, record.created_at) > (known.sequencer, known.created_at):
            latest[record.source_key] = record
    return latest


# Uploads


def upload_key(tenant: str, name: str, batch_id: str | None = None) -> str:
    """`uploads/{tenant}/{name}`, or `batches/{tenant}/{batch}/{name}` for a batch member (the bulk lane's
    prefix), checked by the same rules ingest applies."""
    clean = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    clean = "".join(char for char in clean if char.isprintable()) or "upload"
    key = f"{batch_key_prefix(tenant, batch_id)}{clean}" if batch_id else f"{UPLOADS_PREFIX}{tenant}/{clean}"
    UploadKey.parse(key)  # raises InvalidUploadKey with the reason
    return key


def content_type_of(path: Path) -> str:
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


Progress = Callable[[int, int, int, int], None]  # files done, files, bytes done, bytes


def upload_files(
    target: Target,
    paths: Sequence[Path],
    *,
    tenant: str,
    batch_id: str | None = None,
    progress: Progress | None = None,
) -> list[str]:
    """Upload files to the originals bucket (as a batch when `batch_id` is given); returns their keys."""
    s3 = target.client("s3")
    sizes = [path.stat().st_size for path in paths]
    total = sum(sizes)
    done_bytes = 0
    keys: list[str] = []
    for index, (path, size) in enumerate(zip(paths, sizes, strict=True)):
        key = upload_key(tenant, path.name, batch_id)
        sent = 0

        def advance(chunk: int, base: int = done_bytes, files: int = index, size: int = size) -> None:
            nonlocal sent
            sent += chunk
            if progress is not None:
                progress(files, len(paths), base + min(sent, size), total)

        s3.upload_file(
            str(path),
            target.originals_bucket,
            key,
            ExtraArgs={"ContentType": content_type_of(path)},
            Callback=advance,
        )
        done_bytes += size
        keys.append(key)
        if progress is not None:
            progress(index + 1, len(paths), done_bytes, total)
    return keys


_BATCH_GET = 100  # keys per BatchGetItem


def _batch_get(dynamodb: Any, table: str, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """Items by (pk, sk), in BatchGetItem requests of 100, the unprocessed ones asked again."""
    found: dict[tuple[str, str], Any] = {}
    for start in range(0, len(keys), _BATCH_GET):
        request: dict[str, Any] = {
            table: {
                "Keys": [
                    {PK: {"S": pk}, SK: {"S": sk}}
                    for pk, sk in dict.fromkeys(keys[start : start + _BATCH_GET])
                ],
                "ConsistentRead": True,
            }
        }
        while request:
            response = dynamodb.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(table, []):
                found[(item[PK]["S"], item[SK]["S"])] = from_item(item)
            request = response.get("UnprocessedKeys") or {}
    return found


def latest_records(target: Target, keys: Sequence[str]) -> dict[str, ImageRecord | None]:
    """The current record of each originals key: the source pointers, then their images, by key (two
    BatchGetItem per 100 keys). Never a scan: waiting costs the same however many images the table holds."""
    dynamodb = target.client("dynamodb")
    pointers = _batch_get(dynamodb, target.images_table, [(source_pk(key), SOURCE_SK) for key in keys])
    image_ids: dict[str, str] = {}
    for key in keys:
        pointer = pointers.get((source_pk(key), SOURCE_SK))
        if pointer and pointer.get("image_id"):
            image_ids[key] = str(pointer["image_id"])
    images = _batch_get(dynamodb, target.images_table, [(image_pk(i), IMAGE_SK) for i in image_ids.values()])
    found: dict[str, ImageRecord | None] = dict.fromkeys(keys)
    for key, image in image_ids.items():
        item = images.get((image_pk(image), IMAGE_SK))
        found[key] = ImageRecord.model_validate(item) if item else None
    return found


def wait_for(
    target: Target,
    keys: Sequence[str],
    *,
    timeout: float,
    interval: float = 0.5,
    since: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, ImageRecord | None]:
    """Poll until the newest record of every key is final (READY, REJECTED, DELETED) or time runs out.

    Each round reads only the records of the keys still waiting, by key. `since` (a record timestamp)
    ignores records of earlier uploads of the same keys.
    """
    deadline = time.monotonic() + timeout
    found: dict[str, ImageRecord | None] = dict.fromkeys(keys)
    while True:
        waiting = [key for key, known in found.items() if known is None or known.status not in FINAL_STATUSES]
        for key, record in latest_records(target, waiting).items():
            found[key] = (
                record if record is not None and (since is None or record.created_at >= since) else None
            )
        final = sum(1 for record in found.values() if record is not None and record.status in FINAL_STATUSES)
        if progress is not None:
            progress(final, len(found))
        if final == len(found) or time.monotonic() >= deadline:
            return found
        time.sleep(interval)


def summary(target: Target) -> dict[str, Any]:
    """What `imgpipe status` prints: queue depths, dead letters, counts by status, batches."""
    records = images(target)
    return {
        "stack": target.description,
        "queues": queue_depths(target),
        "images": counts_by_status(records),
        "batches": [
            {
                "tenant": batch.tenant,
                "batch_id": batch.batch_id,
                "expected": batch.expected,
                "done": batch.done,
                "ready": batch.ready,
                "rejected": batch.rejected,
                "completed": batch.completed,
            }
            for batch in batches(target)
        ],
    }


def as_mapping(record: ImageRecord) -> Mapping[str, Any]:
    return record.model_dump(mode="json")


def open_batch(target: Target, tenant: str, batch_id: str, expected: int) -> BatchRecord:
    """Declare a batch's size so `Batch Completed` follows its last upload (what `POST /v1/batches` will do).

    Local: through the dev server, which also remembers it in the data directory. Deployed: the ingest
    service's own `open_batch` over the stack's table and bus, with the caller's credentials.
    """
    if target.kind == "local":
        request = urllib.request.Request(
            f"{target.images_url}/_dev/batches",
            data=json.dumps({"name": batch_id, "tenant": tenant, "expected": expected}).encode("utf-8"),
            headers={"content-type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                document = json.loads(response.read())
        except OSError as error:
            raise TargetError(f"the local stack refused the batch: {error}") from None
        return BatchRecord.model_validate(document["batch"])
    if not target.event_bus:
        raise TargetError("the stack outputs name no EventBus; cannot announce the batch")
    s3 = target.client("s3")
    service = IngestService(
        originals=S3ObjectStore(s3, target.originals_bucket),
        renditions=S3ObjectStore(s3, target.transformed_bucket),
        repository=DynamoMetadataRepository(target.client("dynamodb"), target.images_table),
        publisher=EventBridgePublisher(target.client("events"), target.event_bus),
    )
    return service.open_batch(tenant, batch_id, expected)
