"""JSON request bodies (and cursors) read within limits, before anything parses them without any.

Python's own `json.loads` fails on hostile input in ways that are not `JSONDecodeError`: nesting a few
thousand deep raises `RecursionError`, an integer of more than 4300 digits raises `ValueError` (the
int-string conversion limit), and a body that is not UTF-8 fails to decode before it is parsed at all.
Each of those is the client's mistake, so each becomes a problem with a 4xx status here: 415 for a body
that is not JSON, 413 for one larger than any request needs, 400 for one that cannot be parsed, 422 for
a number no field can hold.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

from api.problems import ApiProblem

JSON_MEDIA_TYPE = "application/json"
# The largest request body the API has (an upload request: a 200-character file name and three short
# fields) is well under 1 KiB; 16 KiB leaves room for whitespace and never needs streaming.
MAX_BODY_BYTES = 16 * 1024
# Request bodies are flat objects; a cursor is one. Nothing legitimate nests deeper than this.
MAX_DEPTH = 8
# The largest number a field takes is a size in bytes (8 digits); JSON's safe integers have 16.
MAX_NUMBER_DIGITS = 20

# What the limits look at, in one left-to-right pass: escapes (inside strings), quotes, brackets and runs
# of digits. One pass, not a regex for strings: that one backtracks from every quote of an unterminated
# run of escaped quotes, about a second for 16 KiB.
_TOKENS = re.compile(r'\\.|["\[\]{}]|[0-9]+', re.DOTALL)


class JsonRefused(ValueError):
    """The text is not JSON that fits the limits; `kind` says which way (`json_invalid`, `too_deep`,
    `number_too_long`)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def parse_json(text: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """`json.loads` that cannot recurse past `max_depth` or convert an integer past the digit limit, and
    refuses `NaN`/`Infinity` (not JSON). Linear in the text; raises `JsonRefused` only."""
    depth = 0
    in_string = False
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token == '"':
            in_string = not in_string
        elif in_string or token[0] == "\\":
            continue  # a string's content, or an escape (outside a string json.loads refuses it)
        elif token in "[{":
            depth += 1
            if depth > max_depth:
                raise JsonRefused("too_deep")
        elif token in "]}":
            depth -= 1
        elif len(token) > MAX_NUMBER_DIGITS:
            raise JsonRefused("number_too_long")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
        raise JsonRefused("json_invalid") from None


def _refuse_constant(_: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


def header(headers: Mapping[str, Any] | None, name: str) -> str:
    """A request header's value whatever its case ('' when absent)."""
    for key, value in (headers or {}).items():
        if str(key).lower() == name:
            return str(value or "")
    return ""


def check_json_body(content_type: str, body: str | None, *, base64_encoded: bool) -> None:
    """Refuse a request body that is not small UTF-8 JSON (no body at all is the route's business)."""
    if not body:
        return
    media_type, _, parameters = content_type.partition(";")
    media_type = media_type.strip().lower()
    # A body without a Content-Type is read as JSON, as Powertools reads it.
    if media_type not in ("", JSON_MEDIA_TYPE):
        raise ApiProblem(415, "unsupported-media-type", f"send the body as {JSON_MEDIA_TYPE}")
    charset = _charset(parameters)
    if charset not in (None, "utf-8", "utf8"):
        raise ApiProblem(415, "unsupported-media-type", "a JSON body is UTF-8 (RFC 8259)")
    if len(body) > (MAX_BODY_BYTES * 4 // 3 + 4 if base64_encoded else MAX_BODY_BYTES):
        raise ApiProblem(413, "body-too-large", f"a request body has at most {MAX_BODY_BYTES:,} bytes")
    text = body
    if base64_encoded:
        try:
            text = base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
            raise ApiProblem(400, "invalid-json", "the body is not UTF-8 JSON") from None
    if len(text.encode("utf-8", errors="surrogatepass")) > MAX_BODY_BYTES:
        raise ApiProblem(413, "body-too-large", f"a request body has at most {MAX_BODY_BYTES:,} bytes")
    try:
        parse_json(text)
    except JsonRefused as refused:
        if refused.kind == "number_too_long":
            raise ApiProblem(
                422, "invalid-request", f"a number has more than {MAX_NUMBER_DIGITS} digits"
            ) from None
        detail = "the body nests too deep" if refused.kind == "too_deep" else "the body is not valid JSON"
        raise ApiProblem(400, "invalid-json", detail) from None


def _charset(parameters: str) -> str | None:
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None
