"""`--data DIR`: originals are kept in the data directory and the pipeline rebuilds the rest on restart."""

from __future__ import annotations

from imgpipe.dev.datadir import DataDir
from tests.builders import colour_card, encode
from tests.local.conftest import LiveStack, fetch


def test_originals_are_kept_in_the_data_directory_and_restored_on_restart(live: LiveStack) -> None:
    # Given a READY upload, a rejected one and a deleted one
    kept, rejected, deleted = live.key("kept.jpg"), live.key("broken.jpg"), live.key("gone.jpg")
    live.stack.put_original(kept, encode(colour_card(120, 90), "JPEG"), "image/jpeg")
    live.stack.put_original(rejected, b"\xff\xd8\xff\xe0 not really", "image/jpeg")
    live.stack.put_original(deleted, encode(colour_card(90, 90), "JPEG"), "image/jpeg")
    live.wait([kept, rejected, deleted])
    live.stack.delete_original(deleted)
    live.wait_status(deleted, "DELETED")
    data = DataDir(live.options.data_dir)
    mirrored = {original.key for original in data.originals()}
    assert {kept, rejected} <= mirrored and deleted not in mirrored
    api_key = live.stack.api_key()
    # When the stack restarts on the same data directory (moto's state is gone with the old server)
    stack = live.restart()
    assert stack.restored >= 2
    # Then the pipeline rebuilds the records from the originals
    records = live.wait([kept, rejected])
    assert records[kept].status == "READY"
    assert records[rejected].status == "REJECTED"
    assert stack.target().images_url == stack.url
    # And the API key on file is the same and bound again in the new table
    assert stack.api_key() == api_key
    listed = fetch(f"{stack.url}/v1/images?limit=100", headers={"x-api-key": api_key.value})
    assert listed.status == 200 and kept in {item["source_key"] for item in listed.json()["items"]}


def test_signing_keys_are_generated_once_and_kept_private(live: LiveStack) -> None:
    data = DataDir(live.options.data_dir)
    keys = data.signing_keys()
    assert keys == live.stack.signing_keys and all(len(secret) >= 32 for secret in keys.values())
    assert data.keys_file.stat().st_mode & 0o077 == 0
    assert (live.options.data_dir / ".gitignore").read_text().strip().endswith("*")
