"""Properties of the canonical form and of signatures, over randomly built valid specs."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote_plus, unquote

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from imgpipe.core.errors import SpecError
from imgpipe.core.keys import canonical_path, source_key_from_path
from imgpipe.core.signing import SignatureVerdict, sign, verify
from imgpipe.core.spec import PARAMETER_NAMES, TransformSpec

SECRET = b"property-secret-0123456789abcdef"

GRAVITY_SPELLINGS = [
    "center",
    "centre",
    "n",
    "north",
    "NE",
    "e",
    "east",
    "se",
    "s",
    "SW",
    "w",
    "nw",
    "northwest",
]


def decimals(low: int, high: int, places: int) -> st.SearchStrategy[float]:
    """Numbers with at most `places` decimals, as people write them."""
    return st.integers(low * 10**places, high * 10**places).map(lambda n: n / 10**places)


def hex_colours() -> st.SearchStrategy[str]:
    return st.sampled_from([3, 4, 6, 8]).flatmap(
        lambda n: st.text(alphabet="0123456789abcdefABCDEF", min_size=n, max_size=n)
    )


# Visible text: letters, marks, digits, punctuation, symbols and ordinary spaces.
_VISIBLE = st.characters(categories=["L", "M", "N", "P", "S", "Zs"])
_SEGMENT = st.text(
    alphabet=st.characters(categories=["L", "N", "P", "S", "Zs"], exclude_characters="/\\"),
    min_size=1,
    max_size=12,
).filter(lambda segment: segment not in (".", ".."))
KEYS = st.lists(_SEGMENT, min_size=1, max_size=5).map("/".join)

FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "w": st.integers(1, 8192),
    "h": st.integers(1, 8192),
    "dpr": decimals(1, 4, 2),
    "fit": st.sampled_from(["inside", "cover", "contain", "fill"]),
    "up": st.booleans(),
    "g": st.sampled_from([*GRAVITY_SPELLINGS, "auto"]),
    "fp": st.tuples(decimals(0, 1, 3), decimals(0, 1, 3)),
    "crop": st.tuples(
        st.integers(0, 20_000), st.integers(0, 20_000), st.integers(1, 20_000), st.integers(1, 20_000)
    ),
    "fm": st.sampled_from(["auto", "avif", "webp", "jpeg", "jpg", "png", "gif"]),
    "q": st.integers(1, 100),
    "bg": hex_colours(),
    "blur": decimals(0, 100, 1),
    "sharp": decimals(0, 100, 1),
    "rot": st.sampled_from([-360, -270, -180, -90, 0, 90, 180, 270, 360]),
    "flip": st.sampled_from(["", "h", "v", "hv", "vh"]),
    "gray": st.booleans(),
    "anim": st.booleans(),
    "dl": st.from_regex(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,40}", fullmatch=True),
    "v": st.from_regex(r"[A-Za-z0-9._-]{1,64}", fullmatch=True),
    "exp": st.integers(0, 2**40),
    "s": st.from_regex(r"[A-Za-z0-9_-]{43}", fullmatch=True),
    "mark": KEYS,
    "markpos": st.sampled_from(GRAVITY_SPELLINGS),
    "markalpha": st.integers(0, 100),
    "markw": decimals(0, 1, 3).filter(lambda fraction: fraction >= 0.01),
    "txt": st.text(alphabet=_VISIBLE, min_size=1, max_size=60),
    "txtpos": st.sampled_from(GRAVITY_SPELLINGS),
    "txtsize": st.integers(6, 400),
    "txtclr": hex_colours(),
}


def _fits_in_a_url(values: dict[str, Any]) -> bool:
    try:
        TransformSpec.model_validate(values)
    except ValidationError:
        return False  # only when the percent-encoded form would be too long for a URL
    return True


SPECS = st.fixed_dictionaries({}, optional=FIELDS).filter(_fits_in_a_url).map(TransformSpec.model_validate)


def without_name_and_signature(spec: TransformSpec) -> TransformSpec:
    return spec.model_copy(update={"preset": None, "s": None})


@given(spec=SPECS)
def test_the_canonical_form_parses_back_to_the_same_spec(spec: TransformSpec) -> None:
    # Given any valid spec
    # When its canonical form is parsed
    parsed = TransformSpec.parse(spec.canonical())
    # Then the same spec comes back (the signature is never part of the canonical form)
    assert parsed == without_name_and_signature(spec)


@given(spec=SPECS)
def test_canonicalising_twice_changes_nothing(spec: TransformSpec) -> None:
    # Given the canonical form of any valid spec
    once = spec.canonical()
    # When it is parsed and canonicalised again
    twice = TransformSpec.parse(once).canonical()
    # Then it is a fixed point
    assert twice == once


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(spec=SPECS, data=st.data())
def test_order_spelling_and_redundant_defaults_do_not_change_the_canonical_form(
    spec: TransformSpec, data: st.DataObject
) -> None:
    # Given the spec's parameters, some defaults spelt out, values re-encoded with "+" for spaces, shuffled
    pairs = [pair.split("=", 1) for pair in spec.canonical().split("&") if pair]
    present = {name for name, _ in pairs}
    defaults = {
        "dpr": "1.00",
        "fit": "INSIDE",
        "up": "no",
        "g": "centre",
        "blur": "0.0",
        "sharp": "0",
        "rot": "360",
        "anim": "true",
        "gray": "0",
        "fm": "auto",
        "markalpha": "100",
        "markw": "0.250",
        "txtsize": "24",
        "txtclr": "FFF",
    }
    extra = data.draw(st.lists(st.sampled_from(sorted(defaults)), unique=True))
    pairs += [[name, defaults[name]] for name in extra if name not in present]
    pairs = [[name, quote_plus(unquote(value), safe=",")] for name, value in pairs]
    query = "&".join(f"{name}={value}" for name, value in data.draw(st.permutations(pairs)))
    # When the reshuffled query is parsed
    result = TransformSpec.parse(query).canonical()
    # Then its canonical form is the original one
    assert result == spec.canonical()


@given(spec=SPECS)
def test_the_variant_query_is_the_canonical_form_without_expiry(spec: TransformSpec) -> None:
    # Given any spec with its format chosen
    concrete = spec.with_format("webp") if spec.fm == "auto" else spec
    # When the stored rendition is named
    variant = concrete.variant_query()
    # Then it lists the same pairs as the canonical form except exp
    assert variant.split("&") == [
        pair for pair in concrete.canonical().split("&") if not pair.startswith("exp=")
    ]
    assert TransformSpec.parse(variant) == without_name_and_signature(concrete).model_copy(
        update={"exp": None}
    )


PARAMETER_TEXT = st.text(alphabet="abcdefhijklmnopqrstuvwxyz0123456789.,-_%+ /\\éÿ&=?#", max_size=30)


@given(
    pairs=st.lists(st.tuples(st.sampled_from([*PARAMETER_NAMES, "x", "W", ""]), PARAMETER_TEXT), max_size=6)
)
def test_any_query_either_parses_to_a_fixed_point_or_raises_spec_error(pairs: list[tuple[str, str]]) -> None:
    # Given an arbitrary, mostly invalid query
    query = "&".join(f"{name}={value}" for name, value in pairs)
    # When it is parsed
    refusal: SpecError | None = None
    try:
        spec = TransformSpec.parse(query)
    except SpecError as error:
        refusal = error
    # Then a refusal is always a SpecError naming something, and a success is already canonical
    if refusal is not None:
        assert refusal.param
        assert refusal.message
    else:
        assert TransformSpec.parse(spec.canonical()).canonical() == spec.canonical()


@given(key=KEYS)
def test_canonical_paths_decode_back_to_their_key(key: str) -> None:
    # Given any valid key
    assume(len(key.encode()) <= 1024)
    # When its canonical path is decoded
    # Then the same key comes back
    assert source_key_from_path(canonical_path(key)) == key


def _mutated(text: str, data: st.DataObject) -> str:
    """One insertion, deletion or replacement anywhere in `text`."""
    position = data.draw(st.integers(0, len(text)))
    character = data.draw(st.characters(min_codepoint=32, max_codepoint=126))
    change = data.draw(st.sampled_from(["insert", "delete", "replace"] if text else ["insert"]))
    if change == "insert":
        mutated = text[:position] + character + text[position:]
    else:
        position = min(position, len(text) - 1)
        mutated = text[:position] + (character if change == "replace" else "") + text[position + 1 :]
    assume(mutated != text)
    return mutated


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(spec=SPECS, key=KEYS, data=st.data())
def test_a_signature_verifies_only_for_the_exact_unexpired_request(
    spec: TransformSpec, key: str, data: st.DataObject
) -> None:
    # Given a signed canonical request and a moment before its expiry
    assume(spec.exp is None or spec.exp > 0)
    path, query = canonical_path(key), spec.canonical()
    signature = sign(path, query, SECRET)
    now = float(spec.exp - 1) if spec.exp else 0.0
    # When the exact request is verified
    # Then it is valid
    assert verify(path, query, signature, [SECRET], spec.exp, now) is SignatureVerdict.VALID
    # And any change to the path, the query or the signature makes it invalid
    target = data.draw(st.sampled_from(["path", "query", "signature"]))
    if target == "path":
        verdict = verify(_mutated(path, data), query, signature, [SECRET], spec.exp, now)
    elif target == "query":
        verdict = verify(path, _mutated(query, data), signature, [SECRET], spec.exp, now)
    else:
        verdict = verify(path, query, _mutated(signature, data), [SECRET], spec.exp, now)
    assert verdict is SignatureVerdict.INVALID


@given(spec=SPECS.filter(lambda spec: spec.exp is not None), key=KEYS, late_by=st.floats(0, 1e9))
def test_a_good_signature_past_its_expiry_is_expired(spec: TransformSpec, key: str, late_by: float) -> None:
    # Given a correctly signed request with an expiry
    assert spec.exp is not None
    path, query = canonical_path(key), spec.canonical()
    signature = sign(path, query, SECRET)
    # When verified at or after the expiry
    verdict = verify(path, query, signature, [SECRET], spec.exp, spec.exp + late_by)
    # Then it is expired, not valid
    assert verdict is SignatureVerdict.EXPIRED


def test_every_parameter_has_a_strategy() -> None:
    # Given the parameters the parser knows
    # When compared with the strategies above
    # Then every one except the preset name is generated, so the properties cover them all
    assert set(PARAMETER_NAMES) - set(FIELDS) == {"preset"}
    assert set(FIELDS) <= set(PARAMETER_NAMES)
