"""The resize function, through its handler and the Function URL contract: every status and every header."""

from __future__ import annotations

import base64
import io
import json
import time
from dataclasses import replace
from typing import Any

import pytest
from PIL import Image

from imgpipe.core import Limits
from imgpipe.core.mezzanine import mezzanine_key
from imgpipe.core.spec import TransformSpec
from imgpipe.delivery import at_edge, origin_event
from infra.constants import MEZZANINE_PREFIX
from resize.service import IMMUTABLE, ResizeConfig, mezzanine_covers
from tests.builders import animated_gif, encode, photo_like, png_header_only
from tests.fakes.delivery import NOW, SECRETS, DeliveryHarness, decode_response, md5_etag, signed
from tests.unit.delivery.conftest import CAT, jpeg, png_with_alpha

AVIF_BROWSER = "image/avif,image/webp,image/apng,image/*,*/*;q=0.8"


def event_for(target: str, accept: str | None = None, method: str = "GET", **edge: Any) -> dict[str, Any]:
    """The event CloudFront's failover sends for a viewer URL (the edge's rewrite, through its twin)."""
    path, _, query = target.partition("?")
    settings: dict[str, Any] = {"policy": "presets-unsigned", "secrets": SECRETS, "now": NOW}
    settings.update(edge)
    return origin_event(at_edge(path, query, accept, **settings), method=method)


def call(harness: DeliveryHarness, event: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    response = harness.invoke(event)
    assert set(response) == {"statusCode", "headers", "body", "isBase64Encoded"}
    assert response["isBase64Encoded"] is True
    return decode_response(response)


def problem(body: bytes) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(body)
    return document


# --- 200 -----------------------------------------------------------------------------------------------


def test_a_miss_is_rendered_stored_and_returned_with_every_success_header(harness: DeliveryHarness) -> None:
    # Given an unsigned preset request whose format the edge negotiated
    event = event_for(f"/{CAT}?preset=thumb", accept=AVIF_BROWSER)
    # When the function answers it
    status, headers, body = call(harness, event)
    # Then it is the rendition in the negotiated format, with immutable caching, an ETag and Vary
    assert status == 200
    assert headers["content-type"] == "image/avif"
    assert headers["cache-control"] == IMMUTABLE
    assert headers["etag"] == md5_etag(body)
    assert headers["vary"] == "Accept"
    assert "content-disposition" not in headers
    with Image.open(io.BytesIO(body)) as image:
        assert (image.format, image.size) == ("AVIF", (200, 200))
    # And it is stored under the canonical key with the same bytes and cache control
    key = f"{CAT}/fit=cover&fm=avif&g=auto&h=200&w=200"
    assert harness.renditions.keys() == [key]
    stored = harness.renditions.objects[key]
    assert (stored.data, stored.content_type, stored.cache_control) == (body, "image/avif", IMMUTABLE)


def test_server_timing_names_every_stage_and_the_source(harness: DeliveryHarness) -> None:
    status, headers, _ = call(harness, event_for(f"/{CAT}?preset=small&fm=webp"))
    assert status == 200
    entries = [part.strip() for part in headers["server-timing"].split(",")]
    assert [entry.split(";")[0] for entry in entries] == ["fetch", "decode", "transform", "encode", "store"]
    assert entries[0].endswith('desc="original"')
    assert all(";dur=" in entry for entry in entries)


def test_an_explicit_format_has_no_vary(harness: DeliveryHarness) -> None:
    status, headers, _ = call(harness, event_for(f"/{CAT}?preset=small&fm=webp", accept=AVIF_BROWSER))
    assert status == 200
    assert headers["content-type"] == "image/webp"
    assert "vary" not in headers


def test_dl_adds_content_disposition_with_the_served_formats_extension(harness: DeliveryHarness) -> None:
    # (a download name is not one of the unsigned variations: it is signed)
    status, headers, _ = call(harness, event_for(signed(f"/{CAT}", "preset=small&dl=holiday.jpg&fm=webp")))
    assert status == 200
    assert headers["content-disposition"] == 'attachment; filename="holiday.webp"'
    # and the stored rendition carries it, so the bucket's later answers download too
    (stored,) = harness.renditions.objects.values()
    assert stored.content_disposition == 'attachment; filename="holiday.webp"'


def test_head_answers_the_headers_without_a_body_and_still_stores(harness: DeliveryHarness) -> None:
    status, headers, body = call(harness, event_for(f"/{CAT}?preset=small", method="HEAD"))
    assert (status, body) == (200, b"")
    assert headers["content-type"] == "image/jpeg"
    assert harness.renditions_written() == [f"{CAT}/fm=jpeg&w=400"]


def test_a_signed_request_renders(harness: DeliveryHarness) -> None:
    status, headers, body = call(harness, event_for(signed(f"/{CAT}", "w=300&fm=png")))
    assert status == 200
    assert headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(body)) as image:
        assert image.size == (300, 200)


