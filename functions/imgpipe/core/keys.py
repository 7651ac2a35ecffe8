"""Object keys: the source key a delivery URL names, and the key a rendition is stored under.

A key reaches S3, log lines, file names in exports and (through `mark`) the render of another image, so
anything a path-handling layer could reinterpret is refused here rather than trusted downstream.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote_to_bytes

from imgpipe.core.errors import SpecError

if TYPE_CHECKING:
    from imgpipe.core.spec import TransformSpec

MAX_KEY_BYTES = 1024  # S3's own ceiling for an object key, counted in UTF-8 bytes

# An encoded separator would survive as a literal "/" or "\" in the key while the URL showed one segment,
# which is how traversal slips past path checks.
_ENCODED_SEPARATOR = re.compile(r"%(?:2f|5c)", re.IGNORECASE)
# "%" must introduce exactly two hex digits; anything else has no single decoding and so no single key.
_BROKEN_ESCAPE = re.compile(r"%(?![0-9a-fA-F]{2})")


def validate_key(key: str, param: str = "key") -> str:
    """Check an already decoded object key and return it unchanged; `param` names it in the error."""
    if not key:
        raise SpecError(param, "the key is empty")
    if len(key.encode("utf-8", errors="surrogatepass")) > MAX_KEY_BYTES:
        raise SpecError(param, f"the key is longer than {MAX_KEY_BYTES} bytes of UTF-8")
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in key):
        raise SpecError(param, "the key contains a control character")
    if "\\" in key:
        # Some tools treat a backslash as a separator, which would turn `..\` into a parent step.
        raise SpecError(param, "the key contains a backslash")
    if key.startswith("/"):
        raise SpecError(param, "the key starts with '/'")
    for segment in key.split("/"):
        if segment == "":
            raise SpecError(param, "the key has an empty segment ('//' or a trailing '/')")
        if segment in (".", ".."):
            raise SpecError(param, f"the key has a {segment!r} segment")
    return key


def source_key_from_path(raw_path: str) -> str:
    """The object key named by a delivery URL path such as `/photos/my%20cat.jpg`.

    The path is percent-decoded exactly once, as UTF-8; `+` stays a plus sign because only query strings
    use it for spaces.
    """
    encoded = raw_path[1:] if raw_path.startswith("/") else raw_path
    if not encoded:
        raise SpecError("key", "the path names no image")
    if _ENCODED_SEPARATOR.search(encoded):
        raise SpecError("key", "the path contains an encoded '/' or '\\' (%2F or %5C)")
    if _BROKEN_ESCAPE.search(encoded):
        raise SpecError("key", "the path contains a '%' that is not followed by two hex digits")
    try:
        key = unquote_to_bytes(encoded).decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError("key", "the path does not decode to UTF-8 text") from None
    return validate_key(key)


def canonical_path(source_key: str) -> str:
    """The one URL path for a key: what a signature covers and what `source_key_from_path` reverses."""
    return "/" + quote(source_key, safe="/")


def variant_key(source_key: str, spec: TransformSpec) -> str:
    """The object key of one stored rendition; `spec` must name a concrete format."""
    return f"{source_key}/{spec.variant_query()}"
