"""`--data DIR`: the embedded AWS is journaled in the data directory, so a restart keeps everything."""

from __future__ import annotations

from imgpipe.dev.datadir import DataDir
from tests.builders import colour_card, encode
from tests.local.conftest import LiveStack, fetch


def test_records_ids_and_batches_are_the_same_after_a_restart(live: LiveStack) -> None:
    # Given a READY upload, a rejected one, a deleted one and a declared batch
    kept, rejected, deleted = live.key("kept.jpg"), live.key("broken.jpg"), live.key("gone.jpg")
    live.stack.put_original(kept, encode(colour_card(120, 90), "JPEG"), "image/jpeg")
    live.stack.put_original(rejected, b"\xff\xd8\xff\xe0 not really", "image/jpeg")
    live.stack.put_original(deleted, encode(colour_card(90, 90), "JPEG"), "image/jpeg")
    live.wait([kept, rejected, deleted])
    live.stack.delete_original(deleted)
    live.wait_status(deleted, "DELETED")
    live.stack.open_batch("local", "kept-batch", 3)
    # (a record is final before its event is announced and noted in it: read them once all is quiet)
    assert live.stack.wait_idle(30)
    before = live.wait([kept, rejected, deleted])
    api_key = live.stack.api_key()
    # When the stack restarts on the same data directory (moto's state is gone with the old server)
    stack = live.restart()
    # Then every record is there as it was: same ids, same creation times, same statuses, nothing redone
    after = live.wait([kept, rejected], timeout=5)
    for key in (kept, rejected):
        assert after[key].model_dump() == before[key].model_dump()
    assert live.wait_status(deleted, "DELETED").image_id == before[deleted].image_id
    assert not [
        line for line in live.console[-20:] if kept in line and "READY" in line and "restored" not in line
    ][1:]
    # And the old ids still answer, the batch is still declared, the renditions still serve
    headers = {"x-api-key": api_key.value}
    assert stack.api_key() == api_key
    answer = fetch(f"{stack.url}/v1/images/{before[kept].image_id}", headers=headers)
    assert answer.status == 200 and answer.json()["status"] == "READY"
    assert fetch(f"{stack.url}/v1/batches/kept-batch", headers=headers).json()["expected"] == 3
    image = fetch(f"{stack.url}/{kept}?preset=thumb")
    assert image.status == 200 and image.headers["x-imgpipe-origin"] == "transformed-bucket"


def test_signing_keys_are_generated_once_and_kept_private(live: LiveStack) -> None:
    data = DataDir(live.options.data_dir)
    keys = data.signing_keys()
    assert keys == live.stack.signing_keys and all(len(secret) >= 32 for secret in keys.values())
    assert data.keys_file.stat().st_mode & 0o077 == 0
    assert (live.options.data_dir / ".gitignore").read_text().strip().endswith("*")