def test_a_png_source_keeps_its_alpha_for_a_browser_without_modern_formats(harness: DeliveryHarness) -> None:
    harness.originals.add("uploads/acme/logo.png", png_with_alpha(), content_type="image/png")
    status, headers, body = call(harness, event_for("/uploads/acme/logo.png?preset=small", accept="image/*"))
    assert (status, headers["content-type"]) == (200, "image/png")
    with Image.open(io.BytesIO(body)) as image:
        assert image.mode == "RGBA"


def test_an_animated_gif_stays_animated_in_webp(harness: DeliveryHarness) -> None:
    harness.originals.add("uploads/acme/party.gif", animated_gif(4), content_type="image/gif")
    status, headers, body = call(
        harness, event_for("/uploads/acme/party.gif?preset=small", accept=AVIF_BROWSER)
    )
    assert (status, headers["content-type"]) == (200, "image/webp")
    with Image.open(io.BytesIO(body)) as image:
        assert getattr(image, "n_frames", 1) == 4


def test_g_auto_uses_the_focal_point_recorded_at_ingest(harness: DeliveryHarness) -> None:
    # Given a wide source whose recorded focal point is at the far left
    harness.focal_points[CAT] = (0.0, 0.5)
    left = event_for(signed(f"/{CAT}", "w=100&h=100&fit=cover&g=auto&fm=png"))
    status, _, body = call(harness, left)
    assert status == 200
    # Then the crop is the left edge: the same pixels as an explicit west crop
    status, _, west = call(harness, event_for(signed(f"/{CAT}", "w=100&h=100&fit=cover&g=w&fm=png")))
    assert status == 200
    assert body == west


# --- the mezzanine -------------------------------------------------------------------------------------


def add_mezzanine(harness: DeliveryHarness, source_size: tuple[int, int], side: int = 600) -> str:
    """Store a mezzanine as ingest does: fit inside `side`, with the four sizes as metadata."""
    image = photo_like(*source_size, seed=3)
    image.thumbnail((side, side))
    key = mezzanine_key(MEZZANINE_PREFIX, CAT)
    harness.renditions.add(
        key,
        encode(image, "JPEG", quality=92),
        content_type="image/jpeg",
        metadata={
            "width": str(image.width),
            "height": str(image.height),
            "source-width": str(source_size[0]),
            "source-height": str(source_size[1]),
        },
    )
    return key


def source_of(headers: dict[str, str]) -> str:
    return headers["server-timing"].split('desc="', 1)[1].split('"', 1)[0]


def test_a_request_the_mezzanine_covers_is_rendered_from_it(harness: DeliveryHarness) -> None:
    mezzanine = add_mezzanine(harness, (1200, 800))
    status, headers, body = call(harness, event_for(f"/{CAT}?preset=small"))
    assert status == 200
    assert source_of(headers) == "mezzanine"
    assert harness.originals_read() == []
    assert ("get", mezzanine) in harness.renditions.calls
    with Image.open(io.BytesIO(body)) as image:
        assert image.size == (400, 267)


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ("w=800", "wider than the mezzanine"),
        ("w=400&dpr=2", "wider than the mezzanine in device pixels"),
        ("w=100&crop=0,0,600,400", "crop is in source pixels"),
        ("fm=jpeg", "no size: the full source"),
        ("h=1000&up=1", "an enlargement"),
    ],
)
def test_the_original_is_used_when_the_mezzanine_cannot_serve(
    harness: DeliveryHarness, query: str, why: str
) -> None:
    add_mezzanine(harness, (1200, 800))
    status, headers, _ = call(harness, event_for(signed(f"/{CAT}", query)))
    assert status == 200, why
    assert source_of(headers) == "original", why
    assert harness.originals_read() == [CAT], why


