"""HMAC-SHA256 URL signatures over the canonical path and query, with key rotation and expiry."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from enum import StrEnum
from secrets import token_bytes

SECRET_BYTES = 32
# SHA-256 is 32 bytes, which URL-safe base64 writes as exactly 43 characters once padding is dropped.
_SIGNATURE = re.compile(r"[A-Za-z0-9_-]{43}")


class SignatureVerdict(StrEnum):
    VALID = "valid"
    MISSING = "missing"
    INVALID = "invalid"
    EXPIRED = "expired"


def _signed_text(path: str, canonical_query: str) -> bytes:
    return (f"{path}?{canonical_query}" if canonical_query else path).encode("utf-8")


def sign(path: str, canonical_query: str, secret: bytes) -> str:
    """The signature for `path` (from `canonical_path`) and `canonical_query` (from `spec.canonical()`)."""
    if not secret:
        raise ValueError("a signing secret must not be empty")
    digest = hmac.new(secret, _signed_text(path, canonical_query), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verify(
    path: str,
    canonical_query: str,
    signature: str | None,
    secrets: Sequence[bytes],
    exp: int | None,
    now: float,
) -> SignatureVerdict:
    """Judge a request's signature against every active secret; never raises on what the client sent.

    Expiry is judged only after the signature, so an unsigned or forged URL cannot learn whether its
    `exp` would have passed.
    """
    if signature is None:
        return SignatureVerdict.MISSING
    if not _SIGNATURE.fullmatch(signature):
        return SignatureVerdict.INVALID
    offered = signature.encode("ascii")
    # Every secret is compared, even after a match, so the time taken does not reveal which key signed.
    matches = [
        hmac.compare_digest(sign(path, canonical_query, secret).encode("ascii"), offered)
        for secret in secrets
        if secret
    ]
    if not any(matches):
        return SignatureVerdict.INVALID
    if exp is not None and now >= exp:
        return SignatureVerdict.EXPIRED
    return SignatureVerdict.VALID


def generate_secret() -> bytes:
    """A new random signing secret."""
    return token_bytes(SECRET_BYTES)
