"""`UploadKey.parse`: the key forms an original can have, and the id rules they share."""

from __future__ import annotations

import pytest

from imgpipe.uploads import InvalidUploadKey, UploadKey, batch_key_prefix, quarantine_key, tenant_of


@pytest.mark.parametrize(
    ("key", "tenant", "batch_id", "name"),
    [
        ("uploads/acme/holiday/beach.jpg", "acme", None, "holiday/beach.jpg"),
        ("batches/acme/b-42/beach.jpg", "acme", "b-42", "beach.jpg"),
        ("batches/acme/b-42/day 1/beach.jpg", "acme", "b-42", "day 1/beach.jpg"),
        # The older batch form: still a batch member (it reaches the interactive lane)
        ("uploads/acme/batches/b-42/beach.jpg", "acme", "b-42", "beach.jpg"),
    ],
)
def test_upload_keys_name_their_tenant_batch_and_name(
    key: str, tenant: str, batch_id: str | None, name: str
) -> None:
    # When a source key is parsed
    upload = UploadKey.parse(key)
    # Then it names its tenant, its batch (if any) and the name below them
    assert (upload.tenant, upload.batch_id, upload.name) == (tenant, batch_id, name)
    assert tenant_of(key) == tenant


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("batches/acme/beach.jpg", "names no batch"),
        ("batches/ac me/b/beach.jpg", "tenant"),
        ("batches/acme/b#1/beach.jpg", "batch"),
        ("batches/acme/" + "b" * 129 + "/x.jpg", "batch"),
        ("mezzanine/batches/acme/b/x.jpg", "is not under"),
        ("exports/acme/b/x.zip", "is not under"),
        ("batches/acme/b/../x.jpg", r"\.\."),
    ],
)
def test_bad_batch_keys_are_refused_with_a_reason(key: str, reason: str) -> None:
    with pytest.raises(InvalidUploadKey, match=reason):
        UploadKey.parse(key)


def test_batch_members_are_uploaded_under_their_own_top_level_prefix() -> None:
    assert batch_key_prefix("acme", "b-42") == "batches/acme/b-42/"
    assert UploadKey.parse(batch_key_prefix("acme", "b-42") + "x.jpg").batch_id == "b-42"


def test_quarantine_keeps_batch_members_apart_from_uploads_of_the_same_name() -> None:
    assert quarantine_key("uploads/acme/b-42/x.jpg") == "quarantine/acme/b-42/x.jpg"
    assert quarantine_key("batches/acme/b-42/x.jpg") == "quarantine/acme/batches/b-42/x.jpg"
