"""The management API's reads and writes on the images table, and the quota gate ingest asks.

Items this module owns (beside ingest's images, source pointers and batches, imgpipe.adapters.dynamodb):

| pk                    | sk              | attributes                      |
|-----------------------|-----------------|---------------------------------|
| `APIKEY#{api key id}` | `APIKEY`        | tenant, plan (optional)         |
| `TENANT#{tenant}`     | `PLAN`          | plan                            |
| `TENANT#{tenant}`     | `USAGE#{yyyy-mm}` | images (accepted this month)  |
| `TENANT#{tenant}`     | `STORAGE`       | bytes (originals stored now)    |

Listing reads the tenant index (gsi1) or the batch index (gsi2), whose sort key is
`{created_at}#{image_id}`: newest first, and a position in it is a stable cursor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from api.ports import ApiKeyBinding, ImageListing, ImageSlice, order_key
from imgpipe.adapters.dynamodb import (
    BATCH_SK,
    PK,
    SK,
    DynamoMetadataRepository,
    batch_pk,
    from_item,
    tenant_gsi_pk,
    to_attribute,
    to_item,
)
from imgpipe.plans import Usage
from imgpipe.ports import ConditionFailed
from imgpipe.records import BatchRecord, ImageRecord
from infra.constants import GSI_BY_BATCH, GSI_BY_TENANT

API_KEY_SK = "APIKEY"
PLAN_SK = "PLAN"
STORAGE_SK = "STORAGE"
# Query pages read per listing call: a rare filter (a tag on one image in 100 000) answers a short page
# with a cursor instead of reading the whole partition in one request.
MAX_READS_PER_PAGE = 5
_READ_SIZE = 100


def api_key_pk(api_key_id: str) -> str:
    return f"APIKEY#{api_key_id}"


def tenant_pk(tenant: str) -> str:
    return f"TENANT#{tenant}"


def usage_sk(month: str) -> str:
    return f"USAGE#{month}"


def _code(error: Any) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class DynamoApiRepository:
    """`client` is a boto3 DynamoDB client (typed loosely: boto3 ships no type information)."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self.table = table
        self._records = DynamoMetadataRepository(client, table)

    def _get(self, pk: str, sk: str, *, consistent: bool = False) -> dict[str, Any] | None:
        response = self._client.get_item(
            TableName=self.table, Key=to_item({PK: pk, SK: sk}), ConsistentRead=consistent
        )
        item = response.get("Item")
        return from_item(item) if item else None

    # Tenants (written by operators or `imgpipe dev`; read on every cold cache)

    def put_api_key(self, binding: ApiKeyBinding) -> None:
        values = {
            PK: api_key_pk(binding.api_key_id),
            SK: API_KEY_SK,
            "item_type": "api-key",
            "tenant": binding.tenant,
            "plan": binding.plan,
        }
        self._client.put_item(TableName=self.table, Item=to_item(values))

    def put_tenant(self, tenant: str, plan: str) -> None:
        values = {PK: tenant_pk(tenant), SK: PLAN_SK, "item_type": "tenant", "tenant": tenant, "plan": plan}
        self._client.put_item(TableName=self.table, Item=to_item(values))

    def api_key(self, api_key_id: str) -> ApiKeyBinding | None:
        found = self._get(api_key_pk(api_key_id), API_KEY_SK)
        if not found or not isinstance(found.get("tenant"), str):
            return None
        plan = found.get("plan")
        return ApiKeyBinding(
            api_key_id=api_key_id, tenant=found["tenant"], plan=plan if isinstance(plan, str) else None
        )

    def tenant_plan(self, tenant: str) -> str | None:
        found = self._get(tenant_pk(tenant), PLAN_SK)
        plan = found.get("plan") if found else None
        return plan if isinstance(plan, str) else None

    def usage(self, tenant: str, month: str) -> Usage:
        monthly = self._get(tenant_pk(tenant), usage_sk(month)) or {}
        storage = self._get(tenant_pk(tenant), STORAGE_SK) or {}
        return Usage(
            month=month, images=int(monthly.get("images", 0)), storage_bytes=int(storage.get("bytes", 0))
        )

    # Images

    def get_image(self, image_id: str) -> ImageRecord | None:
        return self._records.get_image(image_id)

    def save_image(self, record: ImageRecord, *, expected_status: str) -> None:
        self._records.save_image(record, expected_status=expected_status)

    def list_images(self, listing: ImageListing) -> ImageSlice:
        index = GSI_BY_BATCH if listing.batch_id is not None else GSI_BY_TENANT
        partition = (
            batch_pk(listing.tenant, listing.batch_id)
            if listing.batch_id is not None
            else tenant_gsi_pk(listing.tenant)
        )
        names = {"#pk": f"{index}pk"}
        values: dict[str, Any] = {":pk": partition}
        condition = "#pk = :pk"
        if listing.since is not None and listing.before is not None:
            # BETWEEN is inclusive at both ends; the item at `before` itself is dropped below.
            condition += " AND #sk BETWEEN :since AND :before"
            values.update({":since": listing.since, ":before": listing.before})
        elif listing.before is not None:
            condition += " AND #sk < :before"
            values[":before"] = listing.before
        elif listing.since is not None:
            condition += " AND #sk >= :since"
            values[":since"] = listing.since
        if listing.since is not None or listing.before is not None:
            names["#sk"] = f"{index}sk"
        filters: list[str] = []
        if listing.status is not None:
            filters.append("#status = :status")
            names["#status"] = "status"
            values[":status"] = listing.status
        if listing.exclude_status is not None:
            filters.append("#status <> :exclude")
            names["#status"] = "status"
            values[":exclude"] = listing.exclude_status
        if listing.tag is not None:
            filters.append("contains(#tags, :tag)")
            names["#tags"] = "tags"
            values[":tag"] = listing.tag
        arguments: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {key: to_attribute(value) for key, value in values.items()},
            "ScanIndexForward": False,
            "Limit": max(listing.limit, _READ_SIZE) if filters else listing.limit + 1,
        }
        if filters:
            arguments["FilterExpression"] = " AND ".join(filters)
        items: list[ImageRecord] = []
        last: dict[str, Any] = {}
        for _ in range(MAX_READS_PER_PAGE):
            response = self._client.query(**arguments)
            for item in response.get("Items", []):
                record = ImageRecord.model_validate(from_item(item))
                if order_key(record) == listing.before:
                    continue
                if len(items) == listing.limit:
                    # A match is left over, so there is a next page: it starts after the last one returned.
                    return ImageSlice(items=items, next_before=order_key(items[-1]))
                items.append(record)
            last = response.get("LastEvaluatedKey") or {}
            if not last:
                return ImageSlice(items=items, next_before=None)
            arguments["ExclusiveStartKey"] = last
        if len(items) == listing.limit:
            return ImageSlice(items=items, next_before=order_key(items[-1]))
        # The read budget is spent: continue after the last item examined, matched or not.
        return ImageSlice(items=items, next_before=_sort_key(last, f"{index}sk"))

    def batch_images(self, tenant: str, batch_id: str) -> Iterator[ImageRecord]:
        arguments: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": GSI_BY_BATCH,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": f"{GSI_BY_BATCH}pk"},
            "ExpressionAttributeValues": {":pk": to_attribute(batch_pk(tenant, batch_id))},
            "ScanIndexForward": True,
        }
        while True:
            response = self._client.query(**arguments)
            for item in response.get("Items", []):
                yield ImageRecord.model_validate(from_item(item))
            if "LastEvaluatedKey" not in response:
                return
            arguments["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # Batches

    def get_batch(self, tenant: str, batch_id: str) -> BatchRecord | None:
        return self._records.get_batch(tenant, batch_id)

    def create_batch(self, batch: BatchRecord) -> None:
        values: dict[str, Any] = batch.model_dump(mode="json")
        values.update({PK: batch_pk(batch.tenant, batch.batch_id), SK: BATCH_SK, "item_type": "batch"})
        try:
            self._client.put_item(
                TableName=self.table,
                Item=to_item(values),
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": PK},
            )
        except self._client.exceptions.ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                raise ConditionFailed(batch.batch_id) from None
            raise


def _sort_key(key: dict[str, Any], name: str) -> str:
    value = key.get(name, {}).get("S")
    if not isinstance(value, str):
        raise KeyError(name)
    return value


class DynamoQuotaGate:
    """`imgpipe.ports.QuotaGate` over the usage items: counts an accepted upload atomically, or refuses it.

    `limits(plan name or None)` gives (monthly images, storage bytes) for a tenant's plan; the API's plan
    table (imgpipe.plans) is the usual source. Both counters move in one transaction, so a refusal changes
    neither and two concurrent uploads cannot both take the last place.
    """

    def __init__(
        self,
        client: Any,
        table: str,
        limits: Callable[[str | None], tuple[int, int]],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self.table = table
        self._limits = limits
        self._clock = clock

    def _plan(self, tenant: str) -> str | None:
        response = self._client.get_item(
            TableName=self.table, Key=to_item({PK: tenant_pk(tenant), SK: PLAN_SK})
        )
        item = response.get("Item")
        plan = from_item(item).get("plan") if item else None
        return plan if isinstance(plan, str) else None

    def admits(self, tenant: str, size: int) -> bool:
        monthly_images, storage_bytes = self._limits(self._plan(tenant))
        room = storage_bytes - size
        if room < 0:
            return False
        month = self._clock().astimezone(UTC).strftime("%Y-%m")
        updates = [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": to_item({PK: tenant_pk(tenant), SK: usage_sk(month)}),
                    "UpdateExpression": "ADD #images :one SET #type = :type",
                    "ConditionExpression": "attribute_not_exists(#images) OR #images < :max",
                    "ExpressionAttributeNames": {"#images": "images", "#type": "item_type"},
                    "ExpressionAttributeValues": to_item(
                        {":one": 1, ":max": monthly_images, ":type": "usage"}
                    ),
                }
            },
            {
                "Update": {
                    "TableName": self.table,
                    "Key": to_item({PK: tenant_pk(tenant), SK: STORAGE_SK}),
                    "UpdateExpression": "ADD #bytes :size SET #type = :type",
                    "ConditionExpression": "attribute_not_exists(#bytes) OR #bytes <= :room",
                    "ExpressionAttributeNames": {"#bytes": "bytes", "#type": "item_type"},
                    "ExpressionAttributeValues": to_item({":size": size, ":room": room, ":type": "storage"}),
                }
            },
        ]
        try:
            self._client.transact_write_items(TransactItems=updates)
        except self._client.exceptions.ClientError as error:
            if _code(error) == "TransactionCanceledException":
                return False
            raise
        return True

    def release(self, tenant: str, size: int) -> None:
        """Give back the storage of a deleted original (the monthly image count stays spent)."""
        self._client.update_item(
            TableName=self.table,
            Key=to_item({PK: tenant_pk(tenant), SK: STORAGE_SK}),
            UpdateExpression="ADD #bytes :minus",
            ExpressionAttributeNames={"#bytes": "bytes"},
            ExpressionAttributeValues=to_item({":minus": -size}),
        )
