"""`/_dev/*` (uploads, deletes, redrive, URL signing) answers the gallery and local tools only: no
cross-site form, no DNS-rebinding page, no policy forged with a secret from the repository."""

from __future__ import annotations

import json

from botocore.config import Config  # type: ignore[import-untyped]

from imgpipe.dev.datadir import DataDir
from imgpipe.dev.presign import presigned_post
from imgpipe.dev.session import LocalSession
from tests.builders import colour_card, encode
from tests.local.conftest import LiveStack, fetch, multipart, post_json

OLD_REPOSITORY_SECRET = "imgpipe-local-secret"  # the constant every checkout once shared


def _ready_key(live: LiveStack) -> str:
    key = live.key("victim.jpg")
    live.stack.put_original(key, encode(colour_card(80, 60), "JPEG"), "image/jpeg")
    live.wait([key])
    return key


def test_a_cross_site_text_plain_post_deletes_nothing(live: LiveStack) -> None:
    # Given a READY image
    key = _ready_key(live)
    # When a page elsewhere posts a "simple" text/plain request (no preflight) to /_dev/delete
    body = json.dumps({"key": key}).encode()
    plain = fetch(f"{live.url}/_dev/delete", method="POST", headers={"content-type": "text/plain"}, body=body)
    cross = fetch(
        f"{live.url}/_dev/delete",
        method="POST",
        headers={"content-type": "application/json", "origin": "http://evil.example"},
        body=body,
    )
    site = fetch(
        f"{live.url}/_dev/delete",
        method="POST",
        headers={"content-type": "application/json", "sec-fetch-site": "cross-site"},
        body=body,
    )
    redrive = fetch(f"{live.url}/_dev/redrive", method="POST", headers={"content-type": "text/plain"})
    # Then each is refused and the image is still READY
    assert plain.status == 415 and plain.json()["type"].endswith("unsupported-media-type")
    assert redrive.status == 415
    assert cross.status == 403 and site.status == 403
    assert live.wait([key])[key].status == "READY"


def test_a_dns_rebinding_host_gets_no_signed_url(live: LiveStack) -> None:
    # Given a page under the attacker's name that resolves to 127.0.0.1
    request = {"key": "uploads/local/any.jpg", "query": "w=4000&blur=100", "sign": True}
    headers = {"content-type": "application/json", "host": "rebind.evil.example"}
    # When it asks /_dev/url to sign a transformation (or reads the snapshot)
    signed = fetch(f"{live.url}/_dev/url", method="POST", headers=headers, body=json.dumps(request).encode())
    snapshot = fetch(f"{live.url}/_dev/snapshot", headers={"host": "rebind.evil.example"})
    # Then it is refused; the same request from the gallery's own origin is answered
    assert signed.status == 403 and snapshot.status == 403
    assert post_json(f"{live.url}/_dev/url", request).status == 200


def test_the_post_policy_secret_is_the_data_directorys_own(live: LiveStack) -> None:
    # Given the data directory's secret: generated, owner-only, not the constant of the repository
    file = live.options.data_dir / "aws-secret"
    secret = DataDir(live.options.data_dir).aws_secret()
    assert file.stat().st_mode & 0o077 == 0 and len(secret) >= 32 and secret != OLD_REPOSITORY_SECRET
    # When a policy is forged with the old repository constant
    forger = LocalSession(live.stack.endpoint, secret_key=OLD_REPOSITORY_SECRET)
    key = live.key("forged.jpg")
    post = presigned_post(
        forger.client("s3", config=Config(signature_version="s3v4")),
        "imgpipe-originals",
        key,
        content_type="image/jpeg",
        max_bytes=10_000_000,
    )
    content_type, body = multipart(post["fields"], encode(colour_card(40, 40), "JPEG"))
    answer = fetch(
        f"{live.url}/_dev/s3/imgpipe-originals",
        method="POST",
        headers={"content-type": content_type},
        body=body,
    )
    # Then S3's check refuses it
    assert answer.status == 403 and b"AccessDenied" in answer.body
