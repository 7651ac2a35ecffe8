"""The management API's S3 needs: presigned uploads and downloads, and exports written by multipart upload."""

from __future__ import annotations

from typing import Any

# S3's floor for every part but the last is 5 MiB; 8 MiB parts keep a 2 GB export under 300 parts while
# holding at most one part in memory.
DEFAULT_PART_SIZE = 8 * 1024 * 1024
MIN_PART_SIZE = 5 * 1024 * 1024


class S3UploadSigner:
    """`client` is a boto3 S3 client; its credentials sign (the function role's, in AWS)."""

    def __init__(self, client: Any, *, originals_bucket: str, exports_bucket: str) -> None:
        self._client = client
        self.originals_bucket = originals_bucket
        self.exports_bucket = exports_bucket

    def presign_post(
        self, key: str, *, content_type: str, max_bytes: int, expires_in: int
    ) -> tuple[str, dict[str, str]]:
        post = self._client.generate_presigned_post(
            Bucket=self.originals_bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            # boto3 adds the key and the signature fields; these two make S3 refuse any other size or type.
            Conditions=[
                {"Content-Type": content_type},
                ["content-length-range", 1, max_bytes],
            ],
            ExpiresIn=expires_in,
        )
        return str(post["url"]), {str(name): str(value) for name, value in post["fields"].items()}

    def presign_get(self, key: str, *, filename: str, expires_in: int) -> str:
        return str(
            self._client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.exports_bucket,
                    "Key": key,
                    "ResponseContentDisposition": f'attachment; filename="{filename}"',
                },
                ExpiresIn=expires_in,
            )
        )


class S3MultipartSink:
    """One object written part by part: nothing is visible until `close()` completes the upload."""

    def __init__(self, client: Any, bucket: str, key: str, *, content_type: str, part_size: int) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"S3 parts other than the last need at least {MIN_PART_SIZE} bytes")
        self._client = client
        self.bucket = bucket
        self.key = key
        self._part_size = part_size
        self._buffer = bytearray()
        self._parts: list[dict[str, Any]] = []
        response = client.create_multipart_upload(Bucket=bucket, Key=key, ContentType=content_type)
        self.upload_id: str = response["UploadId"]

    def write(self, data: bytes) -> int:
        self._buffer.extend(data)
        while len(self._buffer) >= self._part_size:
            self._send(bytes(self._buffer[: self._part_size]))
            del self._buffer[: self._part_size]
        return len(data)

    def _send(self, body: bytes) -> None:
        number = len(self._parts) + 1
        response = self._client.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=body
        )
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})

    def close(self) -> None:
        if self._buffer or not self._parts:
            self._send(bytes(self._buffer))
            self._buffer.clear()
        self._client.complete_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": self._parts}
        )

    def abort(self) -> None:
        self._client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)

    @property
    def parts(self) -> int:
        return len(self._parts)


class S3ExportStore:
    def __init__(self, client: Any, bucket: str, *, part_size: int = DEFAULT_PART_SIZE) -> None:
        self._client = client
        self.bucket = bucket
        self.part_size = part_size

    def open(self, key: str, *, content_type: str) -> S3MultipartSink:
        return S3MultipartSink(
            self._client, self.bucket, key, content_type=content_type, part_size=self.part_size
        )
