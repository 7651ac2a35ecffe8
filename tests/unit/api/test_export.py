"""POST /v1/batches/{id}/export: the ZIP under SEO names with the CSV of names, built synchronously."""

from __future__ import annotations

import csv
import io
import zipfile

from PIL import Image

from tests.builders import encode, photo_like, with_gps
from tests.unit.api.conftest import Api, assert_problem

GPS_IFD = 0x8825


def small_jpeg(seed: int) -> bytes:
    return encode(photo_like(64, 48, seed), "JPEG", quality=80)


def read_export(api: Api, key: str) -> tuple[dict[str, bytes], list[dict[str, str]]]:
    with zipfile.ZipFile(io.BytesIO(api.exports.objects[key])) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    rows = list(csv.DictReader(io.StringIO(files.pop("names.csv").decode("utf-8"))))
    return files, rows


def test_export_zips_every_ready_image_under_unique_seo_names(api: Api) -> None:
    # Given a batch with three ready images (two tagged alike) and one rejected
    api.add_batch(batch_id="summer", expected=4)
    api.add_image(
        number=1,
        batch_id="summer",
        tags=["beach", "sunset"],
        taken_at="2026-07-01T18:00:00Z",
        data=with_gps(photo_like(64, 48, 1)),
        name="IMG_0001.jpg",
    )
    api.add_image(
        number=2,
        batch_id="summer",
        tags=["beach", "sunset"],
        taken_at="2026-07-01T18:05:00Z",
        data=small_jpeg(2),
        name="IMG_0002.jpg",
    )
    api.add_image(
        number=3, batch_id="summer", tags=["The", "Mountain", "Lake"], data=small_jpeg(3), name="PXL_0003.jpg"
    )
    api.add_image(number=4, batch_id="summer", status="REJECTED", name="broken.jpg")
    # When the batch is exported
    reply = api.call("POST", "/v1/batches/summer/export")
    # Then the answer points at a ZIP under exports/{tenant}/{batch}/
    assert reply.status == 201, reply.body
    body = reply.json
    assert body["files"] == 3 and body["skipped"] == 1
    assert body["key"].startswith("exports/acme/summer/") and body["key"].endswith(".zip")
    assert api.signer.gets == [(body["key"], "summer.zip")]
    files, rows = read_export(api, body["key"])
    # And every name is unique, a slug of the tags and date, at most 60 characters, with the extension
    assert sorted(files) == sorted(
        ["beach-sunset-2026-07-01.jpg", "beach-sunset-2026-07-01-2.jpg", "mountain-lake.jpg"]
    )
    assert all(len(name) <= 60 for name in files)
    assert len(body) and body["bytes"] == len(api.exports.objects[body["key"]])
    # And the CSV maps each original file name to its new name
    assert {row["original"]: row["name"] for row in rows} == {
        "IMG_0001.jpg": "beach-sunset-2026-07-01.jpg",
        "IMG_0002.jpg": "beach-sunset-2026-07-01-2.jpg",
        "PXL_0003.jpg": "mountain-lake.jpg",
    }
    # And every file decodes, at the source's size, without GPS
    for name, data in files.items():
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            assert image.format == "JPEG"
            assert image.size == (64, 48)
            assert not image.getexif().get_ifd(GPS_IFD)
        row = next(row for row in rows if row["name"] == name)
        assert int(row["bytes"]) == len(data)


def test_export_names_are_the_records_seo_names_with_the_extension(api: Api) -> None:
    # Given two ready images whose records carry the same SEO name (as ingest and its event give it)
    api.add_batch(batch_id="b")
    for number in (1, 2):
        api.add_image(
            number=number, batch_id="b", data=small_jpeg(number), tags=["lake"], seo_name="harbour-at-dusk"
        )
    # When the batch is exported
    body = api.call("POST", "/v1/batches/b/export").json
    files, _ = read_export(api, body["key"])
    # Then each file is that name with the output's extension, made unique within the batch
    assert sorted(files) == ["harbour-at-dusk-2.jpg", "harbour-at-dusk.jpg"]


def test_export_skips_images_whose_original_is_gone(api: Api) -> None:
    api.add_batch(batch_id="b")
    api.add_image(number=1, batch_id="b", data=small_jpeg(1))
    api.add_image(number=2, batch_id="b")  # no original stored
    reply = api.call("POST", "/v1/batches/b/export")
    assert reply.status == 201
    assert (reply.json["files"], reply.json["skipped"]) == (1, 1)


def test_export_of_a_batch_with_nothing_ready_is_409(api: Api) -> None:
    api.add_batch(batch_id="b")
    api.add_image(number=1, batch_id="b", status="PROCESSING")
    assert_problem(api.call("POST", "/v1/batches/b/export"), 409, "nothing-to-export")
    assert api.exports.objects == {}


def test_export_over_the_synchronous_limit_is_413_before_reading_anything(api: Api) -> None:
    api.reconfigure(export_max_images=1)
    api.add_batch(batch_id="b")
    api.add_image(number=1, batch_id="b", data=small_jpeg(1))
    api.add_image(number=2, batch_id="b", data=small_jpeg(2))
    assert_problem(api.call("POST", "/v1/batches/b/export"), 413, "export-too-large")
    assert not [call for call in api.originals.calls if call[0] == "get"]


def test_a_failed_export_aborts_its_upload(api: Api) -> None:
    # Given an originals store that fails mid-export
    api.add_batch(batch_id="b")
    api.add_image(number=1, batch_id="b", data=small_jpeg(1))

    def fail(_: str) -> None:
        raise ConnectionError("reset")

    api.originals.fail_on["get"] = fail
    reply = api.call("POST", "/v1/batches/b/export")
    # Then the caller sees a 500 problem and no half-written ZIP is left
    assert_problem(reply, 500)
    assert api.exports.objects == {}
    assert len(api.exports.aborted) == 1
