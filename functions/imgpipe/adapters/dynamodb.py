"""`MetadataRepository` over one DynamoDB table (low-level client; items marshalled here).

Item layouts (pk / sk and the index keys) are documented in docs/ingest.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from imgpipe.ports import BatchCounter, ConditionFailed
from imgpipe.records import BatchRecord, ImageRecord, SourcePointer
from infra.constants import (
    GSI_BY_BATCH,
    GSI_BY_CHECKSUM,
    GSI_BY_SOURCE_KEY,
    GSI_BY_TENANT,
    TABLE_PARTITION_KEY,
    TABLE_SORT_KEY,
)

PK, SK = TABLE_PARTITION_KEY, TABLE_SORT_KEY
IMAGE_SK = "IMAGE"
SOURCE_SK = "SOURCE"
BATCH_SK = "BATCH"
_INTEGER = re.compile(r"-?[0-9]+")
_INDEXES = (GSI_BY_TENANT, GSI_BY_BATCH, GSI_BY_CHECKSUM, GSI_BY_SOURCE_KEY)
_INDEX_KEYS = {name: (f"{name}pk", f"{name}sk") for name in _INDEXES}
_KEY_ATTRIBUTES = frozenset({PK, SK, "item_type"} | {key for pair in _INDEX_KEYS.values() for key in pair})


def image_pk(image_id: str) -> str:
    return f"IMG#{image_id}"


def source_pk(source_key: str) -> str:
    return f"SRC#{source_key}"


def batch_pk(tenant: str, batch_id: str) -> str:
    return f"BATCH#{tenant}#{batch_id}"


def tenant_gsi_pk(tenant: str) -> str:
    return f"TENANT#{tenant}"


def checksum_gsi_pk(tenant: str, sha256: str) -> str:
    return f"SUM#{tenant}#{sha256}"


# Marshalling: plain JSON-like values <-> DynamoDB AttributeValues.


def to_attribute(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": repr(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, list | tuple):
        return {"L": [to_attribute(item) for item in value]}
    if isinstance(value, Mapping):
        return {"M": {str(key): to_attribute(item) for key, item in value.items()}}
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB")


def from_attribute(attribute: Mapping[str, Any]) -> Any:
    (kind, value), *_ = attribute.items()
    if kind == "NULL":
        return None
    if kind in ("S", "BOOL"):
        return value
    if kind == "N":
        return int(value) if _INTEGER.fullmatch(value) else float(value)
    if kind == "L":
        return [from_attribute(item) for item in value]
    if kind == "M":
        return {key: from_attribute(item) for key, item in value.items()}
    raise TypeError(f"unexpected DynamoDB attribute type {kind}")


def to_item(values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    # Absent rather than NULL: index key attributes must be missing (not NULL) to keep an item out of a
    # sparse index, and absent attributes cost nothing.
    return {key: to_attribute(value) for key, value in values.items() if value is not None}


def from_item(item: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {key: from_attribute(value) for key, value in item.items() if key not in _KEY_ATTRIBUTES}


def image_item(record: ImageRecord) -> dict[str, dict[str, Any]]:
    order = f"{record.created_at}#{record.image_id}"
    values: dict[str, Any] = record.model_dump(mode="json")
    values.update(
        {
            PK: image_pk(record.image_id),
            SK: IMAGE_SK,
            "item_type": "image",
            _INDEX_KEYS[GSI_BY_TENANT][0]: tenant_gsi_pk(record.tenant),
            _INDEX_KEYS[GSI_BY_TENANT][1]: order,
            _INDEX_KEYS[GSI_BY_SOURCE_KEY][0]: source_pk(record.source_key),
            _INDEX_KEYS[GSI_BY_SOURCE_KEY][1]: record.sequencer,
        }
    )
    if record.batch_id is not None:
        values[_INDEX_KEYS[GSI_BY_BATCH][0]] = batch_pk(record.tenant, record.batch_id)
        values[_INDEX_KEYS[GSI_BY_BATCH][1]] = order
    if record.sha256 is not None:
        values[_INDEX_KEYS[GSI_BY_CHECKSUM][0]] = checksum_gsi_pk(record.tenant, record.sha256)
        values[_INDEX_KEYS[GSI_BY_CHECKSUM][1]] = order
    return to_item(values)


def _code(error: Any) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class DynamoMetadataRepository:
    """`client` is a boto3 DynamoDB client (typed loosely: boto3 ships no type information)."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self.table = table

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = self._client.get_item(
            TableName=self.table, Key=to_item({PK: pk, SK: sk}), ConsistentRead=True
        )
        item = response.get("Item")
        return from_item(item) if item else None

    def _conditional(self, call: Any, **arguments: Any) -> Any:
        try:
            return call(**arguments)
        except self._client.exceptions.ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                raise ConditionFailed(str(error)) from None
            raise

    # Source pointers

    def get_source(self, source_key: str) -> SourcePointer | None:
        found = self._get(source_pk(source_key), SOURCE_SK)
        return SourcePointer.model_validate(found) if found else None

    def claim_source(self, pointer: SourcePointer) -> SourcePointer | None:
        values = pointer.model_dump(mode="json")
        values.update({PK: source_pk(pointer.source_key), SK: SOURCE_SK, "item_type": "source"})
        response = self._conditional(
            self._client.put_item,
            TableName=self.table,
            Item=to_item(values),
            ConditionExpression="attribute_not_exists(#pk) OR #sequencer < :sequencer",
            ExpressionAttributeNames={"#pk": PK, "#sequencer": "sequencer"},
            ExpressionAttributeValues={":sequencer": to_attribute(pointer.sequencer)},
            ReturnValues="ALL_OLD",
        )
        old = response.get("Attributes")
        return SourcePointer.model_validate(from_item(old)) if old else None

    def save_source(self, pointer: SourcePointer) -> None:
        values = pointer.model_dump(mode="json")
        values.update({PK: source_pk(pointer.source_key), SK: SOURCE_SK, "item_type": "source"})
        self._conditional(
            self._client.put_item,
            TableName=self.table,
            Item=to_item(values),
            ConditionExpression="#sequencer = :sequencer",
            ExpressionAttributeNames={"#sequencer": "sequencer"},
            ExpressionAttributeValues={":sequencer": to_attribute(pointer.sequencer)},
        )

    # Images

    def get_image(self, image_id: str) -> ImageRecord | None:
        found = self._get(image_pk(image_id), IMAGE_SK)
        return ImageRecord.model_validate(found) if found else None

    def create_image(self, record: ImageRecord) -> None:
        self._conditional(
            self._client.put_item,
            TableName=self.table,
            Item=image_item(record),
            ConditionExpression="attribute_not_exists(#pk)",
            ExpressionAttributeNames={"#pk": PK},
        )

    def save_image(self, record: ImageRecord, *, expected_status: str) -> None:
        self._conditional(
            self._client.put_item,
            TableName=self.table,
            Item=image_item(record),
            ConditionExpression="#status = :expected",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":expected": to_attribute(expected_status)},
        )

    def finish_image(self, record: ImageRecord, *, expected_status: str, count: BatchCounter | None) -> None:
        put = {
            "Put": {
                "TableName": self.table,
                "Item": image_item(record),
                "ConditionExpression": "#status = :expected",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {":expected": to_attribute(expected_status)},
            }
        }
        if count is None or record.batch_id is None:
            self._conditional(self._client.put_item, **put["Put"])
            return
        counter = {
            "Update": {
                "TableName": self.table,
                "Key": to_item({PK: batch_pk(record.tenant, record.batch_id), SK: BATCH_SK}),
                "UpdateExpression": (
                    "ADD #count :one, #done :one "
                    "SET #tenant = :tenant, #batch = :batch, #version = :version, "
                    "#created = if_not_exists(#created, :now), #updated = :now, #type = :type"
                ),
                "ExpressionAttributeNames": {
                    "#count": count,
                    "#done": "done",
                    "#tenant": "tenant",
                    "#batch": "batch_id",
                    "#version": "version",
                    "#created": "created_at",
                    "#updated": "updated_at",
                    "#type": "item_type",
                },
                "ExpressionAttributeValues": to_item(
                    {
                        ":one": 1,
                        ":tenant": record.tenant,
                        ":batch": record.batch_id,
                        ":version": "1",
                        ":now": record.updated_at,
                        ":type": "batch",
                    }
                ),
            }
        }
        try:
            self._client.transact_write_items(TransactItems=[put, counter])
        except self._client.exceptions.ClientError as error:
            if _code(error) == "TransactionCanceledException":
                reasons = error.response.get("CancellationReasons") or []
                if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                    raise ConditionFailed(str(error)) from None
            raise

    def find_by_checksum(self, tenant: str, sha256: str) -> list[ImageRecord]:
        pk_name = _INDEX_KEYS[GSI_BY_CHECKSUM][0]
        records: list[ImageRecord] = []
        arguments: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": GSI_BY_CHECKSUM,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": pk_name},
            "ExpressionAttributeValues": to_item({":pk": checksum_gsi_pk(tenant, sha256)}),
        }
        while True:
            response = self._client.query(**arguments)
            records.extend(ImageRecord.model_validate(from_item(item)) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return records
            arguments["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # Batches

    def get_batch(self, tenant: str, batch_id: str) -> BatchRecord | None:
        found = self._get(batch_pk(tenant, batch_id), BATCH_SK)
        return BatchRecord.model_validate(found) if found else None

    def set_batch_expected(self, tenant: str, batch_id: str, expected: int, now: str) -> BatchRecord:
        response = self._conditional(
            self._client.update_item,
            TableName=self.table,
            Key=to_item({PK: batch_pk(tenant, batch_id), SK: BATCH_SK}),
            UpdateExpression=(
                "SET #expected = :expected, #tenant = :tenant, #batch = :batch, #version = :version, "
                "#created = if_not_exists(#created, :now), #updated = :now, #type = :type"
            ),
            ConditionExpression="attribute_not_exists(#expected) OR #expected = :expected",
            ExpressionAttributeNames={
                "#expected": "expected",
                "#tenant": "tenant",
                "#batch": "batch_id",
                "#version": "version",
                "#created": "created_at",
                "#updated": "updated_at",
                "#type": "item_type",
            },
            ExpressionAttributeValues=to_item(
                {
                    ":expected": expected,
                    ":tenant": tenant,
                    ":batch": batch_id,
                    ":version": "1",
                    ":now": now,
                    ":type": "batch",
                }
            ),
            ReturnValues="ALL_NEW",
        )
        return BatchRecord.model_validate(from_item(response["Attributes"]))

    def claim_batch_completion(self, tenant: str, batch_id: str, now: str, until: str) -> BatchRecord | None:
        try:
            response = self._conditional(
                self._client.update_item,
                TableName=self.table,
                Key=to_item({PK: batch_pk(tenant, batch_id), SK: BATCH_SK}),
                UpdateExpression="SET #claim = :until, #updated = :now",
                ConditionExpression=(
                    "attribute_exists(#expected) AND #done >= #expected "
                    "AND (attribute_not_exists(#completed) OR #completed = :false) "
                    "AND (attribute_not_exists(#claim) OR #claim < :now)"
                ),
                ExpressionAttributeNames={
                    "#claim": "claim_until",
                    "#updated": "updated_at",
                    "#expected": "expected",
                    "#done": "done",
                    "#completed": "completed",
                },
                ExpressionAttributeValues=to_item({":until": until, ":now": now, ":false": False}),
                ReturnValues="ALL_NEW",
            )
        except ConditionFailed:
            return None
        return BatchRecord.model_validate(from_item(response["Attributes"]))

    def mark_batch_completed(self, tenant: str, batch_id: str, now: str) -> None:
        self._client.update_item(
            TableName=self.table,
            Key=to_item({PK: batch_pk(tenant, batch_id), SK: BATCH_SK}),
            UpdateExpression="SET #completed = :true, #completed_at = :now, #updated = :now REMOVE #claim",
            ExpressionAttributeNames={
                "#completed": "completed",
                "#completed_at": "completed_at",
                "#updated": "updated_at",
                "#claim": "claim_until",
            },
            ExpressionAttributeValues=to_item({":true": True, ":now": now}),
        )

    def release_batch_claim(self, tenant: str, batch_id: str) -> None:
        try:
            self._conditional(
                self._client.update_item,
                TableName=self.table,
                Key=to_item({PK: batch_pk(tenant, batch_id), SK: BATCH_SK}),
                UpdateExpression="REMOVE #claim",
                ConditionExpression="attribute_exists(#pk)",
                ExpressionAttributeNames={"#claim": "claim_until", "#pk": PK},
            )
        except ConditionFailed:
            return
