"""The embedded AWS under concurrent load: moto is not thread-safe; `SerialDispatch` serialises it. And
what it holds: model objects moto no longer uses are freed (`MotoShims`), so memory stays bounded."""

from __future__ import annotations

import gc
import threading
import time
import weakref
from collections.abc import Iterator

import pytest
from botocore.config import Config  # type: ignore[import-untyped]
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends

from imgpipe.dev.aws import EmbeddedAws, MotoShims, _s3_backend, create_images_table
from imgpipe.dev.session import LocalSession

PREFILLED = 1000  # one partition big enough that copying it takes a while
WRITERS = 3
TRANSACTIONS = 2
SECONDS = 4.0
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


def test_transactions_beside_concurrent_writers_get_no_server_error(aws: LocalSession) -> None:
    # Given the images table with one big partition
    dynamodb = aws.client("dynamodb")
    create_images_table(dynamodb, "concurrency")
    for start in range(0, PREFILLED, 25):
        dynamodb.batch_write_item(
            RequestItems={
                "concurrency": [
                    {"PutRequest": {"Item": {"pk": {"S": "big"}, "sk": {"S": f"{n:06d}"}}}}
                    for n in range(start, start + 25)
                ]
            }
        )
    errors: list[str] = []
    stop = time.monotonic() + SECONDS

    def write(worker: int) -> None:
        client = aws.client("dynamodb", config=_NO_RETRY)
        count = 0
        while time.monotonic() < stop:
            count += 1
            try:
                client.put_item(
                    TableName="concurrency", Item={"pk": {"S": "big"}, "sk": {"S": f"w{worker}-{count}"}}
                )
            except Exception as error:
                errors.append(f"put: {error}"[:200])

    def transact() -> None:
        # moto copies every table a transaction touches (to roll back), while the writers add items.
        client = aws.client("dynamodb", config=_NO_RETRY)
        count = 0
        while time.monotonic() < stop:
            count += 1
            item = {"pk": {"S": "tx"}, "sk": {"S": f"{threading.get_ident()}-{count}"}}
            try:
                client.transact_write_items(
                    TransactItems=[{"Put": {"TableName": "concurrency", "Item": item}}]
                )
            except Exception as error:
                errors.append(f"transaction: {error}"[:200])

    # When writers and transactions run at once (as ingest's and the API's do)
    threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    threads += [threading.Thread(target=transact) for _ in range(TRANSACTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then none failed (unserialised, moto answers 500: "dictionary changed size during iteration")
    assert not errors, errors[:3]


@pytest.fixture
def shimmed(aws: LocalSession) -> Iterator[LocalSession]:
    shims = MotoShims(set()).install()
    assert shims.installed["untracked_models"]
    try:
        yield aws
    finally:
        shims.uninstall()


KEY = {"pk": {"S": "IMG#1"}, "sk": {"S": "IMAGE"}}


def test_objects_and_items_moto_replaced_are_freed(shimmed: LocalSession) -> None:
    # Given an object and a table item in the embedded AWS, and weak references to moto's models of them
    s3 = shimmed.client("s3")
    s3.create_bucket(Bucket="renditions")
    s3.put_object(Bucket="renditions", Key="a.webp", Body=b"first" * 100)
    dynamodb = shimmed.client("dynamodb")
    create_images_table(dynamodb, "freed")
    dynamodb.put_item(TableName="freed", Item=KEY)
    first_key = weakref.ref(_s3_backend().get_object("renditions", "a.webp"))
    table = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].get_table("freed")
    [stored_item] = list(table.all_items())
    first_item = weakref.ref(stored_item)
    del stored_item
    # When both are overwritten and the table is read and written in transactions (moto copies it)
    s3.put_object(Bucket="renditions", Key="a.webp", Body=b"second" * 100)
    for n in range(3):
        dynamodb.transact_write_items(
            TransactItems=[{"Put": {"TableName": "freed", "Item": {**KEY, "n": {"N": str(n)}}}}]
        )
    gc.collect()
    # Then moto's earlier models are gone (moto used to keep every model object it built: unbounded memory)
    assert first_key() is None
    assert first_item() is None
    # and the current ones are what the services answer
    assert s3.get_object(Bucket="renditions", Key="a.webp")["Body"].read() == b"second" * 100
    item = dynamodb.get_item(TableName="freed", Key=KEY)["Item"]
    assert item["n"] == {"N": "2"}
