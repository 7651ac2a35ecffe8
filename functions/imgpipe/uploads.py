"""Pure rules about upload keys and ingest identities: tenants, batches, ordering, ids and names.

No AWS and no environment: the ingest service, the local runtime and the API share these so that, for
example, "is this a batch upload" has one answer everywhere.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

from imgpipe.core import ImageInfo, SpecError, TransformSpec
from imgpipe.core.keys import validate_key
from infra.constants import (
    BATCH_PATH_SEGMENT,
    BATCHES_PREFIX,
    QUARANTINE_PREFIX,
    SOURCE_PREFIXES,
    UPLOADS_PREFIX,
)

_BATCH_SEGMENT = BATCH_PATH_SEGMENT.rstrip("/")
# Tenant and batch ids end up in DynamoDB keys (`TENANT#...`) and URLs: keep them to a safe alphabet.
_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
# S3 sequencers are hex of varying length; right-padding to one width makes text order equal event order.
_SEQUENCER_WIDTH = 32
_HEX = re.compile(r"[0-9A-Fa-f]+")


class InvalidUploadKey(ValueError):
    """The key is not `uploads/{tenant}/{name}` or `batches/{tenant}/{batch}/{name}` with safe ids."""


@dataclass(frozen=True)
class UploadKey:
    key: str
    tenant: str
    batch_id: str | None
    name: str  # the path below the tenant (or below the batch), e.g. `holiday/beach.jpg`

    @classmethod
    def parse(cls, key: str) -> UploadKey:
        """`uploads/{tenant}/{name}` (an interactive upload), `batches/{tenant}/{batch}/{name}` (a batch
        member, the bulk lane's work) or the older batch form `uploads/{tenant}/batches/{batch}/{name}`
        (still a batch member; S3 notifies the interactive lane of it, which now processes it itself)."""
        if not key.startswith(SOURCE_PREFIXES):
            raise InvalidUploadKey(f"{key!r} is not under {UPLOADS_PREFIX!r} or {BATCHES_PREFIX!r}")
        try:
            validate_key(key)
        except SpecError as error:
            raise InvalidUploadKey(error.message) from None
        if key.startswith(BATCHES_PREFIX):
            parts = key[len(BATCHES_PREFIX) :].split("/")
            if len(parts) < 3:
                raise InvalidUploadKey(
                    f"{key!r} names no batch: expected {BATCHES_PREFIX}{{tenant}}/{{batch}}/{{name}}"
                )
            tenant = _tenant(parts[0])
            return cls(key=key, tenant=tenant, batch_id=_batch(parts[1]), name="/".join(parts[2:]))
        parts = key[len(UPLOADS_PREFIX) :].split("/")
        if len(parts) < 2:
            raise InvalidUploadKey(f"{key!r} names no tenant: expected {UPLOADS_PREFIX}{{tenant}}/{{name}}")
        tenant = _tenant(parts[0])
        if len(parts) >= 4 and parts[1] == _BATCH_SEGMENT:
            return cls(key=key, tenant=tenant, batch_id=_batch(parts[2]), name="/".join(parts[3:]))
        return cls(key=key, tenant=tenant, batch_id=None, name="/".join(parts[1:]))


def _tenant(tenant: str) -> str:
    if not _ID.fullmatch(tenant):
        raise InvalidUploadKey(f"tenant {tenant!r} is not 1-128 characters A-Z a-z 0-9 . _ -")
    return tenant


def _batch(batch_id: str) -> str:
    if not _ID.fullmatch(batch_id):
        raise InvalidUploadKey(f"batch {batch_id!r} is not 1-128 characters A-Z a-z 0-9 . _ -")
    return batch_id


def batch_key_prefix(tenant: str, batch_id: str) -> str:
    """Where the members of a batch are uploaded: `batches/{tenant}/{batch}/` (the bulk lane's prefix)."""
    return f"{BATCHES_PREFIX}{tenant}/{batch_id}/"


def tenant_of(key: str) -> str:
    """The tenant segment of a source key (no validation; for keys that did not parse)."""
    for prefix in SOURCE_PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix) :].split("/", 1)[0]
    return ""


def quarantine_key(source_key: str) -> str:
    """`uploads/t/a.jpg` → `quarantine/t/a.jpg` (same bucket; the tenant path stays readable); a batch
    member `batches/t/b/a.jpg` → `quarantine/t/batches/b/a.jpg`, so it never meets `uploads/t/b/a.jpg`."""
    if source_key.startswith(UPLOADS_PREFIX):
        return QUARANTINE_PREFIX + source_key[len(UPLOADS_PREFIX) :]
    if source_key.startswith(BATCHES_PREFIX):
        tenant, _, rest = source_key[len(BATCHES_PREFIX) :].partition("/")
        return f"{QUARANTINE_PREFIX}{tenant}/{BATCH_PATH_SEGMENT}{rest}"
    return QUARANTINE_PREFIX + source_key


def order_token(sequencer: str | None, event_time: datetime | None, etag: str | None = None) -> str:
    """A text that sorts like the events of one key happened.

    With S3's `sequencer` (hex, varying length) it is that value upper-cased and right-padded with zeros, as
    AWS documents for comparing two sequencers. moto (and so `imgpipe dev`) sends none: then the event
    time in microseconds stands in, with the ETag as a tie-breaker so two different objects written in the
    same millisecond are still two events.
    """
    if sequencer and _HEX.fullmatch(sequencer):
        return sequencer.upper().ljust(_SEQUENCER_WIDTH, "0")
    micros = int(event_time.timestamp() * 1_000_000) if event_time is not None else 0
    token = f"{micros:016X}".ljust(_SEQUENCER_WIDTH, "0")
    return f"{token}-{etag}" if etag else token


def image_id(source_key: str, token: str) -> str:
    """One id per object version: the same event always maps to the same id (idempotent retries)."""
    digest = hashlib.sha256(f"{source_key}\n{token}".encode()).digest()
    return "img_" + base64.b32encode(digest).decode("ascii").lower().rstrip("=")[:26]


def is_rendition_key(source_key: str, key: str) -> bool:
    """True when `key` (in the transformed bucket) is a rendition of `source_key`, not of a longer key.

    Source `a.jpg` and source `a.jpg/b.png` share the listing prefix `a.jpg/`; only a remainder that is
    itself a canonical variant query belongs to `a.jpg`.
    """
    prefix = source_key + "/"
    if not key.startswith(prefix):
        return False
    remainder = key[len(prefix) :]
    try:
        spec = TransformSpec.parse(remainder, presets={})
        return spec.fm != "auto" and spec.variant_query() == remainder
    except (SpecError, ValueError):
        return False


def derived_tags(info: ImageInfo) -> list[str]:
    """Tags the facts justify (shape, animation, transparency, camera); a vision port can add more."""
    if info.width > info.height * 1.05:
        shape = "landscape"
    elif info.height > info.width * 1.05:
        shape = "portrait"
    else:
        shape = "square"
    tags = [shape, info.format]
    if info.animated:
        tags.append("animated")
    if info.has_alpha:
        tags.append("transparent")
    if info.camera:
        tags.append("photo")
    return tags
