"""Images by URL as CloudFront answers them: edge rules, the transformed bucket first, resize on a miss."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from imgpipe.core.keys import canonical_path
from imgpipe.delivery import parse_signing_keys
from imgpipe.dev.urls import build_url
from tests.builders import colour_card, encode, photo_like
from tests.local.conftest import MAX_INLINE_BYTES, Answer, LiveStack, fetch

AVIF_FIRST = "image/avif,image/webp,image/apng,*/*;q=0.8"
WEBP_ONLY = "image/webp,*/*"
LEGACY = "*/*"


@pytest.fixture(scope="module")
def photo(live: LiveStack) -> str:
    key = live.key("delivery photo.jpg")  # a space: keys are URL-encoded on the way in and out
    live.stack.put_original(key, encode(photo_like(400, 300), "JPEG", quality=90), "image/jpeg")
    assert live.wait([key])[key].status == "READY"
    return key


def signed(live: LiveStack, key: str, query: str, *, expires_at: int | None = None) -> str:
    stack = live.stack
    built = build_url(
        key,
        query,
        presets=stack.config.presets,
        policy=stack.signing_policy,
        secret=parse_signing_keys(stack.signing_keys)[0],
        sign_always=True,
        expires_at=expires_at,
    )
    return live.url + built.path_and_query


def unsigned(live: LiveStack, key: str, query: str) -> str:
    built = build_url(key, query, presets=live.stack.config.presets, policy="off", secret=None)
    return live.url + built.path_and_query


def image_of(answer: Answer) -> Image.Image:
    assert answer.status == 200, answer.body[:300]
    image = Image.open(io.BytesIO(answer.body))
    image.load()
    return image


def require_resize(live: LiveStack) -> None:
    if not (live.stack.resize and live.stack.resize.available):
        reason = live.stack.resize.unavailable_reason if live.stack.resize else "no resize origin"
        pytest.skip(f"on-demand delivery is not available: {reason}")


def test_preset_renditions_are_hits_in_the_transformed_bucket_by_accept(live: LiveStack, photo: str) -> None:
    url = unsigned(live, photo, "preset=thumb")
    for accept, media_type in ((AVIF_FIRST, "image/avif"), (WEBP_ONLY, "image/webp"), (LEGACY, "image/jpeg")):
        answer = fetch(url, headers={"accept": accept})
        assert answer.status == 200
        assert answer.headers["content-type"] == media_type
        assert answer.headers["x-imgpipe-origin"] == "transformed-bucket"
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert answer.headers["etag"] and answer.headers["access-control-allow-origin"] == "*"
    assert image_of(fetch(url, headers={"accept": LEGACY})).size == (200, 200)


def test_a_stored_rendition_answers_if_none_match_with_304(live: LiveStack, photo: str) -> None:
    url = unsigned(live, photo, "preset=small&fm=webp")
    first = fetch(url)
    again = fetch(url, headers={"if-none-match": first.headers["etag"]})
    assert again.status == 304 and again.body == b""


def test_bucket_hits_vary_on_accept_exactly_when_the_format_was_negotiated(
    live: LiveStack, photo: str
) -> None:
    # Given preset renditions stored at ingest (S3 cannot store Vary)
    negotiated = unsigned(live, photo, "preset=small&fm=auto")
    fixed = unsigned(live, photo, "preset=small&fm=webp")
    for _ in range(2):
        # When the viewer left the format to Accept, every hit says so (the viewer-response function's twin)
        hit = fetch(negotiated, headers={"accept": WEBP_ONLY})
        assert hit.status == 200 and hit.headers["x-imgpipe-origin"] == "transformed-bucket"
        assert hit.headers.get("vary") == "Accept"
        # When the URL fixed the format, no hit varies
        plain = fetch(fixed, headers={"accept": WEBP_ONLY})
        assert plain.status == 200 and plain.headers["x-imgpipe-origin"] == "transformed-bucket"
        assert "vary" not in plain.headers
    # And a revalidation of the negotiated rendition varies too
    again = fetch(negotiated, headers={"accept": WEBP_ONLY, "if-none-match": hit.headers["etag"]})
    assert again.status == 304 and again.headers.get("vary") == "Accept"


def test_on_demand_miss_renders_stores_and_then_hits(live: LiveStack, photo: str) -> None:
    require_resize(live)
    url = signed(live, photo, "w=137&fit=inside")
    first = fetch(url, headers={"accept": AVIF_FIRST})
    assert first.headers["x-imgpipe-origin"] == "resize"
    assert first.headers["content-type"] == "image/avif"
    assert first.headers.get("vary") == "Accept"
    assert image_of(first).size == (137, 103)
    second = fetch(url, headers={"accept": AVIF_FIRST})
    assert second.headers["x-imgpipe-origin"] == "transformed-bucket"
    assert second.body == first.body and second.headers.get("vary") == "Accept"
    # Another Accept is another rendition: negotiated at the edge, rendered once, stored under its own key
    legacy = fetch(url, headers={"accept": LEGACY})
    assert legacy.headers["content-type"] == "image/jpeg" and image_of(legacy).format == "JPEG"


@pytest.mark.parametrize(
    ("query", "fmt", "size"),
    [("w=90&h=90&fit=cover&fm=webp", "WEBP", (90, 90)), ("h=50&fm=png&gray=1", "PNG", (67, 50))],
)
def test_explicit_formats_and_geometry(
    live: LiveStack, photo: str, query: str, fmt: str, size: tuple[int, int]
) -> None:
    require_resize(live)
    image = image_of(fetch(signed(live, photo, query)))
    assert image.format == fmt and image.size == size


def test_unsigned_transformations_are_refused_at_the_edge(live: LiveStack, photo: str) -> None:
    answer = fetch(unsigned(live, photo, "w=120"))
    assert answer.status == 403
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["x-imgpipe-origin"] == "edge"
    assert answer.json()["type"] == "urn:imgpipe:problem:signature-required"


def test_a_tampered_or_expired_signature_is_refused(live: LiveStack, photo: str) -> None:
    url = signed(live, photo, "w=120")
    tampered = url.replace("w=120", "w=121")
    assert fetch(tampered).json()["type"] == "urn:imgpipe:problem:signature-invalid"
    expired = signed(live, photo, "w=120", expires_at=int(time.time()) - 5)
    answer = fetch(expired)
    assert answer.status == 403 and answer.json()["type"] == "urn:imgpipe:problem:expired"


def test_bad_parameters_and_missing_sources(live: LiveStack, photo: str) -> None:
    bad = fetch(f"{live.url}{canonical_path(photo)}?w=-4")
    assert bad.status == 400 and bad.json()["param"] == "w"
    assert bad.headers["cache-control"].startswith("public, max-age=")
    require_resize(live)
    missing = fetch(signed(live, "uploads/local/never-uploaded.jpg", "w=100"))
    assert missing.status == 404 and missing.headers["content-type"] == "application/problem+json"


def test_a_rendition_too_big_for_a_response_redirects_to_itself(live: LiveStack) -> None:
    require_resize(live)
    # A noisy PNG over the inline limit: stored, then answered by a 307 that CloudFront passes on
    key = live.key("noise.png")
    live.stack.put_original(
        key, encode(Image.effect_noise((400, 400), 120).convert("RGB"), "PNG"), "image/png"
    )
    assert live.wait([key])[key].status == "READY"
    url = signed(live, key, "w=399&fm=png")
    first = fetch(url)
    assert first.status == 307, first.body[:200]
    assert first.headers["location"].startswith("/") and first.headers["x-imgpipe-origin"] == "resize"
    followed = fetch(live.url + first.headers["location"])
    assert followed.headers["x-imgpipe-origin"] == "transformed-bucket"
    assert len(followed.body) > MAX_INLINE_BYTES
    assert image_of(followed).size == (399, 399)


def test_source_keys_with_spaces_and_unicode_round_trip(live: LiveStack) -> None:
    key = live.key("café au lait+1.jpg")
    live.stack.put_original(key, encode(colour_card(160, 120), "JPEG"), "image/jpeg")
    assert live.wait([key])[key].status == "READY"
    assert image_of(fetch(unsigned(live, key, "preset=small&fm=jpeg"))).size == (160, 120)
