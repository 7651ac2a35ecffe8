"""The dev server's own endpoints: the gallery page, its JSON, presigned POST uploads, /v1 behind a key."""

from __future__ import annotations

import base64
import json

from imgpipe.dev.presign import PostRefused, check_post, presigned_post, presigning_client
from tests.builders import colour_card, encode
from tests.local.conftest import LiveStack, fetch, multipart, post_json


def test_the_gallery_page_and_its_assets_are_served(live: LiveStack) -> None:
    page = fetch(live.url + "/")
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    assert b"/_dev/static/app.js" in page.body and b"Drop images here" in page.body
    for asset, kind in (("app.js", "text/javascript"), ("style.css", "text/css")):
        answer = fetch(f"{live.url}/_dev/static/{asset}")
        assert answer.status == 200 and answer.headers["content-type"].startswith(kind)
    assert fetch(live.url + "/_dev/static/../stack.py").status == 404


def test_v1_is_the_management_api_behind_the_key_check(live: LiveStack) -> None:
    assert fetch(live.url + "/v1/health").json()["status"] == "ok"
    for path in ("/v1", "/v1/images", "/v1/uploads"):
        refused = fetch(live.url + path)
        assert refused.status == 403 and refused.headers["content-type"] == "application/problem+json"
    unknown = fetch(live.url + "/v1/nothing-here", headers={"x-api-key": live.stack.api_key().value})
    assert unknown.status == 404 and unknown.json()["type"] == "urn:imgpipe:problem:no-route"


def test_config_and_snapshot_describe_the_stack(live: LiveStack) -> None:
    config = fetch(live.url + "/_dev/config").json()
    assert config["signing_policy"] == "presets-unsigned" and "thumb" in config["presets"]
    assert config["api"]["available"] is True and config["api"]["docs"] == "/v1/docs"
    key = live.key("snap.jpg")
    live.stack.put_original(key, encode(colour_card(120, 80), "JPEG"), "image/jpeg")
    live.wait([key])
    snapshot = fetch(live.url + "/_dev/snapshot").json()
    shown = {image["source_key"]: image for image in snapshot["images"]}
    assert shown[key]["status"] == "READY" and shown[key]["blurhash"]
    assert shown[key]["urls"]["thumb"].endswith("?preset=thumb")
    assert set(snapshot["queues"]) == {"interactive", "bulk"} and "READY" in snapshot["counts"]
    thumb = fetch(live.url + shown[key]["urls"]["thumb"], headers={"accept": "image/webp"})
    assert thumb.status == 200 and thumb.headers["content-type"] == "image/webp"


def test_browser_upload_by_presigned_post_reaches_ready(live: LiveStack) -> None:
    data = encode(colour_card(150, 100), "JPEG")
    name = live.key("dropped.jpg").rsplit("/", 1)[-1]
    post = post_json(
        live.url + "/_dev/uploads", {"name": name, "type": "image/jpeg", "size": len(data)}
    ).json()
    assert post["url"] == "/_dev/s3/imgpipe-originals" and post["fields"]["Content-Type"] == "image/jpeg"
    policy = json.loads(base64.b64decode(post["fields"]["policy"]))
    assert ["content-length-range", 1, post["max_bytes"]] in policy["conditions"]
    content_type, body = multipart(post["fields"], data, name)
    answer = fetch(live.url + post["url"], method="POST", headers={"content-type": content_type}, body=body)
    assert answer.status == 204, answer.body
    assert live.wait([post["key"]])[post["key"]].status == "READY"


def test_the_post_policy_is_enforced_as_s3_would(live: LiveStack) -> None:
    data = encode(colour_card(40, 40), "PNG")
    post = post_json(
        live.url + "/_dev/uploads", {"name": "liar.png", "type": "image/png", "size": len(data)}
    ).json()
    # A field changed after signing breaks its condition
    content_type, body = multipart({**post["fields"], "Content-Type": "text/html"}, data)
    refused = fetch(live.url + post["url"], method="POST", headers={"content-type": content_type}, body=body)
    assert refused.status == 403 and b"<Code>AccessDenied</Code>" in refused.body
    # A forged signature is refused
    forged = {**post["fields"], "x-amz-signature": "0" * 64}
    content_type, body = multipart(forged, data)
    refused = fetch(live.url + post["url"], method="POST", headers={"content-type": content_type}, body=body)
    assert refused.status == 403
    # A declared size over the limit is refused before any presigning
    too_big = post_json(
        live.url + "/_dev/uploads", {"name": "huge.jpg", "type": "image/jpeg", "size": 1 << 40}
    )
    assert too_big.status == 413 and too_big.json()["param"] == "size"


def test_content_length_range_is_checked(live: LiveStack) -> None:
    post = presigned_post(
        presigning_client(live.stack.session),
        "imgpipe-originals",
        "uploads/local/x.jpg",
        content_type="image/jpeg",
        max_bytes=10,
    )
    assert live.stack.session is not None
    secret = live.stack.session.secret_key
    check_post(post["fields"], 10, bucket="imgpipe-originals", secret_key=secret)
    for size, code in ((11, "EntityTooLarge"), (0, "EntityTooSmall")):
        try:
            check_post(post["fields"], size, bucket="imgpipe-originals", secret_key=secret)
        except PostRefused as refused:
            assert refused.code == code
        else:
            raise AssertionError(f"{size} bytes passed a 1..10 byte policy")


def test_signed_urls_for_the_playground(live: LiveStack) -> None:
    built = post_json(
        live.url + "/_dev/url", {"key": "uploads/local/a b.jpg", "query": "w=300&fm=webp"}
    ).json()
    assert built["signed"] and built["url"].startswith("/uploads/local/a%20b.jpg?fm=webp&w=300&s=")
    preset = post_json(live.url + "/_dev/url", {"key": "uploads/local/a.jpg", "query": "preset=thumb"}).json()
    assert not preset["signed"] and preset["url"] == "/uploads/local/a.jpg?preset=thumb"
    bad = post_json(live.url + "/_dev/url", {"key": "uploads/local/a.jpg", "query": "fit=sideways"})
    assert bad.status == 400 and bad.json()["param"] == "fit"


def test_a_batch_opened_in_the_gallery_completes(live: LiveStack) -> None:
    opened = post_json(live.url + "/_dev/batches", {"name": "gallery batch!", "expected": 2}).json()
    batch_id = opened["batch_id"]
    assert batch_id == "gallery-batch"
    keys = []
    for index in range(2):
        data = encode(colour_card(60 + index, 40), "JPEG")
        post = post_json(
            live.url + "/_dev/uploads",
            {"name": f"b{index}.jpg", "type": "image/jpeg", "size": len(data), "batch": batch_id},
        ).json()
        assert post["key"] == f"batches/local/{batch_id}/b{index}.jpg"
        content_type, body = multipart(post["fields"], data)
        assert (
            fetch(
                live.url + post["url"], method="POST", headers={"content-type": content_type}, body=body
            ).status
            == 204
        )
        keys.append(post["key"])
    live.wait(keys)
    batches = {batch["batch_id"]: batch for batch in fetch(live.url + "/_dev/snapshot").json()["batches"]}
    assert batches[batch_id]["done"] == 2