def test_the_output_is_the_same_size_from_the_mezzanine_as_from_the_original(
    harness: DeliveryHarness,
) -> None:
    # Given the same request rendered with and without a mezzanine
    status, _, from_original = call(harness, event_for(signed(f"/{CAT}", "w=333&h=111&fit=contain&fm=png")))
    assert status == 200
    other = DeliveryHarness()
    other.originals.add(CAT, jpeg(), content_type="image/jpeg")
    add_mezzanine(other, (1200, 800))
    status, headers, from_mezzanine = call(
        other, event_for(signed(f"/{CAT}", "w=333&h=111&fit=contain&fm=png"))
    )
    assert (status, source_of(headers)) == (200, "mezzanine")
    with Image.open(io.BytesIO(from_original)) as a, Image.open(io.BytesIO(from_mezzanine)) as b:
        assert a.size == b.size == (333, 111)


@pytest.mark.parametrize(
    ("query", "covered"),
    [
        ("w=800", True),  # 800×1216 from the source, 800×1215 from the mezzanine: the free side moves by 1
        ("w=800&h=1216&fit=fill", True),
        ("w=200&h=200&fit=cover", True),
        ("h=2560", True),
        ("h=2561", False),  # more rows than the mezzanine has
        ("w=1686", False),
        ("w=300&rot=90", True),
        ("w=2000&rot=90", True),  # rotated, 2000 px wide needs 2000 of the mezzanine's 2560 rows
        ("w=100&crop=0,0,100,100", False),
        ("fm=webp", False),
    ],
)
def test_when_the_mezzanine_covers_a_request(query: str, covered: bool) -> None:
    metadata = {"width": "1685", "height": "2560", "source-width": "3681", "source-height": "5594"}
    assert mezzanine_covers(TransformSpec.parse(query), metadata) is covered


def test_a_mezzanine_without_its_sizes_is_not_trusted(harness: DeliveryHarness) -> None:
    harness.renditions.add(mezzanine_key(MEZZANINE_PREFIX, CAT), jpeg(300, 200), content_type="image/jpeg")
    status, headers, _ = call(harness, event_for(f"/{CAT}?preset=small"))
    assert (status, source_of(headers)) == (200, "original")


# --- 307: too big for a Lambda response ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "location"),
    [
        (f"/{CAT}?preset=small&fm=png", f"/{CAT}?preset=small&fm=png"),
        (f"/{CAT}?fm=png&preset=medium&dpr=2", f"/{CAT}?preset=medium&dpr=2&fm=png"),
    ],
)
def test_an_oversize_result_is_stored_and_redirected_to_the_same_url(
    harness: DeliveryHarness, target: str, location: str
) -> None:
    harness.config = replace(harness.config, max_inline_bytes=1000)
    status, headers, body = call(harness, event_for(target))
    assert (status, body) == (307, b"")
    assert headers["location"] == location
    assert headers["cache-control"] == "no-store"
    assert len(harness.renditions_written()) == 1
    # And following it through CloudFront is a hit in the transformed bucket
    answer = harness.cloudfront().get(headers["location"])
    assert (answer.status, answer.served_by) == (200, "bucket")


def test_a_signed_oversize_result_redirects_to_its_signed_canonical_url(harness: DeliveryHarness) -> None:
    harness.config = replace(harness.config, max_inline_bytes=1000)
    target = signed(f"/{CAT}", "w=500&fm=png&exp=1700003600")
    status, headers, _ = call(harness, event_for(target))
    assert status == 307
    assert headers["location"] == target.replace("w=500&fm=png&exp=1700003600", "exp=1700003600&fm=png&w=500")
    assert harness.cloudfront().get(headers["location"]).served_by == "bucket"


