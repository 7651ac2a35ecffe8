"""The embedded AWS under concurrent load: moto is not thread-safe; `SerialDispatch` serialises it."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator

import pytest
from botocore.config import Config  # type: ignore[import-untyped]

from imgpipe.dev.aws import EmbeddedAws, create_images_table
from imgpipe.dev.session import LocalSession

WRITERS = 4
READERS = 4
SECONDS = 4.0
HOT = {"pk": {"S": "hot"}, "sk": {"S": "item"}}
# No retries: a 500 from the embedded server must show, not be hidden by boto3's retry.
_NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})


@pytest.fixture
def aws() -> Iterator[LocalSession]:
    embedded = EmbeddedAws()
    session = LocalSession(embedded.start())
    try:
        yield session
    finally:
        embedded.stop()


def test_concurrent_writers_and_readers_of_one_item_get_no_server_error(aws: LocalSession) -> None:
    # Given the images table and one item every thread works on (as ingest and the API do with a record)
    create_images_table(aws.client("dynamodb"), "concurrency")
    aws.client("dynamodb").put_item(
        TableName="concurrency", Item={**HOT, "gsi1pk": {"S": "all"}, "gsi1sk": {"S": "1"}}
    )
    errors: list[str] = []
    stop = time.monotonic() + SECONDS

    def write(worker: int) -> None:
        dynamodb = aws.client("dynamodb", config=_NO_RETRY)
        count = 0
        while time.monotonic() < stop:
            count += 1
            try:
                # Each update adds an attribute: the item's dict grows while readers copy it.
                dynamodb.update_item(
                    TableName="concurrency",
                    Key=HOT,
                    UpdateExpression="SET #name = :value",
                    ExpressionAttributeNames={"#name": f"w{worker}n{count}"},
                    ExpressionAttributeValues={":value": {"N": str(count)}},
                )
            except Exception as error:
                errors.append(f"write: {error}")

    def read() -> None:
        dynamodb = aws.client("dynamodb", config=_NO_RETRY)
        while time.monotonic() < stop:
            try:
                dynamodb.query(
                    TableName="concurrency",
                    IndexName="gsi1",
                    KeyConditionExpression="gsi1pk = :all",
                    ExpressionAttributeValues={":all": {"S": "all"}},
                )
                dynamodb.get_item(TableName="concurrency", Key=HOT)
            except Exception as error:
                errors.append(f"read: {error}")

    # When writers and readers hammer it at once (threads switching as often as Python lets them)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    threads += [threading.Thread(target=read) for _ in range(READERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sys.setswitchinterval(interval)
    # Then no request failed (moto's "dictionary changed size during iteration" answers a 500)
    assert not errors, errors[:3]
