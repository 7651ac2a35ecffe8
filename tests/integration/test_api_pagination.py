"""GET /v1/images on DynamoDB (moto): complete, duplicate-free pages while images keep arriving."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from imgpipe.adapters import api_dynamodb
from tests.integration.api_stack import START, ApiStack, api_stack

__all__ = ["api_stack"]
# Powertools warns when an invocation added no metric: most API calls add none, by design.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics")


def page(stack: ApiStack, query: dict[str, str], cursor: str | None) -> tuple[list[str], str | None]:
    reply = stack.call("GET", "/v1/images", query={**query, **({"cursor": cursor} if cursor else {})})
    assert reply.status == 200, reply.body
    body: dict[str, Any] = reply.json
    return [item["image_id"] for item in body["items"]], body["next_cursor"]


def test_pages_cover_every_image_once_while_new_ones_arrive(api_stack: ApiStack) -> None:
    # Given 40 images
    existing = [api_stack.add_image(number=n).image_id for n in range(40)]
    # When the tenant walks pages of 7 and, between pages, 3 new images arrive (newer, as ingest writes them)
    # and one late writer records an image with an older timestamp
    seen: list[str] = []
    cursor: str | None = None
    arrivals = 1000
    for _ in range(50):
        ids, cursor = page(api_stack, {"limit": "7"}, cursor)
        seen.extend(ids)
        for _ in range(3):
            api_stack.add_image(number=arrivals)
            arrivals += 1
        api_stack.add_image(number=arrivals + 5000, created_at="2026-12-01T09:00:00.000000Z")
        arrivals += 1
        if cursor is None:
            break
    # Then every image that existed when the walk began was listed exactly once, newest first
    assert len(seen) == len(set(seen))
    listed_existing = [image_id for image_id in seen if image_id in set(existing)]
    assert listed_existing == list(reversed(existing))


def test_walk_during_concurrent_inserts_from_another_thread(api_stack: ApiStack) -> None:
    # Given 30 images and a writer thread adding 30 newer ones while the tenant pages through
    existing = {api_stack.add_image(number=n).image_id for n in range(30)}
    done = threading.Event()

    def writer() -> None:
        for n in range(30):
            api_stack.add_image(number=2000 + n)
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    seen: list[str] = []
    cursor: str | None = None
    try:
        while True:
            ids, cursor = page(api_stack, {"limit": "4"}, cursor)
            seen.extend(ids)
            if cursor is None:
                break
    finally:
        thread.join(timeout=30)
    assert done.is_set()
    # Then no image was listed twice and none of the pre-existing ones was skipped
    assert len(seen) == len(set(seen))
    assert existing <= set(seen)


def test_rare_filter_answers_short_pages_with_a_cursor_not_a_full_scan(
    api_stack: ApiStack, monkeypatch: Any
) -> None:
    # Given 30 images of which only the oldest carries the tag, and a read budget of 2 x 10 items per call
    monkeypatch.setattr(api_dynamodb, "MAX_READS_PER_PAGE", 2)
    monkeypatch.setattr(api_dynamodb, "_READ_SIZE", 10)
    api_stack.add_image(number=0, tags=["rare"])
    for n in range(1, 30):
        api_stack.add_image(number=n, tags=["common"])
    # When the tag is listed
    first, cursor = page(api_stack, {"tag": "rare", "limit": "5"}, None)
    # Then the first call stops at its budget with nothing yet and a cursor; following it finds the image
    assert first == [] and cursor is not None
    found: list[str] = []
    while cursor is not None:
        ids, cursor = page(api_stack, {"tag": "rare", "limit": "5"}, cursor)
        found.extend(ids)
    assert found == ["img_acme_00000"]


def test_since_status_and_batch_filters_on_the_indexes(api_stack: ApiStack) -> None:
    for n in range(6):
        api_stack.add_image(
            number=n, status="REJECTED" if n % 2 else "READY", batch_id="b" if n < 3 else None
        )
    api_stack.add_image(number=9, status="DELETED")

    def walk(query: dict[str, str]) -> list[str]:
        cursor: str | None = None
        out: list[str] = []
        while True:
            ids, cursor = page(api_stack, {**query, "limit": "2"}, cursor)
            out.extend(ids)
            if cursor is None:
                return [image_id[-2:] for image_id in out]

    assert walk({}) == ["05", "04", "03", "02", "01", "00"]
    assert walk({"status": "REJECTED"}) == ["05", "03", "01"]
    assert walk({"batch": "b"}) == ["02", "01", "00"]
    assert walk({"batch": "b", "status": "READY"}) == ["02", "00"]
    since = (START + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert walk({"since": since}) == ["05", "04", "03", "02"]
    assert walk({"status": "DELETED"}) == ["09"]
