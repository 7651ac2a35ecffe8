"""Delivery requests: the edge's rules in Python, and the checks the origin repeats.

`at_edge` is the Python twin of the CloudFront Function (`functions/edge/viewer_request.js`): it reads a
viewer request, refuses what is bad (400), not allowed (403) or not an original (404), chooses the
output format for `fm=auto` and names the stored rendition the request maps to. Both run over
`tests/vectors/delivery.json`, so they cannot drift. `at_origin` is what the resize Lambda does with the
request the edge forwarded: it trusts nothing, parses and verifies again, and checks that the object key
it was sent to is the one the request names. `negotiated_by_query` and `vary_with_accept` are the twin of
the viewer-response function (`functions/edge/viewer_response.js`), which adds the `Vary: Accept` the
transformed bucket cannot store.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final, Literal, get_args
from urllib.parse import unquote

from imgpipe.core.errors import SpecError
from imgpipe.core.keys import canonical_path, source_key_from_path, validate_key, variant_key
from imgpipe.core.models import OutputFormat
from imgpipe.core.negotiate import negotiate
from imgpipe.core.signing import SignatureVerdict, verify
from imgpipe.core.spec import DEFAULT_PRESETS, TransformSpec
from infra.constants import SOURCE_PREFIXES

SigningPolicy = Literal["required", "presets-unsigned", "off"]
SIGNING_POLICIES: Final[tuple[SigningPolicy, ...]] = get_args(SigningPolicy)
DEFAULT_SIGNING_POLICY: Final[SigningPolicy] = "presets-unsigned"
OUTPUT_FORMATS: Final[tuple[OutputFormat, ...]] = get_args(OutputFormat)

# The edge cannot see the image, so for `fm=auto` it judges alpha and animation from the key's extension:
# formats that can carry alpha fall back to PNG (not JPEG) for browsers without AVIF/WebP, and GIF
# sources follow the animated rule (WebP, else GIF). The resize Lambda renders the format it is sent.
ALPHA_EXTENSIONS: Final = frozenset(
    {"png", "apng", "webp", "avif", "heic", "heif", "tif", "tiff", "jxl", "bmp"}
)
ANIMATED_EXTENSIONS: Final = frozenset({"gif"})

# Errors are short-lived: a missing source may be uploaded a minute later; signature and timing
# verdicts depend on the clock and the active keys, so they are not stored anywhere.
ERROR_MAX_AGE: Final = 60
_CACHED_ERRORS: Final = frozenset({400, 404, 413, 415, 422})
PROBLEM_TYPE_PREFIX: Final = "urn:imgpipe:problem:"

_SIGNING_KEY_TEXT = re.compile(r"[\x21-\x7e]{16,256}")

# Under `presets-unsigned` an unsigned request may vary a named preset only over a small closed set, so
# nobody can multiply unsigned renders (and stored objects) by inventing values: the output format (any
# `fm`) and the device pixel ratio on this ladder (or the preset's own). `v`, `dl`, `exp`, any other `dpr`
# and every look parameter need a signature.
UNSIGNED_DPR_LADDER: Final = (1.0, 2.0, 3.0)
UNSIGNED_VARIES: Final = frozenset({"fm", "dpr"})


def stored_signing_policy(value: object) -> SigningPolicy:
    """The policy the edge applies for what its store holds: a missing, unreadable or unknown value
    means `required` (the edge fails closed, never open)."""
    for policy in SIGNING_POLICIES:
        if value == policy:
            return policy
    return "required"


def source_is_original(source_key: str) -> bool:
    """True for a key under `uploads/` or `batches/` (batch members): a delivery URL names an original,
    never an internal object.

    The transformed bucket holds renditions at `{source key}/{rendition query}` beside mezzanines
    (`mezzanine/...`) and exports (`exports/...`); with every source under `uploads/` or `batches/`,
    every rendition key starts with one of them too, so no URL can map onto an object under another
    prefix (the two never overlap the internal ones).
    """
    return source_key.startswith(SOURCE_PREFIXES)


NOT_AN_ORIGINAL: Final = (
    "there is no image under this key (delivery serves originals under uploads/ and batches/ only)"
)


@dataclass(frozen=True)
class Problem:
    """An RFC 9457 problem: the body of every refusal, at the edge and at the origin."""

    status: int
    code: str
    detail: str
    param: str | None = None
    reason: str | None = None  # the engine's rejection code (`imgpipe.core.RejectionReason`), when one

    @property
    def title(self) -> str:
        return HTTPStatus(self.status).phrase

    def document(self) -> dict[str, object]:
        body: dict[str, object] = {
            "type": PROBLEM_TYPE_PREFIX + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.param is not None:
            body["param"] = self.param
        if self.reason is not None:
            body["reason"] = self.reason
        return body

    def body(self) -> bytes:
        return json.dumps(self.document(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    @property
    def cache_control(self) -> str:
        return f"public, max-age={ERROR_MAX_AGE}" if self.status in _CACHED_ERRORS else "no-store"


class Refused(Exception):
    """A request that ends here with `problem` (raised for bad input; never a 500)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(f"{problem.status} {problem.code}: {problem.detail}")
        self.problem = problem


