"""Quotas on the table (presign and the ingest gate) and exports written by S3 multipart upload (moto)."""

from __future__ import annotations

import csv
import io
import os
import zipfile
from typing import Any

import pytest
import requests
from PIL import Image

from imgpipe.adapters.api_dynamodb import DynamoQuotaGate
from imgpipe.adapters.api_s3 import MIN_PART_SIZE, S3MultipartSink
from tests.builders import encode, photo_like, with_gps
from tests.integration.api_stack import KEY_B, START, TABLE, TENANT_B, TRANSFORMED, ApiStack, api_stack

__all__ = ["api_stack"]
# Powertools warns when an invocation added no metric: most API calls add none, by design.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics")

UPLOAD = {"filename": "a.jpg", "content_type": "image/jpeg", "size": 1000}


def gate(stack: ApiStack, images: int, storage: int) -> DynamoQuotaGate:
    return DynamoQuotaGate(stack.dynamodb, TABLE, limits=lambda plan: (images, storage), clock=lambda: START)


def test_ingest_gate_counts_images_and_bytes_atomically(api_stack: ApiStack) -> None:
    # Given a plan of 2 images a month and 5,000 bytes
    quota = gate(api_stack, images=2, storage=5000)
    # Then two uploads are admitted and the third is refused, changing nothing
    assert [quota.admits("acme", 1000), quota.admits("acme", 1000), quota.admits("acme", 1000)] == [
        True,
        True,
        False,
    ]
    usage = api_stack.repository.usage("acme", "2026-12")
    assert (usage.images, usage.storage_bytes) == (2, 2000)


def test_ingest_gate_refuses_what_does_not_fit_and_release_frees_it(api_stack: ApiStack) -> None:
    quota = gate(api_stack, images=100, storage=1500)
    assert quota.admits("acme", 1000)
    assert not quota.admits("acme", 600)
    quota.release("acme", 1000)
    assert quota.admits("acme", 600)
    assert not quota.admits("acme", 5000)


def test_presign_answers_429_once_the_gate_counted_the_months_images(
    api_stack: ApiStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the pro plan limited to 2 images a month, and ingest having accepted 2 of tenant B's
    monkeypatch.setenv("IMGPIPE_API_PLANS", '{"pro": {"monthly_images": 2}}')
    # (on the real clock, as the handler's service runs on it)
    quota = DynamoQuotaGate(api_stack.dynamodb, TABLE, limits=lambda plan: (2, 10**9))
    assert quota.admits(TENANT_B, 10) and quota.admits(TENANT_B, 10)
    # When B asks for another upload
    reply = api_stack.call("POST", "/v1/uploads", key=KEY_B, body=UPLOAD)
    # Then it is refused with Retry-After, while tenant A (no usage) is not
    assert reply.status == 429
    assert reply.content_type == "application/problem+json"
    assert int(reply.headers["Retry-After"]) > 0
    assert api_stack.call("POST", "/v1/uploads", body=UPLOAD).status == 201


def test_multipart_sink_writes_parts_and_completes(api_stack: ApiStack) -> None:
    # Given 11 MiB written in odd-sized chunks to a sink with 5 MiB parts
    data = os.urandom(11 * 1024 * 1024)
    sink = S3MultipartSink(
        api_stack.s3, TRANSFORMED, "exports/t/x.zip", content_type="application/zip", part_size=MIN_PART_SIZE
    )
    for start in range(0, len(data), 777_777):
        sink.write(data[start : start + 777_777])
    sink.close()
    # Then three parts made one object with exactly those bytes
    assert sink.parts == 3
    stored = api_stack.s3.get_object(Bucket=TRANSFORMED, Key="exports/t/x.zip")
    assert stored["Body"].read() == data
    assert stored["ContentType"] == "application/zip"


def test_aborted_sink_leaves_no_object_and_no_upload(api_stack: ApiStack) -> None:
    sink = S3MultipartSink(
        api_stack.s3, TRANSFORMED, "exports/t/y.zip", content_type="application/zip", part_size=MIN_PART_SIZE
    )
    sink.write(os.urandom(MIN_PART_SIZE + 10))
    sink.abort()
    assert not api_stack.exists(TRANSFORMED, "exports/t/y.zip")
    assert not api_stack.s3.list_multipart_uploads(Bucket=TRANSFORMED).get("Uploads")


def test_export_downloads_a_zip_whose_files_decode_under_the_csv_names(api_stack: ApiStack) -> None:
    # Given a batch of four ready images (two tagged alike, one with GPS in its original) and a rejected one
    api_stack.add_batch(batch_id="trip", expected=5)
    originals: dict[str, bytes] = {
        "IMG_1.jpg": with_gps(photo_like(80, 60, 1)),
        "IMG_2.jpg": encode(photo_like(60, 80, 2), "JPEG"),
        "IMG_3.png": encode(photo_like(50, 50, 3), "PNG"),
        "IMG_4.jpg": encode(photo_like(70, 40, 4), "JPEG"),
    }
    tags = [["harbour", "boats"], ["harbour", "boats"], ["lighthouse"], []]
    for number, ((name, data), tag_list) in enumerate(zip(originals.items(), tags, strict=True)):
        api_stack.add_image(
            number=number,
            batch_id="trip",
            data=data,
            name=name,
            tags=tag_list,
            taken_at="2026-08-15T09:00:00Z",
            seo_name="harbour-view-2026-08-15" if not tag_list else None,
        )
    api_stack.add_image(number=9, batch_id="trip", status="REJECTED", name="bad.jpg")
    # When the batch is exported and the presigned URL is fetched
    reply = api_stack.call("POST", "/v1/batches/trip/export")
    assert reply.status == 201, reply.body
    export: dict[str, Any] = reply.json
    download = requests.get(export["url"], timeout=10)
    assert download.status_code == 200
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        names = archive.namelist()
        rows = list(csv.DictReader(io.StringIO(archive.read("names.csv").decode())))
        files = {name: archive.read(name) for name in names if name != "names.csv"}
    # Then there are four files, uniquely named as the CSV says, each decoding without GPS
    assert (export["files"], export["skipped"]) == (4, 1)
    assert len(files) == 4 and len(set(files)) == 4
    assert {row["original"]: row["name"] for row in rows} == {
        "IMG_1.jpg": "harbour-boats-2026-08-15.jpg",
        "IMG_2.jpg": "harbour-boats-2026-08-15-2.jpg",
        "IMG_3.png": "lighthouse-2026-08-15.jpg",
        "IMG_4.jpg": "harbour-view-2026-08-15.jpg",
    }
    assert set(files) == {row["name"] for row in rows}
    for row in rows:
        with Image.open(io.BytesIO(files[row["name"]])) as image:
            image.load()
            assert image.size == (int(row["width"]), int(row["height"]))
            assert not image.getexif().get_ifd(0x8825)
    assert all(len(name) <= 60 for name in files)
