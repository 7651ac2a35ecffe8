"""On-demand delivery under moto: misses render and store, hits come from the bucket, mezzanine and redirects.

The resize handler runs with its real adapters (S3, Secrets Manager through Powertools) behind the
distribution's request path (`tests.fakes.delivery.CloudFront`).
"""

from __future__ import annotations

import functools
import io

from PIL import Image

from imgpipe.core import RenderOptions, inspect, render_many
from imgpipe.core.mezzanine import mezzanine_key, mezzanine_metadata, mezzanine_spec, needs_mezzanine
from infra.constants import MEZZANINE_PREFIX
from resize.service import IMMUTABLE
from tests.builders import encode, photo_like
from tests.fakes.delivery import md5_etag, signed
from tests.integration.delivery_stack import DeliveryStack, delivery_stack, small_inline_limit

__all__ = ["delivery_stack"]  # the fixture, imported for pytest

CAT = "uploads/acme/cat.jpg"
WEBP = "image/avif;q=0,image/webp,*/*"


@functools.cache
def camera_jpeg() -> bytes:
    """Big enough for ingest to keep a mezzanine (its longer side is over 2560)."""
    return encode(photo_like(3000, 2000, seed=11), "JPEG", quality=90)


def write_mezzanine_as_ingest_does(stack: DeliveryStack, key: str, data: bytes) -> str:
    info = inspect(data)
    assert needs_mezzanine(info)
    spec = mezzanine_spec(info)
    (mezzanine,) = render_many(data, [spec], options=RenderOptions(intermediates=frozenset({spec})))
    target = mezzanine_key(MEZZANINE_PREFIX, key)
    stack.renditions.put(
        target,
        mezzanine.data,
        content_type=mezzanine.media_type,
        cache_control=IMMUTABLE,
        metadata=mezzanine_metadata((mezzanine.width, mezzanine.height), (info.width, info.height)),
    )
    return target


def served_from(headers: dict[str, str]) -> str:
    return headers["server-timing"].split('desc="', 1)[1].split('"', 1)[0]


def test_a_miss_renders_and_stores_and_the_next_request_is_served_from_the_bucket(
    delivery_stack: DeliveryStack,
) -> None:
    stack = delivery_stack
    stack.put_original(CAT, camera_jpeg())
    cloudfront = stack.cloudfront()
    # When a preset URL is asked for the first time
    first = cloudfront.get(f"/{CAT}?preset=small", accept=WEBP)
    # Then the function rendered it and stored it under the canonical key, immutable
    assert (first.status, first.served_by, first.headers["content-type"]) == (200, "function", "image/webp")
    assert first.headers["vary"] == "Accept"
    stored = stack.stored(f"{CAT}/fm=webp&w=400")
    assert stored["Data"] == first.body
    assert (stored["ContentType"], stored["CacheControl"]) == ("image/webp", IMMUTABLE)
    assert first.headers["etag"] == stored["ETag"] == md5_etag(first.body)
    # And the second request, spelt differently, is the stored object: the function is not called again
    second = cloudfront.get(f"/{CAT}?fm=auto&preset=small", accept=WEBP)
    assert (second.status, second.served_by, second.body) == (200, "bucket", first.body)
    assert stack.invocations == 1


def test_signed_requests_verify_with_the_keys_from_the_secret(delivery_stack: DeliveryStack) -> None:
    stack = delivery_stack
    stack.put_original(CAT, camera_jpeg())
    answer = stack.cloudfront().get(signed(f"/{CAT}", "w=320&h=320&fit=cover&fm=jpeg"))
    assert (answer.status, answer.served_by) == (200, "function")
    with Image.open(io.BytesIO(answer.body)) as image:
        assert image.size == (320, 320)


def test_the_mezzanine_is_chosen_when_it_exists_and_covers_the_request(delivery_stack: DeliveryStack) -> None:
    stack = delivery_stack
    stack.put_original(CAT, camera_jpeg())
    write_mezzanine_as_ingest_does(stack, CAT, camera_jpeg())
    cloudfront = stack.cloudfront()
    from_mezzanine = cloudfront.get(f"/{CAT}?preset=large&fm=jpeg")
    assert (from_mezzanine.status, served_from(dict(from_mezzanine.headers))) == (200, "mezzanine")
    with Image.open(io.BytesIO(from_mezzanine.body)) as image:
        assert image.size == (1600, 1067)
    # A crop is in source pixels: the original it is
    cropped = cloudfront.get(signed(f"/{CAT}", "crop=100,100,1000,800&w=500&fm=jpeg"))
    assert (cropped.status, served_from(dict(cropped.headers))) == (200, "original")
    # Wider than the mezzanine: the original too
    wide = cloudfront.get(signed(f"/{CAT}", "w=2800&fm=jpeg"))
    assert (wide.status, served_from(dict(wide.headers))) == (200, "original")


def test_without_a_mezzanine_the_original_is_rendered(delivery_stack: DeliveryStack) -> None:
    stack = delivery_stack
    stack.put_original(CAT, camera_jpeg())
    answer = stack.cloudfront().get(f"/{CAT}?preset=large&fm=jpeg")
    assert (answer.status, served_from(dict(answer.headers))) == (200, "original")


def test_an_oversize_rendition_is_stored_and_redirected_to_the_same_url(
    delivery_stack: DeliveryStack,
) -> None:
    stack = delivery_stack
    stack.put_original(CAT, camera_jpeg())
    small_inline_limit(stack)
    cloudfront = stack.cloudfront()
    url = f"/{CAT}?preset=medium&fm=png"
    # When the rendition is bigger than a Lambda response may carry
    answer = cloudfront.get(url)
    # Then it is stored and the viewer is sent to the same URL, which the bucket now answers
    assert (answer.status, answer.served_by, answer.body) == (307, "function", b"")
    assert (answer.headers["location"], answer.headers["cache-control"]) == (url, "no-store")
    again = cloudfront.get(answer.headers["location"])
    assert (again.status, again.served_by, again.headers["content-type"]) == (200, "bucket", "image/png")
    assert again.body == stack.stored(f"{CAT}/fm=png&w=800")["Data"]
    assert stack.invocations == 1


def test_a_missing_original_is_a_404_and_nothing_is_stored(delivery_stack: DeliveryStack) -> None:
    stack = delivery_stack
    answer = stack.cloudfront().get("/uploads/acme/none.jpg?preset=thumb")
    assert (answer.status, answer.served_by, answer.problem["type"]) == (
        404,
        "function",
        "urn:imgpipe:problem:no-source",
    )
    assert answer.headers["cache-control"] == "public, max-age=60"
    assert stack.s3.list_objects_v2(Bucket="delivery-transformed").get("KeyCount", 0) == 0
