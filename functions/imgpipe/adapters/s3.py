"""`ObjectStore` (and the ingest extras) over one S3 bucket."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from imgpipe.ports import ObjectHead, ObjectNotFound, ObjectTooLarge, StoredObject

# S3 answers a missing key with one of these, depending on the call (HEAD has no body, so only a status).
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchVersion"})
# A conditional copy whose source has another ETag (the key was overwritten).
_PRECONDITION_CODES = frozenset({"412", "PreconditionFailed"})


def _error_code(error: Any) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class S3ObjectStore:
    """One bucket. `client` is a boto3 S3 client (typed loosely: boto3 ships no type information)."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    def _not_found(self, error: Any) -> bool:
        return _error_code(error) in _NOT_FOUND_CODES

    @staticmethod
    def _head_from(key: str, response: Mapping[str, Any]) -> ObjectHead:
        return ObjectHead(
            key=key,
            size=int(response.get("ContentLength", 0)),
            content_type=response.get("ContentType"),
            etag=(response.get("ETag") or "").strip('"') or None,
            version_id=response.get("VersionId"),
            metadata=dict(response.get("Metadata") or {}),
        )

    def head(self, key: str) -> ObjectHead:
        try:
            response = self._client.head_object(Bucket=self.bucket, Key=key)
        except self._client.exceptions.ClientError as error:
            if self._not_found(error):
                raise ObjectNotFound(key) from None
            raise
        return self._head_from(key, response)

    def get(self, key: str, *, max_bytes: int | None = None) -> StoredObject:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
        except self._client.exceptions.ClientError as error:
            if self._not_found(error):
                raise ObjectNotFound(key) from None
            raise
        head = self._head_from(key, response)
        body = response["Body"]
        try:
            # GetObject returns the length with the headers, so an oversized object is refused before its
            # body is streamed into memory.
            if max_bytes is not None and head.size > max_bytes:
                raise ObjectTooLarge(key, head.size, max_bytes)
            data: bytes = body.read() if max_bytes is None else body.read(max_bytes + 1)
        finally:
            body.close()
        if max_bytes is not None and len(data) > max_bytes:
            raise ObjectTooLarge(key, len(data), max_bytes)
        return StoredObject(head=head, data=data)

    def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str,
        cache_control: str | None = None,
        metadata: Mapping[str, str] | None = None,
        content_disposition: str | None = None,
    ) -> None:
        arguments: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "Body": data,
            "ContentType": content_type,
        }
        if cache_control is not None:
            arguments["CacheControl"] = cache_control
        if metadata:
            arguments["Metadata"] = dict(metadata)
        if content_disposition is not None:
            # Stored with the object, so a `dl` rendition served by the bucket still downloads.
            arguments["ContentDisposition"] = content_disposition
        self._client.put_object(**arguments)

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self.bucket, Key=key)

    # Extras for ingest (ports `ObjectTags`, `ObjectMover`, `ObjectCopier`, `PrefixDeleter`).

    def tags(self, key: str) -> dict[str, str]:
        """The object's tags; raises ObjectNotFound."""
        try:
            response = self._client.get_object_tagging(Bucket=self.bucket, Key=key)
        except self._client.exceptions.ClientError as error:
            if self._not_found(error):
                raise ObjectNotFound(key) from None
            raise
        return {tag["Key"]: tag["Value"] for tag in response.get("TagSet", [])}

    def move(
        self, key: str, new_key: str, *, metadata: Mapping[str, str], if_match: str | None = None
    ) -> None:
        """Copy `key` to `new_key` (within this bucket) with `metadata` added, then delete `key`.

        With `if_match` the copy is conditional on the source's ETag (`CopySourceIfMatch`), so a newer
        object written to `key` meanwhile is never moved in its place. Raises ObjectNotFound when `key` is
        gone or holds another version. Copy-then-delete is not atomic: a crash between the two leaves both
        objects, and repeating the move finishes it.
        """
        try:
            source = self._client.head_object(Bucket=self.bucket, Key=key)
            merged = {**(source.get("Metadata") or {}), **metadata}
            arguments: dict[str, Any] = {
                "Bucket": self.bucket,
                "Key": new_key,
                "CopySource": {"Bucket": self.bucket, "Key": key},
                "MetadataDirective": "REPLACE",
                "Metadata": merged,
                "ContentType": source.get("ContentType") or "application/octet-stream",
                "TaggingDirective": "COPY",
            }
            if if_match:
                arguments["CopySourceIfMatch"] = f'"{if_match.strip(chr(34))}"'
            # CopyObject's size limit is 5 GB, far above any source the engine accepts.
            self._client.copy_object(**arguments)
        except self._client.exceptions.ClientError as error:
            if self._not_found(error) or _error_code(error) in _PRECONDITION_CODES:
                raise ObjectNotFound(key) from None
            raise
        self._client.delete_object(Bucket=self.bucket, Key=key)

    def copy(self, key: str, new_key: str) -> None:
        """Server-side copy within this bucket; content type, cache control and metadata come along."""
        try:
            self._client.copy_object(
                Bucket=self.bucket,
                Key=new_key,
                CopySource={"Bucket": self.bucket, "Key": key},
                MetadataDirective="COPY",
            )
        except self._client.exceptions.ClientError as error:
            if self._not_found(error):
                raise ObjectNotFound(key) from None
            raise

    def list_keys(self, prefix: str) -> list[str]:
        """Every key under `prefix` (paginated)."""
        keys: list[str] = []
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return keys

    def delete_many(self, keys: list[str]) -> None:
        """Delete `keys` in chunks of 1000 (DeleteObjects' limit); missing keys are not an error."""
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            response = self._client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": key} for key in chunk], "Quiet": True},
            )
            errors = response.get("Errors") or []
            if errors:
                first = errors[0]
                raise RuntimeError(
                    f"s3://{self.bucket}/{quote(first.get('Key', ''))}: {first.get('Code')} "
                    f"{first.get('Message')} ({len(errors)} keys not deleted)"
                )
