"""DELETE of a rejected upload through the local stack's port: the quarantined original goes, the record
ends DELETED and `Image Deleted` reaches the stack's event log, as deployed."""

from __future__ import annotations

import time

import pytest

from tests.local.conftest import LiveStack
from tests.local.test_api import call, upload

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics")


def test_deleting_a_rejected_upload_removes_it_everywhere(live: LiveStack) -> None:
    # Given an upload ingest rejected (not an image: moved to quarantine/)
    key = upload(live, "notes.jpg", b"these are notes, not a picture")
    [record] = live.wait([key]).values()
    assert record.status == "REJECTED" and record.quarantine_key is not None
    assert live.stack.session is not None and live.stack.resources is not None
    s3, bucket = live.stack.session.client("s3"), live.stack.resources.originals_bucket
    s3.head_object(Bucket=bucket, Key=record.quarantine_key)
    # When its tenant deletes it through the API
    answer = call(live, "DELETE", f"/v1/images/{record.image_id}")
    # Then it is done within the request: no quarantined bytes, the record DELETED
    assert (answer.status, answer.json()["status"]) == (202, "DELETED")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=record.quarantine_key).get("Contents", [])
    assert listed == []
    assert call(live, "GET", f"/v1/images/{record.image_id}").json()["status"] == "DELETED"
    # And the deletion is announced on the stage's bus
    deadline = time.monotonic() + 10
    while not any(
        event.detail_type == "Image Deleted" and event.detail.get("image_id") == record.image_id
        for event in list(live.stack.events)
    ):
        assert time.monotonic() < deadline, "no Image Deleted event"
        time.sleep(0.2)