def bad_parameter(error: SpecError) -> Refused:
    return Refused(Problem(400, "bad-parameter", error.message, error.param))


def parse_signing_keys(document: str | Mapping[str, object]) -> tuple[bytes, ...]:
    """The secrets of a signing-key document, `{"key id": "secret", ...}` (JSON text or parsed).

    A secret is printable ASCII of 16 to 256 characters and its ASCII bytes are the HMAC key, so the
    edge (JavaScript), the Lambda and the SDKs read one document the same way.
    """
    parsed = json.loads(document) if isinstance(document, str) else document
    if not isinstance(parsed, Mapping):
        raise ValueError("a signing-key document is a JSON object of key id -> secret")
    secrets: list[bytes] = []
    for key_id, secret in parsed.items():
        if not isinstance(secret, str) or not _SIGNING_KEY_TEXT.fullmatch(secret):
            raise ValueError(f"signing key {key_id!r} must be 16 to 256 printable ASCII characters")
        secrets.append(secret.encode("ascii"))
    return tuple(secrets)


def _extension(source_key: str) -> str:
    name = source_key.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def edge_format(accept: str | None, source_key: str) -> OutputFormat:
    """The format `fm=auto` becomes at the edge: AVIF > WebP > JPEG/PNG by `Accept`, alpha-aware by name."""
    extension = _extension(source_key)
    return negotiate(
        accept, has_alpha=extension in ALPHA_EXTENSIONS, animated=extension in ANIMATED_EXTENSIONS
    )


def preset_alone(spec: TransformSpec, presets: Mapping[str, str]) -> TransformSpec | None:
    """The preset `spec` names, with nothing added (None when it names none, or one the stage lacks)."""
    if spec.preset is None:
        return None
    try:
        return TransformSpec.parse(f"preset={spec.preset}", presets)
    except SpecError:
        return None


def unsigned_preset(spec: TransformSpec, presets: Mapping[str, str]) -> TransformSpec | None:
    """The preset `spec` names (expanded, nothing added) when `spec` asks for that preset's picture, varied at
    most over the closed set an unsigned request may choose from: any output format and a `dpr` on
    UNSIGNED_DPR_LADDER; otherwise None.

    The rule judges the result, not the spelling, so the edge (which sees the viewer's query), the origin
    (which receives the canonical request with the preset expanded) and the SDKs agree: restating a
    preset's own value changes nothing, and `v`, `dl`, `exp` or any look parameter that differs from the
    preset's needs a signature.
    """
    base = preset_alone(spec, presets)
    if base is None:
        return None
    if spec.dpr != base.dpr and spec.dpr not in UNSIGNED_DPR_LADDER:
        return None
    same = all(
        getattr(spec, name) == getattr(base, name)
        for name in TransformSpec.model_fields
        if name not in UNSIGNED_VARIES and name not in ("preset", "s")
    )
    return base if same else None