def test_head_of_an_oversize_result_is_answered_without_a_redirect(harness: DeliveryHarness) -> None:
    harness.config = replace(harness.config, max_inline_bytes=1000)
    status, headers, body = call(harness, event_for(f"/{CAT}?preset=small&fm=png", method="HEAD"))
    assert (status, body, headers["content-type"]) == (200, b"", "image/png")


# --- refusals: problem+json ---------------------------------------------------------------------------


def assert_problem(
    status: int, headers: dict[str, str], body: bytes, expected: int, code: str
) -> dict[str, Any]:
    assert status == expected
    assert headers["content-type"] == "application/problem+json"
    document = problem(body)
    assert document["type"] == f"urn:imgpipe:problem:{code}"
    assert document["status"] == expected
    assert document["title"] and document["detail"]
    cache = headers["cache-control"]
    assert cache == ("public, max-age=60" if expected in (400, 404, 413, 415, 422) else "no-store")
    return document


def raw_event(path: str, query: str = "", method: str = "GET") -> dict[str, Any]:
    return {
        "version": "2.0",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {},
        "requestContext": {"http": {"method": method}},
    }


def test_400_when_the_path_names_another_rendition_than_the_query(harness: DeliveryHarness) -> None:
    # Given a correctly signed request for w=800 sent to the object key of w=400
    query = signed(f"/{CAT}", "w=800").split("?", 1)[1]
    event = raw_event(f"/{CAT}/fm%3Djpeg%26w%3D400", query)
    document = assert_problem(*call(harness, event), 400, "bad-parameter")
    assert document["param"] == "key"
    assert harness.originals_read() == []


def test_400_when_the_output_would_be_over_the_limits(harness: DeliveryHarness) -> None:
    harness.config = replace(harness.config, limits=Limits(max_output_side=1000))
    document = assert_problem(
        *call(harness, event_for(signed(f"/{CAT}", "w=2000&up=1"))), 400, "bad-parameter"
    )
    assert document["param"] == "w"
    assert harness.renditions_written() == []


def test_400_when_the_crop_is_outside_the_image(harness: DeliveryHarness) -> None:
    document = assert_problem(
        *call(harness, event_for(signed(f"/{CAT}", "crop=5000,5000,10,10"))), 400, "bad-parameter"
    )
    assert document["param"] == "crop"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("w=300", "signature-required"),
        ("w=300&s=" + "A" * 43, "signature-invalid"),
    ],
)
def test_403_for_a_missing_or_wrong_signature(harness: DeliveryHarness, query: str, code: str) -> None:
    event = raw_event(f"/{CAT}/fm%3Djpeg%26w%3D300", query)
    assert_problem(*call(harness, event), 403, code)
    assert harness.originals_read() == []


def test_403_for_an_expired_url(harness: DeliveryHarness) -> None:
    event = event_for(signed(f"/{CAT}", "w=300&exp=1700000100"))
    harness.now = NOW + 200  # it expired between the edge and the origin
    assert_problem(*call(harness, event), 403, "expired")


def test_404_when_the_original_does_not_exist(harness: DeliveryHarness) -> None:
    document = assert_problem(
        *call(harness, event_for("/uploads/acme/gone.jpg?preset=small")), 404, "no-source"
    )
    assert document["param"] == "key"
    assert harness.renditions_written() == []


def test_404_for_a_key_outside_the_uploads_without_reading_it(harness: DeliveryHarness) -> None:
    # Given an object outside uploads/, and its request sent to the function as if there were no edge
    # (which refuses it first: tests/vectors)
    harness.originals.add("quarantine/acme/virus.jpg", jpeg(), content_type="image/jpeg")
    event = raw_event("/quarantine/acme/virus.jpg/fm%3Djpeg%26w%3D400", "w=400&preset=small")
    # Then the function refuses it too, without reading it
    assert_problem(*call(harness, event), 404, "no-source")
    assert harness.originals_read() == []


