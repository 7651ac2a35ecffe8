"""Delivery URLs for the gallery and `imgpipe url`: canonical, and signed the way the edge verifies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from imgpipe.core.keys import canonical_path, validate_key
from imgpipe.core.signing import sign
from imgpipe.core.spec import TransformSpec
from imgpipe.delivery import SigningPolicy, preset_equivalent


@dataclass(frozen=True)
class BuiltUrl:
    path_and_query: str
    canonical_query: str
    signed: bool
    needs_signature: bool


def needs_signature(spec: TransformSpec, policy: SigningPolicy, presets: Mapping[str, str]) -> bool:
    """Whether the edge refuses `spec` unsigned: under `presets-unsigned`, anything but a named preset
    varied over the closed set (`fm`, a `dpr` of 1, 2 or 3 or the preset's own) needs a signature."""
    if policy == "off":
        return False
    if policy == "required":
        return True
    return not preset_equivalent(spec, presets)


def join_query(query: str | Sequence[str]) -> str:
    """`"w=800&fm=webp"`, or parameters given one by one (`["w=800", "fm=webp"]`), as one query."""
    if isinstance(query, str):
        return query.lstrip("?")
    return "&".join(part.lstrip("?&") for part in query if part)


def build_url(
    key: str,
    query: str,
    *,
    presets: Mapping[str, str],
    policy: SigningPolicy,
    secret: bytes | None,
    sign_always: bool = False,
    expires_at: int | None = None,
) -> BuiltUrl:
    """The path and query for `key` with `query`; raises SpecError naming a bad parameter.

    A URL the policy lets go unsigned keeps the query as given (a preset URL stays `?preset=thumb`);
    anything signed is written in canonical form with `s` last, which is what the edge verifies.
    """
    validate_key(key)
    if expires_at is not None:
        query = f"{query}&exp={expires_at}" if query else f"exp={expires_at}"
    spec = TransformSpec.parse(query, presets)
    canonical = spec.canonical()
    path = canonical_path(key)
    required = needs_signature(spec, policy, presets)
    if (required or sign_always) and secret:
        signature = sign(path, canonical, secret)
        text = f"{canonical}&s={signature}" if canonical else f"s={signature}"
        return BuiltUrl(f"{path}?{text}", canonical, signed=True, needs_signature=required)
    given = query.lstrip("?")
    return BuiltUrl(f"{path}?{given}" if given else path, canonical, signed=False, needs_signature=required)