def preset_equivalent(spec: TransformSpec, presets: Mapping[str, str]) -> bool:
    """True when `spec` may go unsigned under `presets-unsigned` (`unsigned_preset`)."""
    return unsigned_preset(spec, presets) is not None


def authorize(
    path: str,
    spec: TransformSpec,
    policy: SigningPolicy,
    secrets: Sequence[bytes],
    now: float,
    *,
    preset_only: bool,
) -> SignatureVerdict | None:
    """Apply the signing policy; returns the verdict (None under `off`) or raises Refused (403).

    `preset_only` says whether the request may go unsigned under `presets-unsigned`
    (`preset_equivalent`).
    """
    if policy == "off":
        return None
    verdict = verify(path, spec.canonical(), spec.s, secrets, spec.exp, now)
    if verdict is SignatureVerdict.VALID:
        return verdict
    if verdict is SignatureVerdict.MISSING and policy == "presets-unsigned" and preset_only:
        if spec.exp is not None and now >= spec.exp:
            raise Refused(Problem(403, "expired", "the URL expired", "exp"))
        return verdict
    if verdict is SignatureVerdict.MISSING:
        detail = (
            "a signature is required for this request; a named preset may go unsigned with only fm and a dpr"
            " of 1, 2 or 3"
        )
        if policy == "required":
            detail = "a signature is required for every request"
        raise Refused(Problem(403, "signature-required", detail, "s"))
    if verdict is SignatureVerdict.EXPIRED:
        raise Refused(Problem(403, "expired", "the URL expired", "exp"))
    raise Refused(Problem(403, "signature-invalid", "the signature does not match the request", "s"))


@dataclass(frozen=True)
class Delivery:
    """One accepted request: the source, the transformation asked for and the format it is served in."""

    source_key: str
    spec: TransformSpec  # as requested: `fm` may be "auto"; `exp` and `s` as given
    format: OutputFormat
    verdict: SignatureVerdict | None = None
    # The preset alone when the request is that preset's picture (it may go unsigned), else None.
    unsigned_preset: TransformSpec | None = None

    @property
    def preset_only(self) -> bool:
        return self.unsigned_preset is not None

    @property
    def negotiated(self) -> bool:
        return self.spec.fm == "auto"

    @property
    def rendition(self) -> TransformSpec:
        return self.spec.with_format(self.format)

    @property
    def object_key(self) -> str:
        """The key of the stored rendition in the transformed bucket."""
        return variant_key(self.source_key, self.rendition)

    @property
    def origin_path(self) -> str:
        """The URI the edge rewrites the request to (the object key, percent-encoded)."""
        return canonical_path(self.object_key)

    @property
    def origin_query(self) -> str:
        """The query the edge forwards: the canonical request, the preset's name and the signature.

        The name lets the origin apply the unsigned-preset rule to a request whose preset is expanded.
        """
        parts = [self.spec.canonical()]
        if self.spec.preset is not None:
            parts.append(f"preset={self.spec.preset}")
        if self.spec.s is not None:
            parts.append(f"s={self.spec.s}")
        return "&".join(part for part in parts if part)

    @property
    def viewer_query(self) -> str:
        """A viewer query the edge maps to this same rendition and accepts under the same policy."""
        return viewer_query(self.spec, preset_base=self.unsigned_preset)

    @property
    def viewer_url(self) -> str:
        """The viewer URL (path and query) of this request: where a redirect sends a client."""
        query = self.viewer_query
        return canonical_path(self.source_key) + (f"?{query}" if query else "")


def viewer_query(spec: TransformSpec, *, preset_base: TransformSpec | None = None) -> str:
    """The query of a viewer URL for `spec`: what the SDKs write and a redirect repeats.

    A signed request is its canonical query and signature (the signature covers exactly that). An unsigned
    request for a preset's picture (`preset_base` is that preset alone, given when `preset_equivalent`
    held) is spelled as the preset plus the unsigned variations that differ from the preset's own values,
    so the edge still sees a request it may serve unsigned; a variation is written even at its global
    default (`dpr=1` on a preset with its own dpr), since the edge expands the preset first and an omitted
    parameter means the preset's value. Anything else is its canonical query.
    """
    if spec.s is None and preset_base is not None and spec.preset is not None:
        varied = [
            name for name in sorted(UNSIGNED_VARIES) if getattr(spec, name) != getattr(preset_base, name)
        ]
        return "&".join([f"preset={spec.preset}", *(spec.param_pair(name) for name in varied)])
    query = spec.canonical()
    if spec.s is not None:
        query = f"{query}&s={spec.s}" if query else f"s={spec.s}"
    return query