@pytest.mark.parametrize(
    ("rendition", "query"),
    [
        ("dl%3Dx.jpg%26fm%3Djpeg%26w%3D400", "dl=x.jpg&w=400&preset=small"),
        ("fm%3Djpeg%26v%3D9%26w%3D400", "v=9&w=400&preset=small"),
        ("dpr%3D2.5%26fm%3Djpeg%26w%3D400", "dpr=2.5&w=400&preset=small"),
        ("exp%3D1700003600%26fm%3Djpeg%26w%3D400", "exp=1700003600&w=400&preset=small"),
    ],
)
def test_the_function_allows_unsigned_only_the_closed_set_of_preset_variations(
    harness: DeliveryHarness, rendition: str, query: str
) -> None:
    # Given an unsigned preset request varied outside format and the DPR ladder, sent past the edge
    event = raw_event(f"/{CAT}/{rendition}", query)
    # Then the function asks for a signature and renders nothing
    assert_problem(*call(harness, event), 403, "signature-required")
    assert harness.renditions_written() == []


def test_the_function_serves_the_ladder_unsigned(harness: DeliveryHarness) -> None:
    status, _, _ = call(
        harness, raw_event(f"/{CAT}/dpr%3D3%26fm%3Davif%26w%3D400", "dpr=3&fm=avif&w=400&preset=small")
    )
    assert status == 200


def test_403_for_a_watermark_of_another_tenant(harness: DeliveryHarness) -> None:
    # Given a validly signed request that draws another tenant's upload into acme's image
    harness.originals.add("uploads/bob/private.png", png_with_alpha(), content_type="image/png")
    event = event_for(signed(f"/{CAT}", "w=300&mark=uploads/bob/private.png"))
    # Then it is refused, and the other tenant's image is never read
    document = assert_problem(*call(harness, event), 403, "overlay-forbidden")
    assert document["param"] == "mark"
    assert "uploads/bob/private.png" not in harness.originals_read()
    assert harness.renditions_written() == []


def test_a_batch_member_renders_and_may_carry_its_tenants_watermark_but_not_another(
    harness: DeliveryHarness,
) -> None:
    # Given a batch member (batches/acme/...), acme's logo, and another tenant's batch member
    harness.originals.add(
        "batches/acme/b1/cat.jpg", harness.originals.objects[CAT].data, content_type="image/jpeg"
    )
    harness.originals.add("uploads/acme/logo.png", png_with_alpha(), content_type="image/png")
    harness.originals.add("batches/bob/b1/private.png", png_with_alpha(), content_type="image/png")
    # When it is requested with acme's own watermark, Then it renders
    status, _, _ = call(
        harness, event_for(signed("/batches/acme/b1/cat.jpg", "w=300&mark=uploads/acme/logo.png"))
    )
    assert status == 200
    # And a watermark from another tenant's batch is refused, never read
    event = event_for(signed("/batches/acme/b1/cat.jpg", "w=300&mark=batches/bob/b1/private.png"))
    assert_problem(*call(harness, event), 403, "overlay-forbidden")
    assert "batches/bob/b1/private.png" not in harness.originals_read()


def test_404_when_the_watermark_does_not_exist(harness: DeliveryHarness) -> None:
    event = event_for(signed(f"/{CAT}", "w=300&mark=uploads/acme/logo.png"))
    document = assert_problem(*call(harness, event), 404, "no-source")
    assert document["param"] == "mark"


def test_a_watermark_from_the_uploads_is_drawn(harness: DeliveryHarness) -> None:
    harness.originals.add("uploads/acme/logo.png", png_with_alpha(), content_type="image/png")
    status, _, _ = call(harness, event_for(signed(f"/{CAT}", "w=300&mark=uploads/acme/logo.png")))
    assert status == 200


def test_405_for_a_method_other_than_get_and_head(harness: DeliveryHarness) -> None:
    status, headers, body = call(harness, event_for(f"/{CAT}?preset=small", method="POST"))
    assert_problem(status, headers, body, 405, "method-not-allowed")
    assert headers["allow"] == "GET, HEAD"


