"""Browser uploads by presigned POST: the conditions production uses, and a local check of them.

`upload_conditions` is what a presigned upload allows: exactly one key, the declared content type, and
1 byte to the ingest limit. moto accepts any POST without reading its policy, so the dev server receives
the form itself, checks signature, expiry and every condition the way S3 does (same error codes), and
only then writes the object into the embedded S3.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.config import Config  # type: ignore[import-untyped]

PRESIGNED_POST_SECONDS = 900
GENERIC_CONTENT_TYPE = "application/octet-stream"
# Form fields S3 never checks against the policy.
_UNCHECKED_FIELDS = frozenset({"policy", "x-amz-signature", "file"})


def upload_conditions(content_type: str, max_bytes: int) -> list[Any]:
    """The POST policy conditions of one upload (boto3 adds the bucket and key conditions itself)."""
    return [{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]]


def presigning_client(session: Any) -> Any:
    """An S3 client that signs POST policies with SigV4 (boto3 falls back to SigV2 for some endpoints)."""
    return session.client("s3", config=Config(signature_version="s3v4"))


def presigned_post(
    s3: Any,
    bucket: str,
    key: str,
    *,
    content_type: str,
    max_bytes: int,
    expires_in: int = PRESIGNED_POST_SECONDS,
) -> dict[str, Any]:
    """`{"url": ..., "fields": {...}}` from S3's own presigner; give it a `presigning_client` (SigV4)."""
    post: dict[str, Any] = s3.generate_presigned_post(
        Bucket=bucket,
        Key=key,
        Fields={"Content-Type": content_type},
        Conditions=upload_conditions(content_type, max_bytes),
        ExpiresIn=expires_in,
    )
    return post


@dataclass
class PostRefused(Exception):
    """S3's answer to a POST that breaks its policy."""

    status: int
    code: str
    message: str

    def xml(self) -> bytes:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{self.code}</Code><Message>{_xml_text(self.message)}</Message></Error>"
        ).encode()


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def _signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    key = _hmac(("AWS4" + secret_key).encode("utf-8"), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


def _denied(message: str) -> PostRefused:
    return PostRefused(403, "AccessDenied", message)


def check_post(
    fields: Mapping[str, str],
    size: int,
    *,
    bucket: str,
    secret_key: str,
    now: datetime | None = None,
) -> None:
    """Raise PostRefused unless the form (`fields`, without the file) and the file size satisfy the policy."""
    form = {name.lower(): value for name, value in fields.items()}
    encoded = form.get("policy")
    signature = form.get("x-amz-signature")
    credential = form.get("x-amz-credential", "")
    if not encoded or not signature or form.get("x-amz-algorithm") != "AWS4-HMAC-SHA256":
        raise PostRefused(400, "InvalidArgument", "POST requires a SigV4 policy, credential and signature")
    parts = credential.split("/")
    if len(parts) != 5:
        raise PostRefused(400, "InvalidArgument", "malformed x-amz-credential")
    _, date, region, service, _ = parts
    expected = hmac.new(
        _signing_key(secret_key, date, region, service), encoded.encode("ascii"), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise _denied("The request signature we calculated does not match the signature you provided.")
    try:
        policy = json.loads(base64.b64decode(encoded))
        expiration = datetime.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        conditions = list(policy["conditions"])
    except (ValueError, KeyError, TypeError):
        raise PostRefused(400, "InvalidPolicyDocument", "the policy is not a valid POST policy") from None
    if (now or datetime.now(UTC)) >= expiration:
        raise _denied("Invalid according to Policy: Policy expired.")

    covered: set[str] = set()
    for condition in conditions:
        if isinstance(condition, dict):
            for name, value in condition.items():
                _check(form, bucket, "eq", name, str(value))
                covered.add(name.lower())
        elif isinstance(condition, list) and len(condition) == 3 and condition[0] == "content-length-range":
            low, high = int(condition[1]), int(condition[2])
            if size > high:
                raise PostRefused(
                    400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size"
                )
            if size < low:
                raise PostRefused(
                    400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size"
                )
        elif isinstance(condition, list) and len(condition) == 3:
            operator, name, value = (str(item) for item in condition)
            name = name.removeprefix("$")
            _check(form, bucket, operator.lower(), name, value)
            covered.add(name.lower())
        else:
            raise PostRefused(400, "InvalidPolicyDocument", f"unknown condition {condition!r}")
    extra = [
        name
        for name in form
        if name not in covered
        and name not in _UNCHECKED_FIELDS
        and not name.startswith("x-ignore-")
        and name != "bucket"
    ]
    if extra:
        raise _denied(f"Invalid according to Policy: Extra input fields: {extra[0]}")


def _check(form: Mapping[str, str], bucket: str, operator: str, name: str, value: str) -> None:
    actual = bucket if name.lower() == "bucket" else form.get(name.lower())
    if actual is None:
        raise _denied(
            f'Invalid according to Policy: Policy Condition failed: ["{operator}", "${name}", "{value}"]'
        )
    if operator == "eq" and actual == value:
        return
    if operator == "starts-with" and actual.startswith(value):
        return
    raise _denied(
        f'Invalid according to Policy: Policy Condition failed: ["{operator}", "${name}", "{value}"]'
    )


@dataclass(frozen=True)
class FormPart:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


def parse_multipart(content_type: str, body: bytes) -> list[FormPart]:
    """multipart/form-data → parts (the stdlib's `cgi` is gone from newer Pythons)."""
    boundary = ""
    for piece in content_type.split(";")[1:]:
        name, _, value = piece.strip().partition("=")
        if name.lower() == "boundary":
            boundary = value.strip('"')
    if not boundary:
        raise PostRefused(400, "MalformedPOSTRequest", "multipart/form-data without a boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    parts: list[FormPart] = []
    for raw in body.split(delimiter)[1:]:
        if raw.startswith(b"--"):
            break
        head, separator, data = raw.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not separator:
            raise PostRefused(400, "MalformedPOSTRequest", "a form part has no header block")
        data = data.removesuffix(b"\r\n")
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        params: dict[str, str] = {}
        for piece in disposition.split(";")[1:]:
            key, _, value = piece.strip().partition("=")
            params[key.lower()] = value.strip('"')
        parts.append(
            FormPart(
                name=params.get("name", ""),
                filename=params.get("filename"),
                content_type=headers.get("content-type"),
                data=data,
            )
        )
    return parts