def read_request(raw_path: str, raw_query: str, presets: Mapping[str, str]) -> tuple[str, TransformSpec]:
    """The source key and spec of a viewer URL; raises Refused (400) naming the bad parameter, or (404)
    for a key outside `uploads/` (judged before the query: no URL names an internal object)."""
    try:
        source_key = source_key_from_path(raw_path)
    except SpecError as error:
        raise bad_parameter(error) from None
    if not source_is_original(source_key):
        raise Refused(Problem(404, "no-source", NOT_AN_ORIGINAL, "key"))
    try:
        spec = TransformSpec.parse(raw_query, presets)
    except SpecError as error:
        raise bad_parameter(error) from None
    return source_key, spec


def at_edge(
    raw_path: str,
    raw_query: str,
    accept: str | None,
    *,
    policy: SigningPolicy | str | None,
    secrets: Sequence[bytes],
    presets: Mapping[str, str] = DEFAULT_PRESETS,
    now: float,
) -> Delivery:
    """What the CloudFront Function does with a viewer request (raises Refused with 400, 403 or 404).

    `policy` is what the edge's store holds (`stored_signing_policy` reads it: anything but a known
    policy requires a signature). The key is judged before the query, as the function does.
    """
    source_key, spec = read_request(raw_path, raw_query, presets)
    base = unsigned_preset(spec, presets)
    verdict = authorize(
        canonical_path(source_key),
        spec,
        stored_signing_policy(policy),
        secrets,
        now,
        preset_only=base is not None,
    )
    fmt: OutputFormat = spec.fm if spec.fm != "auto" else edge_format(accept, source_key)
    return Delivery(source_key=source_key, spec=spec, format=fmt, verdict=verdict, unsigned_preset=base)


def _forwarded_spec(raw_query: str, presets: Mapping[str, str]) -> TransformSpec:
    """The request the edge forwards: its canonical query, with the preset already expanded, plus the
    preset's name. The name is not expanded again: the canonical form leaves defaults out, so expanding it
    would bring back a preset value the viewer overrode with a default (`dpr=1` on a preset with its own
    dpr). It is kept, checked against the stage's presets, for the unsigned-preset rule alone."""
    pairs = [pair for pair in raw_query.split("&") if pair]
    named = [pair for pair in pairs if pair.partition("=")[0] == "preset"]
    if len(named) > 1:
        raise SpecError("preset", "given more than once")
    spec = TransformSpec.parse("&".join(pair for pair in pairs if pair not in named))
    if not named:
        return spec
    preset = TransformSpec.parse(named[0], presets).preset
    return spec.model_copy(update={"preset": preset})


def _object_key_from_origin_path(raw_path: str) -> str:
    """The object key the edge rewrote the URI to.

    Function URLs may hand the path over percent-encoded or decoded. The last segment tells which: the
    edge encodes every `=` of the rendition's query (`fm%3Dwebp`), and every rendition query has `fm=`.
    """
    last = raw_path.rsplit("/", 1)[-1]
    if "=" not in last:
        return source_key_from_path(raw_path)
    key = raw_path.removeprefix("/")
    if not key:
        raise SpecError("key", "the path names no image")
    return validate_key(key)