def test_413_when_the_source_is_over_the_byte_limit(harness: DeliveryHarness) -> None:
    harness.config = replace(harness.config, limits=Limits(max_source_bytes=1000))
    document = assert_problem(*call(harness, event_for(f"/{CAT}?preset=small")), 413, "source-too-large")
    assert document["reason"] == "too-large"


def test_413_when_the_source_is_over_the_pixel_limit(harness: DeliveryHarness) -> None:
    harness.originals.add("uploads/acme/bomb.png", png_header_only(30_000, 30_000), content_type="image/png")
    document = assert_problem(
        *call(harness, event_for("/uploads/acme/bomb.png?preset=small")), 413, "source-too-large"
    )
    assert document["reason"] in ("bomb", "pixel-limit")


def test_415_when_the_source_is_not_an_image(harness: DeliveryHarness) -> None:
    harness.originals.add("uploads/acme/notes.jpg", b"%PDF-1.7 not an image" * 10, content_type="image/jpeg")
    document = assert_problem(
        *call(harness, event_for("/uploads/acme/notes.jpg?preset=small")), 415, "not-an-image"
    )
    assert document["reason"] in ("not-an-image", "unsupported-format")


def test_422_when_the_source_cannot_be_decoded(harness: DeliveryHarness) -> None:
    harness.originals.add("uploads/acme/cut.jpg", jpeg()[:3000], content_type="image/jpeg")
    document = assert_problem(
        *call(harness, event_for("/uploads/acme/cut.jpg?preset=small")), 422, "cannot-decode"
    )
    assert document["reason"] in ("truncated", "corrupt")


def test_503_with_retry_after_when_the_render_would_pass_the_budget(harness: DeliveryHarness) -> None:
    # Given a source read that takes longer than the time budget
    harness.config = replace(harness.config, render_time_budget_s=0.05)
    harness.originals.fail_on["get"] = lambda key: time.sleep(0.5)
    status, headers, body = call(harness, event_for(f"/{CAT}?preset=small"))
    assert_problem(status, headers, body, 503, "render-timeout")
    assert headers["retry-after"] == "2"


def test_503_at_once_when_the_deadline_is_closer_than_the_margin(harness: DeliveryHarness) -> None:
    result = harness.service().handle(
        "GET", *_origin(f"/{CAT}?preset=small"), deadline=time.monotonic() + 1.0
    )
    assert result.response.status == 503
    assert harness.originals_read() == []


def _origin(target: str) -> tuple[str, str]:
    event = event_for(target)
    return event["rawPath"], event["rawQueryString"]


def test_500_when_the_store_fails_is_not_cached(harness: DeliveryHarness) -> None:
    def broken(key: str) -> None:
        raise ConnectionError("S3 is down")

    harness.renditions.fail_on["put"] = broken
    assert_problem(*call(harness, event_for(f"/{CAT}?preset=small")), 500, "internal-error")


def test_a_malformed_event_is_a_400_not_a_crash(harness: DeliveryHarness) -> None:
    status, headers, body = call(harness, {"rawPath": 7, "requestContext": {"http": {"method": "GET"}}})
    assert_problem(status, headers, body, 400, "bad-parameter")


def test_problem_bodies_are_base64_like_images(harness: DeliveryHarness) -> None:
    response = harness.invoke(raw_event("/"))
    assert json.loads(base64.b64decode(response["body"]))["status"] == 400


def test_head_of_a_refusal_has_no_body(harness: DeliveryHarness) -> None:
    status, headers, body = call(harness, raw_event(f"/{CAT}/fm%3Djpeg%26w%3D300", "w=300", method="HEAD"))
    assert (status, body, headers["content-type"]) == (403, b"", "application/problem+json")


def test_policy_off_renders_unsigned_transformations() -> None:
    harness = DeliveryHarness(config=ResizeConfig(policy="off"))
    harness.originals.add(CAT, jpeg(), content_type="image/jpeg")
    status, _, _ = call(harness, event_for(f"/{CAT}?w=123&blur=2", policy="off"))
    assert status == 200
