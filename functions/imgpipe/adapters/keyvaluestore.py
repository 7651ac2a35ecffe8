"""`EdgeStore` over one CloudFront KeyValueStore (the `cloudfront-keyvaluestore` data-plane API).

The API is signed with SigV4A only: botocore signs it through the AWS CRT (`awscrt`), which the Lambda
runtime's boto3 does not include, so the layer ships it (the `lambda` group of pyproject.toml) and the
dev group has it for the CLI. Without it every call fails with botocore's MissingDependencyException.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from imgpipe.edge_store import StoreConflict, StoreState

_CONFLICT_CODES = frozenset({"ConflictException", "PreconditionFailed", "412", "409"})


def sigv4a_available() -> bool:
    """Whether botocore can sign a KeyValueStore request here (the CRT is importable)."""
    try:
        import awscrt.auth  # type: ignore[import-untyped,unused-ignore]  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def _error_code(error: Any) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _state(response: Mapping[str, Any], status: str = "READY") -> StoreState:
    return StoreState(
        etag=str(response["ETag"]),
        status=str(response.get("Status") or status),
        item_count=int(response.get("ItemCount") or 0),
        total_bytes=int(response.get("TotalSizeInBytes") or 0),
    )


class CloudFrontKeyValueStore:
    """`client` is a boto3 `cloudfront-keyvaluestore` client; `arn` the store's ARN."""

    def __init__(self, client: Any, arn: str) -> None:
        self._client = client
        self.arn = arn

    def describe(self) -> StoreState:
        try:
            return _state(self._client.describe_key_value_store(KvsARN=self.arn))
        except self._client.exceptions.ClientError as error:
            if _error_code(error) in _CONFLICT_CODES:
                raise StoreConflict(str(error)) from error
            raise

    def get(self, key: str) -> str | None:
        """One item's value, None when the store has no such key (`imgpipe keys list` compares it)."""
        try:
            return str(self._client.get_key(KvsARN=self.arn, Key=key)["Value"])
        except self._client.exceptions.ClientError as error:
            if _error_code(error) == "ResourceNotFoundException":
                return None
            raise

    def update_keys(self, etag: str, puts: Mapping[str, str], deletes: Collection[str]) -> StoreState:
        request: dict[str, Any] = {"KvsARN": self.arn, "IfMatch": etag}
        if puts:
            request["Puts"] = [{"Key": key, "Value": value} for key, value in sorted(puts.items())]
        if deletes:
            request["Deletes"] = [{"Key": key} for key in sorted(deletes)]
        try:
            return _state(self._client.update_keys(**request))
        except self._client.exceptions.ClientError as error:
            if _error_code(error) in _CONFLICT_CODES:
                raise StoreConflict(str(error)) from error
            raise