def at_origin(
    raw_path: str,
    raw_query: str,
    *,
    policy: SigningPolicy,
    secrets: Sequence[bytes],
    presets: Mapping[str, str] = DEFAULT_PRESETS,
    now: float,
) -> Delivery:
    """What the resize Lambda accepts from the edge: `/{source key}/{rendition query}?{request}`.

    The request is parsed and its signature verified again, and the rendition named by the path must be
    the one the request asks for, in a format the edge could have chosen (any format for `fm=auto`).
    """
    try:
        object_key = _object_key_from_origin_path(raw_path)
        if "/" not in object_key:
            raise SpecError("key", "the path names no rendition (expected /{source key}/{rendition})")
        source_key, rendition_query = object_key.rsplit("/", 1)
        validate_key(source_key)
        spec = _forwarded_spec(raw_query, presets)
    except SpecError as error:
        raise bad_parameter(error) from None
    base = unsigned_preset(spec, presets)
    verdict = authorize(canonical_path(source_key), spec, policy, secrets, now, preset_only=base is not None)
    candidates = OUTPUT_FORMATS if spec.fm == "auto" else (spec.fm,)
    for fmt in candidates:
        if spec.with_format(fmt).variant_query() == rendition_query:
            return Delivery(
                source_key=source_key, spec=spec, format=fmt, verdict=verdict, unsigned_preset=base
            )
    raise Refused(
        Problem(
            400,
            "bad-parameter",
            "the path does not name the rendition this request asks for",
            "key",
        )
    )


# Answers that carry the rendition (or point at it) and so vary with `Accept` when the format was
# negotiated; refusals and errors do not (functions/edge/viewer_response.js STATUSES).
VARY_STATUSES: Final = frozenset({200, 206, 304, 307})
_BARE_PERCENT = re.compile(r"%(?![0-9a-fA-F]{2})")
_VARY_COVERS_ACCEPT = re.compile(r"(^|,)\s*(accept|\*)\s*(,|$)", re.IGNORECASE)


def _query_text(text: str) -> str:
    """A query name or value as the edge reads it: `+` is a space, percent-decoded (as is, if not UTF-8)."""
    text = text.replace("+", " ")
    try:
        return unquote(_BARE_PERCENT.sub("%25", text), errors="strict")
    except UnicodeDecodeError:
        return text


def _format_parameters(raw_query: str) -> dict[str, str]:
    """`fm` and `preset` of a query (the last of a repeated name wins; the edge refused those anyway)."""
    found: dict[str, str] = {}
    for piece in raw_query.removeprefix("?").split("&"):
        name, _, value = piece.partition("=")
        name = _query_text(name)
        if name in ("fm", "preset"):
            found[name] = _query_text(value)
    return found


def negotiated_by_query(raw_query: str, presets: Mapping[str, str] = DEFAULT_PRESETS) -> bool:
    """True when the viewer's query leaves the format to `Accept`: `fm` absent or `auto`, unless a
    preset fixes it (an explicit `fm` overrides the preset's).

    The viewer-response function's rule, read from the query alone; for every query the edge accepts it
    equals `at_edge(...).negotiated`. An unknown preset fixes nothing.
    """
    given = _format_parameters(raw_query)
    fm = given.get("fm")
    if fm is None and "preset" in given:
        preset = presets.get(given["preset"])
        if isinstance(preset, str):
            fm = _format_parameters(preset).get("fm")
    return fm is None or fm.lower() == "auto"


def vary_with_accept(status: int, vary: str | None, negotiated: bool) -> str | None:
    """The `Vary` the viewer-response function sends, or None to leave the answer's own (or none).

    `Accept` is added to a negotiated rendition's answer (VARY_STATUSES), after any `Vary` already there,
    unless that one covers `Accept` already (or is `*`).
    """
    have = vary or ""
    if status not in VARY_STATUSES or not negotiated or _VARY_COVERS_ACCEPT.search(have):
        return None
    return f"{have}, Accept" if have else "Accept"


def origin_event(
    delivery: Delivery, *, method: str = "GET", headers: Mapping[str, str] | None = None
) -> dict[str, object]:
    """The Function URL event (payload 2.0) CloudFront's failover sends the resize function for `delivery`.

    The local runtime builds the same event after running `at_edge` and missing in the transformed bucket.
    """
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": delivery.origin_path,
        "rawQueryString": delivery.origin_query,
        "headers": dict(headers or {}),
        "requestContext": {"http": {"method": method, "path": delivery.origin_path}},
        "isBase64Encoded": False,
    }
