"""GET /v1/images (pagination, filters), GET and DELETE /v1/images/{id}, tenant isolation."""

from __future__ import annotations

from typing import Any

import pytest

from imgpipe.records import ImageDeleted, ImageRecord
from tests.unit.api.conftest import KEY_B, TENANT_B, Api, assert_problem


def ids(reply: Any) -> list[str]:
    return [item["image_id"] for item in reply.json["items"]]


def walk(api: Api, query: dict[str, str], key: str | None = "key-a") -> list[str]:
    seen: list[str] = []
    cursor = None
    for _ in range(100):
        reply = api.call(
            "GET", "/v1/images", key=key, query={**query, **({"cursor": cursor} if cursor else {})}
        )
        assert reply.status == 200, reply.body
        seen.extend(ids(reply))
        cursor = reply.json["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("pagination did not end")


def test_listing_is_newest_first_and_pages_cover_everything_once(api: Api) -> None:
    # Given 7 images of tenant A and 3 of tenant B
    for number in range(7):
        api.add_image(number=number)
    for number in range(3):
        api.add_image(TENANT_B, number=number)
    # When tenant A walks the listing 3 at a time
    seen = walk(api, {"limit": "3"})
    # Then it sees its 7 images, newest first, each once, and none of B's
    assert seen == [f"img_acme_{n:04d}" for n in reversed(range(7))]


def test_images_added_while_paging_do_not_shift_later_pages(api: Api) -> None:
    # Given 6 images and a first page of 2
    for number in range(6):
        api.add_image(number=number)
    first = api.call("GET", "/v1/images", query={"limit": "2"})
    # When newer images arrive before the next page is read
    api.add_image(number=100)
    api.add_image(number=101)
    rest = walk_from(api, first.json["next_cursor"], {"limit": "2"})
    # Then the remaining pages hold exactly the older images: no duplicates, no gaps
    assert ids(first) + rest == [f"img_acme_{n:04d}" for n in reversed(range(6))]


def walk_from(api: Api, cursor: str, query: dict[str, str]) -> list[str]:
    seen: list[str] = []
    while cursor:
        reply = api.call("GET", "/v1/images", query={**query, "cursor": cursor})
        seen.extend(ids(reply))
        cursor = reply.json["next_cursor"]
    return seen


def test_filters_by_status_batch_tag_and_since(api: Api) -> None:
    api.add_image(number=1, tags=["beach", "sunset"])
    api.add_image(number=2, status="REJECTED")
    api.add_image(number=3, batch_id="b1", tags=["beach"])
    api.add_image(number=4, status="DELETED")
    assert walk(api, {"status": "REJECTED"}) == ["img_acme_0002"]
    assert walk(api, {"batch": "b1"}) == ["img_acme_0003"]
    assert walk(api, {"tag": "beach"}) == ["img_acme_0003", "img_acme_0001"]
    assert walk(api, {"since": "2026-12-01T10:00:02Z"}) == ["img_acme_0003", "img_acme_0002"]
    # Deleted records are listed only when asked for
    assert "img_acme_0004" not in walk(api, {})
    assert walk(api, {"status": "DELETED"}) == ["img_acme_0004"]


@pytest.mark.parametrize("cursor", ["not-base64!", "e30", "eyJ0IjoiZ2xvYmV4IiwiZiI6IngiLCJiIjoieiJ9"])
def test_foreign_or_forged_cursors_are_400(api: Api, cursor: str) -> None:
    assert_problem(api.call("GET", "/v1/images", query={"cursor": cursor}), 400, "invalid-cursor")


def test_a_cursor_is_bound_to_its_tenant_and_filters(api: Api) -> None:
    # Given a cursor from tenant A's listing
    for number in range(3):
        api.add_image(number=number)
    cursor = api.call("GET", "/v1/images", query={"limit": "1"}).json["next_cursor"]
    # Then tenant B cannot use it, nor can A with other filters
    assert_problem(api.call("GET", "/v1/images", key=KEY_B, query={"cursor": cursor}), 400, "invalid-cursor")
    assert_problem(api.call("GET", "/v1/images", query={"cursor": cursor, "status": "READY"}), 400)


def test_since_without_a_zone_is_400(api: Api) -> None:
    assert_problem(
        api.call("GET", "/v1/images", query={"since": "2026-12-01T10:00:00"}), 400, "invalid-since"
    )


def test_get_image_returns_record_urls_and_placeholder(api: Api) -> None:
    api.add_image(
        number=1,
        tags=["beach"],
        blurhash="LEHV6nWB2yk8",
        dominant_colour="#aa8844",
        taken_at="2026-07-01T12:00:00Z",
    )
    reply = api.call("GET", "/v1/images/img_acme_0001")
    assert reply.status == 200
    body = reply.json
    assert body["source_key"] == "uploads/acme/photo-1.jpg"
    assert body["placeholder"] == {
        "blurhash": "LEHV6nWB2yk8",
        "dominant_colour": "#aa8844",
        "width": 64,
        "height": 48,
    }
    assert body["renditions"][0]["url"] == "https://img.example/uploads/acme/photo-1.jpg?preset=thumb&fm=webp"
    assert body["urls"] == {
        "small": "https://img.example/uploads/acme/photo-1.jpg?preset=small",
        "thumb": "https://img.example/uploads/acme/photo-1.jpg?preset=thumb",
    }


def test_another_tenants_image_is_indistinguishable_from_a_missing_one(api: Api) -> None:
    api.add_image(TENANT_B, number=1)
    theirs = api.call("GET", "/v1/images/img_globex_0001")
    missing = api.call("GET", "/v1/images/img_nothing")
    assert_problem(theirs, 404, "not-found")
    assert {k: v for k, v in theirs.json.items() if k != "instance"} == {
        k: v for k, v in missing.json.items() if k != "instance"
    }


def test_delete_removes_the_original_and_ingest_does_the_rest(api: Api) -> None:
    # Given a ready image whose original is stored
    record = api.add_image(number=1, data=b"original bytes")
    # When its tenant deletes it
    reply = api.call("DELETE", "/v1/images/img_acme_0001")
    # Then the original is gone and the answer says deletion is under way
    assert reply.status == 202
    assert reply.json == {"image_id": "img_acme_0001", "status": "DELETING"}
    assert record.source_key not in api.originals.objects


def test_delete_of_an_already_deleted_image_touches_nothing(api: Api) -> None:
    api.add_image(number=1, status="DELETED")
    reply = api.call("DELETE", "/v1/images/img_acme_0001")
    assert reply.status == 202
    assert reply.json["status"] == "DELETED"
    assert not [call for call in api.originals.calls if call[0] == "delete"]


def _rejected(api: Api, number: int = 1, *, owner: str | None = None) -> ImageRecord:
    """A rejected upload as ingest leaves it: the record names its quarantined original."""
    record = api.add_image(
        number=number,
        status="REJECTED",
        reason="not-an-image",
        quarantine_key=f"quarantine/acme/photo-{number}.jpg",
        announced=["Image Rejected"],
    )
    api.originals.put(
        f"quarantine/acme/photo-{number}.jpg",
        b"not an image",
        content_type="image/jpeg",
        metadata={"imgpipe-reason": "not-an-image", "imgpipe-image-id": owner or record.image_id},
    )
    return record


def test_delete_of_a_rejected_image_removes_the_quarantined_original_and_announces_it(api: Api) -> None:
    # Given a rejected upload (its original in quarantine/) and a newer upload to the same key since
    record = _rejected(api)
    api.originals.put(record.source_key, b"a newer upload", content_type="image/jpeg")
    # When its tenant deletes it
    reply = api.call("DELETE", f"/v1/images/{record.image_id}")
    # Then it is deleted now: the quarantined bytes are gone, the record is DELETED, and it is announced
    assert reply.status == 202
    assert reply.json == {"image_id": record.image_id, "status": "DELETED"}
    assert "quarantine/acme/photo-1.jpg" not in api.originals.objects
    stored = api.repository.images[record.image_id]
    assert (stored.status, stored.reason, stored.deleted_at) == ("DELETED", "deleted", stored.updated_at)
    assert "Image Deleted" in stored.announced
    [event] = api.publisher.published
    assert isinstance(event, ImageDeleted)
    assert (event.image_id, event.tenant, event.cause, event.renditions_deleted) == (
        record.image_id,
        "acme",
        "deleted",
        0,
    )
    # And the newer upload at the original key is left alone
    assert api.originals.objects[record.source_key].data == b"a newer upload"
    # And it is listed as deleted, not as rejected
    assert ids(api.call("GET", "/v1/images", query={"status": "REJECTED"})) == []
    assert ids(api.call("GET", "/v1/images", query={"status": "DELETED"})) == [record.image_id]


def test_a_second_delete_of_a_rejected_image_announces_nothing_more(api: Api) -> None:
    record = _rejected(api)
    api.call("DELETE", f"/v1/images/{record.image_id}")
    reply = api.call("DELETE", f"/v1/images/{record.image_id}")
    assert reply.json["status"] == "DELETED"
    assert len(api.publisher.published) == 1


def test_an_announcement_that_failed_is_made_by_the_next_delete(api: Api) -> None:
    # Given the bus fails during the first delete
    record = _rejected(api)

    def down(_: object) -> None:
        raise RuntimeError("bus unavailable")

    api.publisher.fail = down
    assert api.call("DELETE", f"/v1/images/{record.image_id}").status == 500
    assert api.repository.images[record.image_id].status == "DELETED"
    # When the client retries
    api.publisher.fail = None
    assert api.call("DELETE", f"/v1/images/{record.image_id}").json["status"] == "DELETED"
    # Then the deletion is announced once
    assert [event.image_id for event in api.publisher.published] == [record.image_id]  # type: ignore[attr-defined]


def test_delete_of_a_rejected_image_leaves_another_images_quarantined_original(api: Api) -> None:
    # Given the same key rejected twice: the quarantine key now holds the later upload's bytes
    record = _rejected(api, owner="img_acme_0002")
    # When the first rejected image is deleted
    api.call("DELETE", f"/v1/images/{record.image_id}")
    # Then its record is DELETED but the other image's quarantined original stays
    assert api.repository.images[record.image_id].status == "DELETED"
    assert "quarantine/acme/photo-1.jpg" in api.originals.objects


def test_delete_of_another_tenants_image_is_404_and_leaves_it(api: Api) -> None:
    record = api.add_image(TENANT_B, number=1, data=b"theirs")
    assert_problem(api.call("DELETE", "/v1/images/img_globex_0001"), 404)
    assert record.source_key in api.originals.objects


def test_with_policy_required_urls_are_signed_or_left_out(api: Api) -> None:
    # Given the "required" policy and no signing key in this function: no URL it could not sign
    api.add_image(number=1)
    api.reconfigure(signing_policy="required")
    unsigned = api.call("GET", "/v1/images/img_acme_0001").json
    assert unsigned["urls"] == {} and unsigned["renditions"][0]["url"] is None
    # And with a key every URL carries a signature
    api.reconfigure(signing_policy="required", signing_keys='{"k1": "0123456789abcdef0123"}')
    signed = api.call("GET", "/v1/images/img_acme_0001").json
    assert set(signed["urls"]) == {"thumb", "small"}
    assert all("&s=" in url or "?s=" in url for url in signed["urls"].values())
    assert "s=" in signed["renditions"][0]["url"]


def test_no_urls_for_an_image_that_is_not_ready(api: Api) -> None:
    api.add_image(number=1, status="PROCESSING")
    body = api.call("GET", "/v1/images/img_acme_0001").json
    assert body["urls"] == {} and body["renditions"][0]["url"] is None


def test_the_record_shows_every_fact_ingest_recorded(api: Api) -> None:
    # Given a ready animated image as ingest records it (imgpipe.core.ImageInfo's facts)
    record = api.add_image(
        number=1,
        frames=12,
        animated=True,
        orientation=6,
        has_alpha=True,
        colour_profile="Display P3",
        had_gps=True,
        phash="c3a1f0e1d2b49687",
        focal_point=(0.25, 0.75),
        seo_name="harbour-at-dusk",
        animation_fallback="animation:first-frame (deadline)",
    )
    # When its record is read
    image = api.call("GET", f"/v1/images/{record.image_id}").json
    # Then frames, orientation, colour profile, perceptual hash, focal point and GPS are all there
    assert {
        name: image[name]
        for name in (
            "frames",
            "animated",
            "orientation",
            "has_alpha",
            "colour_profile",
            "had_gps",
            "phash",
            "focal_point",
            "seo_name",
            "animation_fallback",
        )
    } == {
        "frames": 12,
        "animated": True,
        "orientation": 6,
        "has_alpha": True,
        "colour_profile": "Display P3",
        "had_gps": True,
        "phash": "c3a1f0e1d2b49687",
        "focal_point": [0.25, 0.75],
        "seo_name": "harbour-at-dusk",
        "animation_fallback": "animation:first-frame (deadline)",
    }


def test_a_rejected_record_says_why_in_words(api: Api) -> None:
    record = api.add_image(
        number=1, status="REJECTED", reason="not-an-image", reason_message="the content is not an image"
    )
    image = api.call("GET", f"/v1/images/{record.image_id}").json
    assert (image["reason"], image["reason_message"]) == ("not-an-image", "the content is not an image")
