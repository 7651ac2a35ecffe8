"""Corpus tier: every file of ../shared/corpus through the ingest pipeline under moto (skipped without it).

Each file is uploaded to the originals bucket, notified to SQS and handled by `ingest.handler.handler` over
the real adapters, in a forked child under an address-space cap (a decoder that runs away is killed by
the kernel, not the test run); the child reports the record. Every file must end in the state its
manifest `expected` column implies: READY with renditions that decode, or REJECTED with a fitting reason
and the original in quarantine. Nothing ends PROCESSING, nothing is left in a queue or a DLQ.
"""

from __future__ import annotations

import io
import json
import os
import resource
from collections.abc import Iterator
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from moto import mock_aws
from PIL import Image

from infra.constants import ENV_PRESETS, LANE_BULK, LANE_INTERACTIVE, QUARANTINE_REASON_METADATA
from tests.corpus.conftest import CorpusFile, corpus_params
from tests.corpus.test_hostile import _fitting_reasons, _may_process
from tests.integration import ingest_stack as stack_module
from tests.integration.ingest_stack import ORIGINALS, REGION, TRANSFORMED, IngestStack, build

pytestmark = pytest.mark.corpus

ADDRESS_SPACE_CAP = 3 * 1024**3
# The state is under test here, not the preset set (bench/ measures that): one preset keeps the tier fast.
PRESETS = {"small": "w=320"}


@pytest.fixture(scope="module")
def corpus_stack() -> Iterator[IngestStack]:
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    try:
        with mock_aws():
            stack = build(boto3.session.Session(region_name=REGION))
            stack.reconfigure(**{ENV_PRESETS: json.dumps(PRESETS)})
            previous = stack_module.ingest_handler.app
            stack_module.ingest_handler.app = stack.current_app  # type: ignore[assignment]
            try:
                yield stack
            finally:
                stack_module.ingest_handler.app = previous  # type: ignore[assignment]
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _ingest(stack: IngestStack, row: CorpusFile, key: str) -> dict[str, Any]:
    """Upload, drain both lanes, and describe the outcome (runs in the child)."""
    stack.put_original(key, row.file.read_bytes(), "application/octet-stream")
    stack.drain(max_polls=20)
    record = stack.record_of(key)
    outcome: dict[str, Any] = {
        "status": record.status,
        "reason": record.reason,
        "message": record.reason_message,
        "left_in_queues": sum(
            stack.queue_depth(url)
            for lane in (LANE_INTERACTIVE, LANE_BULK)
            for url in (stack.lanes[lane].queue_url, stack.lanes[lane].dlq_url)
        ),
        "originals": stack.keys(ORIGINALS),
        "renditions": [],
    }
    if record.quarantine_key:
        head = stack.s3.head_object(Bucket=ORIGINALS, Key=record.quarantine_key)
        outcome["quarantine_reason"] = head["Metadata"].get(QUARANTINE_REASON_METADATA)
    for rendition in record.renditions:
        data = stack.get(TRANSFORMED, rendition.key)["Data"]
        image = Image.open(io.BytesIO(data))
        image.load()
        outcome["renditions"].append(
            {
                "format": rendition.format,
                "decoded": [image.format, image.width, image.height],
                "recorded": [rendition.width, rendition.height],
                "php": b"<?php" in data,
            }
        )
    return outcome


def _run_in_child(stack: IngestStack, row: CorpusFile, key: str) -> dict[str, Any]:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: its moto state is a copy of the parent's, thrown away when it exits
        os.close(read_end)
        try:
            resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_CAP, ADDRESS_SPACE_CAP))
            outcome = _ingest(stack, row, key)
        except BaseException as error:  # the crash itself is the finding
            outcome = {"status": "crashed", "error": f"{type(error).__name__}: {error}"}
        os.write(write_end, json.dumps(outcome).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        payload = reader.read()
    _, status, _ = os.wait4(pid, 0)
    if not payload:
        return {"status": "killed", "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None}
    result: dict[str, Any] = json.loads(payload)
    return result


def _may_be_rejected(row: CorpusFile) -> set[str]:
    if row.path.startswith("hostile/"):
        return _fitting_reasons(row)
    # Valid but tricky files: only a format the engine does not accept may be refused (test_edge.py).
    return {"unsupported-format"} if "reject" in row.expected else set()


@pytest.mark.parametrize("row", corpus_params("photos") + corpus_params("edge") + corpus_params("hostile"))
def test_every_corpus_file_ends_in_the_state_its_manifest_implies(
    corpus_stack: IngestStack, row: CorpusFile
) -> None:
    # Given a corpus file uploaded under a tenant (its own name, whatever the extension claims)
    key = "uploads/corpus/" + row.path.replace("__", "/", 1)
    # When S3 notifies ingest and the queues drain (in a child under a memory cap)
    outcome = _run_in_child(corpus_stack, row, key)
    # Then it ended READY or REJECTED, nothing crashed, no message was left in a queue or a DLQ
    assert outcome["status"] in ("READY", "REJECTED"), outcome
    assert outcome["left_in_queues"] == 0, outcome
    if outcome["status"] == "REJECTED":
        # A rejection is allowed where the manifest allows one, with a fitting reason, quarantined
        assert outcome["reason"] in _may_be_rejected(row), (row.expected, outcome)
        assert outcome["message"]
        assert outcome["quarantine_reason"] == outcome["reason"]
        assert key not in outcome["originals"]
        assert outcome["renditions"] == []
    else:
        if row.path.startswith("hostile/"):
            assert _may_process(row), (row.expected, outcome)
        assert outcome["renditions"], outcome
        for rendition in outcome["renditions"]:
            # Each rendition decodes, in its format, at the size the record says
            fmt, width, height = rendition["decoded"]
            assert fmt.lower() == rendition["format"], rendition
            assert [width, height] == rendition["recorded"], rendition
            assert not rendition["php"]
        if row.upright_size and "first frame" not in row.expected:
            upright_w, upright_h = row.upright_size
            out_w = min(320, upright_w)
            first = outcome["renditions"][0]["decoded"]
            assert abs(first[1] - out_w) <= 1
            assert abs(first[2] - max(1, round(upright_h * out_w / upright_w))) <= 1
