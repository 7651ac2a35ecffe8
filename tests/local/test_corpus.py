"""Real photographs and a hostile file from ../shared/corpus through the local stack (skipped without it)."""

from __future__ import annotations

import pytest

from imgpipe.delivery import parse_signing_keys
from imgpipe.dev.urls import build_url
from tests.local.conftest import CORPUS, LiveStack, fetch

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not (CORPUS / "MANIFEST.tsv").is_file(), reason=f"no corpus at {CORPUS}"),
]

# Two of the smaller camera JPEGs; the second is stored sideways (EXIF orientation 6).
PHOTOS = ("photos/ianare__HMD_Nokia_8.3_5G.jpg", "photos/tomsaleeba__saboteur.jpg")


def test_camera_photos_become_ready_and_deliver(live: LiveStack) -> None:
    keys = {}
    for path in PHOTOS:
        key = live.key(path.rsplit("/", 1)[-1])
        live.stack.put_original(key, (CORPUS / path).read_bytes(), "image/jpeg")
        keys[path] = key
    records = live.wait(list(keys.values()), timeout=120)
    for key in keys.values():
        record = records[key]
        assert record.status == "READY", (key, record.reason, record.reason_message)
        assert record.camera and record.width and record.height
    saboteur = records[keys["photos/tomsaleeba__saboteur.jpg"]]
    assert saboteur.orientation == 6 and saboteur.height > saboteur.width  # served upright
    thumb = fetch(live.url + "/" + saboteur.source_key + "?preset=thumb", headers={"accept": "image/webp"})
    assert thumb.status == 200 and thumb.headers["content-type"] == "image/webp"
    if live.stack.resize and live.stack.resize.available:
        stack = live.stack
        built = build_url(
            saboteur.source_key,
            "w=320",
            presets=stack.config.presets,
            policy=stack.signing_policy,
            secret=parse_signing_keys(stack.signing_keys)[0],
        )
        answer = fetch(live.url + built.path_and_query, headers={"accept": "image/avif,image/webp,*/*"})
        assert answer.status == 200 and answer.headers["content-type"] == "image/avif"


def test_a_truncated_corpus_jpeg_is_rejected(live: LiveStack) -> None:
    key = live.key("truncated.jpg")
    live.stack.put_original(key, (CORPUS / "hostile/sharp__truncated.jpg").read_bytes(), "image/jpeg")
    record = live.wait([key])[key]
    assert record.status == "REJECTED" and record.reason == "truncated" and record.reason_message
