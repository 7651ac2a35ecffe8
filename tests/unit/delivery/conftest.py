"""Sources and a delivery harness on in-memory fakes."""

from __future__ import annotations

import functools

import pytest

from tests.builders import encode, photo_like
from tests.fakes.delivery import DeliveryHarness

CAT = "uploads/acme/cat.jpg"


@functools.cache
def jpeg(width: int = 1200, height: int = 800) -> bytes:
    return encode(photo_like(width, height), "JPEG", quality=90)


@functools.cache
def png_with_alpha(width: int = 300, height: int = 200) -> bytes:
    image = photo_like(width, height).convert("RGBA")
    image.putalpha(128)
    return encode(image, "PNG")


@pytest.fixture
def harness() -> DeliveryHarness:
    made = DeliveryHarness()
    made.originals.add(CAT, jpeg(), content_type="image/jpeg")
    return made
