"""TransformSpec: every parameter's accepted spellings, bounds, errors, presets and the canonical form."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from imgpipe.core.errors import SpecError
from imgpipe.core.spec import (
    DEFAULT_PRESETS,
    MAX_QUERY_LENGTH,
    PARAMETER_NAMES,
    TransformSpec,
    validate_presets,
)


def canonical(query: str) -> str:
    return TransformSpec.parse(query).canonical()


def refusal(query: str, presets: dict[str, str] | None = None) -> SpecError:
    with pytest.raises(SpecError) as caught:
        TransformSpec.parse(query, presets)
    return caught.value


# --- accepted values and their canonical text ----------------------------------------------------

VALID_SPELLINGS = [
    # (query, canonical)
    ("w=1", "w=1"),
    ("w=8192", "w=8192"),
    ("w=0800", "w=800"),
    ("h=1", "h=1"),
    ("h=8192", "h=8192"),
    ("dpr=1", ""),
    ("dpr=1.0", ""),
    ("dpr=1.5", "dpr=1.5"),
    ("dpr=1.50", "dpr=1.5"),
    ("dpr=2", "dpr=2"),
    ("dpr=2.00", "dpr=2"),
    ("dpr=1.255", "dpr=1.26"),
    ("dpr=4", "dpr=4"),
    ("dpr=3.999", "dpr=4"),
    ("fit=inside", ""),
    ("fit=cover", "fit=cover"),
    ("fit=contain", "fit=contain"),
    ("fit=fill", "fit=fill"),
    ("fit=COVER", "fit=cover"),
    ("up=1", "up=1"),
    ("up=true", "up=1"),
    ("up=YES", "up=1"),
    ("up=0", ""),
    ("up=false", ""),
    ("up=No", ""),
    ("g=center", ""),
    ("g=centre", ""),
    ("g=n", "g=n"),
    ("g=north", "g=n"),
    ("g=northeast", "g=ne"),
    ("g=east", "g=e"),
    ("g=southeast", "g=se"),
    ("g=south", "g=s"),
    ("g=southwest", "g=sw"),
    ("g=west", "g=w"),
    ("g=northwest", "g=nw"),
    ("g=NW", "g=nw"),
    ("g=auto", "g=auto"),
    ("fp=0.5,0.25", "fp=0.5,0.25"),
    ("fp=0.50000,0.250", "fp=0.5,0.25"),
    ("fp=0,1", "fp=0,1"),
    ("fp=0.1234,0.9996", "fp=0.123,1"),
    ("fp=.5,1.0", "fp=0.5,1"),
    ("fp=0.5%2C0.25", "fp=0.5,0.25"),
    ("crop=0,0,1,1", "crop=0,0,1,1"),
    ("crop=10,20,300,400", "crop=10,20,300,400"),
    ("crop=010,0,1,1", "crop=10,0,1,1"),
    ("fm=auto", ""),
    ("fm=avif", "fm=avif"),
    ("fm=webp", "fm=webp"),
    ("fm=jpeg", "fm=jpeg"),
    ("fm=jpg", "fm=jpeg"),
    ("fm=png", "fm=png"),
    ("fm=gif", "fm=gif"),
    ("fm=WEBP", "fm=webp"),
    ("q=1", "q=1"),
    ("q=100", "q=100"),
    ("bg=f00", "bg=ff0000"),
    ("bg=F00A", "bg=ff0000aa"),
    ("bg=ff000080", "bg=ff000080"),
    ("bg=FF0000FF", "bg=ff0000"),
    ("bg=fffF", "bg=ffffff"),
    ("bg=123456", "bg=123456"),
    ("blur=0", ""),
    ("blur=0.04", ""),
    ("blur=0.05", "blur=0.1"),
    ("blur=2.5", "blur=2.5"),
    ("blur=2.50", "blur=2.5"),
    ("blur=100", "blur=100"),
    ("sharp=0.0", ""),
    ("sharp=12.34", "sharp=12.3"),
    ("sharp=100", "sharp=100"),
    ("rot=0", ""),
    ("rot=90", "rot=90"),
    ("rot=180", "rot=180"),
    ("rot=270", "rot=270"),
    ("rot=360", ""),
    ("rot=-90", "rot=270"),
    ("rot=-180", "rot=180"),
    ("rot=-270", "rot=90"),
    ("rot=-360", ""),
    ("flip=h", "flip=h"),
    ("flip=v", "flip=v"),
    ("flip=hv", "flip=hv"),
    ("flip=vh", "flip=hv"),
    ("gray=1", "gray=1"),
    ("gray=0", ""),
    ("anim=1", ""),
    ("anim=0", "anim=0"),
    ("anim=false", "anim=0"),
    ("dl=photo.jpg", "dl=photo.jpg"),
    ("dl=My_Photo-2.final.webp", "dl=My_Photo-2.final.webp"),
    ("dl=" + "a" * 120, "dl=" + "a" * 120),
    ("v=1", "v=1"),
    ("v=2024-01.b_c", "v=2024-01.b_c"),
    ("v=" + "x" * 64, "v=" + "x" * 64),
    ("exp=0", "exp=0"),
    ("exp=1700000000", "exp=1700000000"),
    (f"exp={2**40}", f"exp={2**40}"),
    ("mark=brand/logo.png", "mark=brand%2Flogo.png"),
    ("mark=brand%2Flogo.png", "mark=brand%2Flogo.png"),
    ("mark=marks/caf%C3%A9+logo.png", "mark=marks%2Fcaf%C3%A9%20logo.png"),
    ("mark=m.png&markpos=nw", "mark=m.png&markpos=nw"),
    ("mark=m.png&markpos=southeast", "mark=m.png"),
    ("mark=m.png&markpos=centre", "mark=m.png&markpos=center"),
    ("mark=m.png&markalpha=0", "mark=m.png&markalpha=0"),
    ("mark=m.png&markalpha=100", "mark=m.png"),
    ("mark=m.png&markw=0.01", "mark=m.png&markw=0.01"),
    ("mark=m.png&markw=1", "mark=m.png&markw=1"),
    ("mark=m.png&markw=0.2500", "mark=m.png"),
    ("mark=m.png&markw=0.1234", "mark=m.png&markw=0.123"),
    ("txt=imgpipe", "txt=imgpipe"),
    ("txt=Hello+World", "txt=Hello%20World"),
    ("txt=a%2Cb%26c%3Dd", "txt=a%2Cb%26c%3Dd"),
    ("txt=%C2%A9+2024+Ren%C3%A9e", "txt=%C2%A9%202024%20Ren%C3%A9e"),
    ("txt=%F0%9F%91%A8%E2%80%8D%F0%9F%91%A9", "txt=%F0%9F%91%A8%E2%80%8D%F0%9F%91%A9"),  # emoji with a ZWJ
    ("txt=" + "t" * 200, "txt=" + "t" * 200),
    ("txt=x&txtpos=n", "txt=x&txtpos=n"),
    ("txt=x&txtpos=se", "txt=x"),
    ("txt=x&txtsize=6", "txt=x&txtsize=6"),
    ("txt=x&txtsize=400", "txt=x&txtsize=400"),
    ("txt=x&txtsize=24", "txt=x"),
    ("txt=x&txtclr=000", "txt=x&txtclr=000000"),
    ("txt=x&txtclr=fff", "txt=x"),
    ("txt=x&txtclr=FFFFFFFF", "txt=x"),
    ("txt=x&txtclr=00000080", "txt=x&txtclr=00000080"),
]


@pytest.mark.parametrize(("query", "expected"), VALID_SPELLINGS)
def test_each_accepted_spelling_has_one_canonical_text(query: str, expected: str) -> None:
    # Given a query using one accepted spelling of a parameter
    # When it is parsed and written back
    result = canonical(query)
    # Then the canonical text is the normalised value, and parsing it again changes nothing
    assert result == expected
    assert canonical(result) == expected


def test_parsed_values_have_the_documented_python_types() -> None:
    # Given a query that sets every value-carrying parameter
    query = (
        "w=800&h=600&dpr=2&fit=cover&up=1&g=ne&fp=0.25,0.75&crop=1,2,3,4&fm=jpg&q=80&bg=abc&blur=1.5"
        "&sharp=2&rot=-90&flip=vh&gray=yes&anim=no&dl=a.jpg&v=3&exp=99&s=abc_-9&mark=a/b.png&markpos=n"
        "&markalpha=50&markw=0.5&txt=hi&txtpos=w&txtsize=30&txtclr=000"
    )
    # When it is parsed
    spec = TransformSpec.parse(query)
    # Then each attribute carries the normalised Python value
    assert (spec.w, spec.h, spec.dpr, spec.fit, spec.up, spec.g) == (800, 600, 2.0, "cover", True, "ne")
    assert spec.fp == (0.25, 0.75)
    assert spec.crop == (1, 2, 3, 4)
    assert (spec.fm, spec.q, spec.bg, spec.blur, spec.sharp) == ("jpeg", 80, "aabbcc", 1.5, 2.0)
    assert (spec.rot, spec.flip, spec.gray, spec.anim) == (270, "hv", True, False)
    assert (spec.dl, spec.v, spec.exp, spec.s) == ("a.jpg", "3", 99, "abc_-9")
    assert (spec.mark, spec.markpos, spec.markalpha, spec.markw) == ("a/b.png", "n", 50, 0.5)
    assert (spec.txt, spec.txtpos, spec.txtsize, spec.txtclr) == ("hi", "w", 30, "000000")


def test_the_empty_query_is_all_defaults() -> None:
    # Given no parameters at all (with and without the leading "?")
    # When parsed
    specs = [TransformSpec.parse(""), TransformSpec.parse("?")]
    # Then every field has its default and the canonical form is empty
    for spec in specs:
        assert spec == TransformSpec()
        assert spec.canonical() == ""
    default = TransformSpec()
    assert (default.w, default.h, default.dpr, default.fit, default.up, default.g) == (
        None,
        None,
        1.0,
        "inside",
        False,
        "center",
    )
    assert (default.fm, default.q, default.rot, default.flip, default.anim) == ("auto", None, 0, "", True)
    assert (default.markpos, default.markalpha, default.markw) == ("se", 100, 0.25)
    assert (default.txtpos, default.txtsize, default.txtclr) == ("se", 24, "ffffff")


# --- refusals ------------------------------------------------------------------------------------

OUT_OF_BOUNDS = [
    # (query, param) just outside each bound, or the wrong type
    ("w=0", "w"),
    ("w=8193", "w"),
    ("w=-1", "w"),
    ("w=1.5", "w"),
    ("w=abc", "w"),
    ("w=1e3", "w"),
    ("h=0", "h"),
    ("h=8193", "h"),
    ("dpr=0.99", "dpr"),
    ("dpr=4.01", "dpr"),
    ("dpr=4.001", "dpr"),
    ("dpr=two", "dpr"),
    ("dpr=-1", "dpr"),
    ("dpr=nan", "dpr"),
    ("dpr=inf", "dpr"),
    ("fit=crop", "fit"),
    ("up=2", "up"),
    ("up=on", "up"),
    ("g=middle", "g"),
    ("g=north-east", "g"),
    ("fp=0.5", "fp"),
    ("fp=0.5,0.5,0.5", "fp"),
    ("fp=1.001,0.5", "fp"),
    ("fp=0.5,-0.1", "fp"),
    ("fp=a,b", "fp"),
    ("fp=0.5,", "fp"),
    ("crop=1,2,3", "crop"),
    ("crop=1,2,3,4,5", "crop"),
    ("crop=-1,0,1,1", "crop"),
    ("crop=0,0,0,1", "crop"),
    ("crop=0,0,1,0", "crop"),
    ("crop=0,0,1,1.5", "crop"),
    ("crop=0,0,1000001,1", "crop"),
    ("fm=bmp", "fm"),
    ("fm=tiff", "fm"),
    ("q=0", "q"),
    ("q=101", "q"),
    ("q=high", "q"),
    ("bg=ff", "bg"),
    ("bg=fffff", "bg"),
    ("bg=fffffff", "bg"),
    ("bg=fffffffff", "bg"),
    ("bg=gggggg", "bg"),
    ("bg=%23ff0000", "bg"),
    ("bg=red", "bg"),
    ("blur=-0.1", "blur"),
    ("blur=100.1", "blur"),
    ("sharp=100.01", "sharp"),
    ("sharp=x", "sharp"),
    ("rot=45", "rot"),
    ("rot=91", "rot"),
    ("rot=450", "rot"),
    ("rot=-450", "rot"),
    ("rot=ninety", "rot"),
    ("flip=x", "flip"),
    ("flip=hh", "flip"),
    ("gray=maybe", "gray"),
    ("anim=2", "anim"),
    ("dl=.hidden", "dl"),
    ("dl=" + "a" * 121, "dl"),
    ("dl=a/b.jpg", "dl"),
    ("dl=a+b.jpg", "dl"),
    ("dl=caf%C3%A9.jpg", "dl"),
    ("v=" + "x" * 65, "v"),
    ("v=a/b", "v"),
    ("exp=-1", "exp"),
    (f"exp={2**40 + 1}", "exp"),
    ("exp=soon", "exp"),
    ("s=abc%3D", "s"),
    ("s=ab+c", "s"),
    ("s=" + "A" * 129, "s"),
    ("mark=a/../b.png", "mark"),
    ("mark=./b.png", "mark"),
    ("mark=a//b.png", "mark"),
    ("mark=%2Fa.png", "mark"),
    ("mark=a%00b.png", "mark"),
    ("mark=a%5Cb.png", "mark"),
    ("mark=m.png&markpos=auto", "markpos"),
    ("mark=m.png&markpos=top", "markpos"),
    ("mark=m.png&markalpha=-1", "markalpha"),
    ("mark=m.png&markalpha=101", "markalpha"),
    ("mark=m.png&markw=0.009", "markw"),
    ("mark=m.png&markw=0", "markw"),
    ("mark=m.png&markw=1.001", "markw"),
    ("txt=" + "t" * 201, "txt"),
    ("txt=a%0Ab", "txt"),
    ("txt=a%07b", "txt"),
    ("txt=a%7Fb", "txt"),
    ("txt=%E2%80%AEevil", "txt"),  # right-to-left override
    ("txt=a%E2%80%A8b", "txt"),  # line separator
    ("txt=x&txtpos=auto", "txtpos"),
    ("txt=x&txtsize=5", "txtsize"),
    ("txt=x&txtsize=401", "txtsize"),
    ("txt=x&txtclr=white", "txtclr"),
    ("preset=a%20b", "preset"),
]


@pytest.mark.parametrize(("query", "param"), OUT_OF_BOUNDS)
def test_values_outside_their_bounds_are_refused_naming_the_parameter(query: str, param: str) -> None:
    # Given a query with one value just outside its bounds or of the wrong type
    # When it is parsed
    error = refusal(query)
    # Then the error names the parameter and tells people what is allowed
    assert error.param == param
    assert "expected" in error.message
    assert str(error).startswith(f"{param}: ")


@pytest.mark.parametrize(
    ("query", "fragments"),
    [
        ("w=0", ["1", "8192"]),
        ("dpr=5", ["1", "4"]),
        ("q=0", ["1", "100"]),
        ("fit=crop", ["inside", "cover", "contain", "fill"]),
        ("fm=bmp", ["avif", "webp", "jpeg", "png", "gif"]),
        ("rot=45", ["90", "180", "270"]),
        ("txt=x&txtsize=5", ["6", "400"]),
        ("mark=m.png&markw=2", ["0.01", "1"]),
    ],
)
def test_error_messages_name_the_allowed_values(query: str, fragments: list[str]) -> None:
    # Given an out-of-range value
    # When it is refused
    message = refusal(query).message
    # Then the message spells out the allowed range or choices
    for fragment in fragments:
        assert fragment in message


def test_an_unknown_parameter_is_refused_by_name() -> None:
    # Given a parameter the API does not have
    # When the query is parsed
    error = refusal("w=100&width=200")
    # Then the error names it and lists the real parameters
    assert error.param == "width"
    assert "unknown" in error.message
    assert all(name in error.message for name in PARAMETER_NAMES)


def test_parameter_names_are_case_sensitive() -> None:
    # Given an upper-case spelling of a real parameter
    # When parsed
    # Then it is unknown rather than silently mapped
    assert refusal("W=100").param == "W"


@pytest.mark.parametrize("query", ["w=100&w=100", "w=100&h=5&w=200", "fm=jpg&fm=jpeg", "w=1&%77=1"])
def test_a_duplicated_parameter_is_refused(query: str) -> None:
    # Given a parameter given twice (even with the same value, or percent-encoded in its name)
    # When parsed
    error = refusal(query)
    # Then the error names it as duplicated
    assert error.param in ("w", "fm")
    assert "more than once" in error.message


@pytest.mark.parametrize("query", ["w=", "w", "fm=&w=1", "txt=", "flip="])
def test_an_empty_value_is_refused(query: str) -> None:
    # Given a parameter with nothing after "=" (or no "=" at all)
    # When parsed
    error = refusal(query)
    # Then the error names the parameter and says the value is empty
    assert error.param == query.split("&", maxsplit=1)[0].split("=", maxsplit=1)[0]
    assert "empty" in error.message


def test_a_parameter_without_a_name_is_refused() -> None:
    # Given "=5" with no name
    # When parsed
    error = refusal("w=1&=5")
    # Then the whole query is blamed
    assert error.param == "query"


def test_empty_pairs_between_ampersands_are_ignored() -> None:
    # Given stray "&" separators
    # When parsed
    # Then they carry nothing and the spec is the same as without them
    assert canonical("&w=100&&h=50&") == "h=50&w=100"


@pytest.mark.parametrize(("query", "param"), [("txt=%FF", "txt"), ("txt=%C3%28", "txt"), ("%FF=1", "query")])
def test_bytes_that_are_not_utf8_after_decoding_are_refused(query: str, param: str) -> None:
    # Given percent-escapes that decode to invalid UTF-8
    # When parsed
    error = refusal(query)
    # Then the parameter (or the query, for a name) is blamed
    assert error.param == param
    assert "UTF-8" in error.message


def test_a_query_over_the_length_limit_is_refused() -> None:
    # Given queries exactly at and one past the limit
    at_limit = "v=1&txt=" + "a" * (MAX_QUERY_LENGTH - len("v=1&txt="))
    over_limit = at_limit + "a"
    # When parsed
    # Then the one at the limit is only judged on its values, the longer one on its length
    assert refusal(at_limit).param == "txt"  # 2040 characters of text is over txt's own limit
    error = refusal(over_limit)
    assert error.param == "query"
    assert str(MAX_QUERY_LENGTH) in error.message


def test_a_long_query_within_the_limit_is_accepted() -> None:
    # Given a 2048-character query made of valid parameters ("?" does not count)
    query = "?txt=" + "a" * 200 + "&dl=" + "b" * 120 + "&v=" + "c" * 64 + "&w=1"
    query += "&" * (MAX_QUERY_LENGTH + 1 - len(query))
    # When parsed
    spec = TransformSpec.parse(query)
    # Then it is read normally
    assert len(query) == MAX_QUERY_LENGTH + 1
    assert spec.w == 1 and spec.txt == "a" * 200


def test_a_query_whose_canonical_form_would_not_fit_in_a_url_is_refused() -> None:
    # Given a short query whose values grow sixfold when percent-encoded ("é" is "%C3%A9")
    short_enough = "txt=" + "é" * 200 + "&mark=" + "a" * 700
    too_long = "txt=" + "é" * 200 + "&mark=" + "a" * 800
    # When parsed
    spec = TransformSpec.parse(short_enough)
    error = refusal(too_long)
    # Then the one whose canonical form (plus room for a signature) fits is accepted, the other refused
    assert len(spec.canonical()) + len("&s=") + 43 <= MAX_QUERY_LENGTH
    assert TransformSpec.parse(spec.canonical() + "&s=" + "A" * 43).canonical() == spec.canonical()
    assert len(too_long) < MAX_QUERY_LENGTH
    assert error.param == "query"
    assert "canonical" in error.message


def test_plus_is_a_space_and_percent_escapes_decode_once() -> None:
    # Given a text with "+", "%20", an encoded "+" and a double-encoded percent
    # When parsed
    spec = TransformSpec.parse("txt=a+b%20c%2Bd%2541")
    # Then "+" and %20 are spaces, %2B is a plus, and %2541 stays "%41"
    assert spec.txt == "a b c+d%41"
    assert spec.canonical() == "txt=a%20b%20c%2Bd%2541"


# --- presets -------------------------------------------------------------------------------------


def test_default_presets_are_the_documented_ones() -> None:
    # Given the built-in presets
    # When checked
    specs = validate_presets(DEFAULT_PRESETS)
    # Then each expands to its documented transformation
    assert DEFAULT_PRESETS == {
        "thumb": "w=200&h=200&fit=cover&g=auto",
        "small": "w=400",
        "medium": "w=800",
        "large": "w=1600",
        "og": "w=1200&h=630&fit=cover&g=auto",
    }
    assert specs["thumb"].canonical() == "fit=cover&g=auto&h=200&w=200"
    assert specs["og"].canonical() == "fit=cover&g=auto&h=630&w=1200"
    assert specs["small"].w == 400 and specs["medium"].w == 800 and specs["large"].w == 1600
    assert all(spec.preset == name for name, spec in specs.items())


def test_a_preset_expands_into_its_values_and_shares_the_explicit_canonical_form() -> None:
    # Given a preset request and the same transformation spelt out
    by_name = TransformSpec.parse("preset=thumb")
    spelt_out = TransformSpec.parse("w=200&h=200&fit=cover&g=auto")
    # When compared
    # Then they share one canonical form; only the remembered name differs
    assert by_name.canonical() == spelt_out.canonical() == "fit=cover&g=auto&h=200&w=200"
    assert by_name.preset == "thumb" and spelt_out.preset is None
    assert by_name.model_copy(update={"preset": None}) == spelt_out


def test_explicit_parameters_override_the_preset() -> None:
    # Given a preset with an explicit width and format
    spec = TransformSpec.parse("w=300&preset=thumb&fm=webp")
    # When parsed
    # Then the explicit values win and the rest come from the preset
    assert (spec.w, spec.h, spec.fit, spec.g, spec.fm) == (300, 200, "cover", "auto", "webp")
    assert spec.canonical() == "fit=cover&fm=webp&g=auto&h=200&w=300"


def test_an_explicit_default_overrides_a_preset_value() -> None:
    # Given a preset asking for cover and a request asking for the default fit
    spec = TransformSpec.parse("preset=thumb&fit=inside")
    # When parsed
    # Then the default wins and so disappears from the canonical form
    assert spec.fit == "inside"
    assert spec.canonical() == "g=auto&h=200&w=200"


def test_an_unknown_preset_is_refused_listing_the_known_ones() -> None:
    # Given a preset name that is not configured
    error = refusal("preset=huge")
    # When parsed
    # Then the error names the preset parameter and the configured names
    assert error.param == "preset"
    assert "huge" in error.message and "thumb" in error.message


def test_custom_presets_replace_the_defaults() -> None:
    # Given a custom preset table without "thumb"
    presets = {"hero": "w=1920&q=70&fm=avif"}
    # When a custom and a default name are requested
    spec = TransformSpec.parse("preset=hero", presets)
    # Then only the custom table is used
    assert spec.canonical() == "fm=avif&q=70&w=1920"
    assert refusal("preset=thumb", presets).param == "preset"


@pytest.mark.parametrize(
    ("definition", "culprit"),
    [
        ("w=200&preset=thumb", "preset"),
        ("w=200&s=abc", "s"),
        ("w=200&exp=100", "exp"),
        ("w=0", "w"),
        ("width=200", "width"),
        ("w=1&w=2", "w"),
    ],
)
def test_bad_preset_definitions_are_refused(definition: str, culprit: str) -> None:
    # Given a preset definition that nests presets, carries a signature or expiry, or is invalid
    presets = {"bad": definition}
    # When the table is validated, or the preset is used
    with pytest.raises(SpecError) as validated:
        validate_presets(presets)
    used = refusal("preset=bad", presets)
    # Then both blame the preset and name the offending parameter inside it
    for error in (validated.value, used):
        assert error.param == "preset"
        assert "'bad'" in error.message and culprit in error.message


@pytest.mark.parametrize("name", ["", "has space", "a/b", "x" * 65])
def test_bad_preset_names_are_refused(name: str) -> None:
    # Given a preset table with a name URLs cannot carry cleanly
    # When validated
    with pytest.raises(SpecError) as caught:
        validate_presets({name: "w=100"})
    # Then the name is refused
    assert caught.value.param == "preset"


def test_a_preset_request_keeps_its_values_when_the_format_is_chosen() -> None:
    # Given a preset request whose format is then negotiated
    spec = TransformSpec.parse("preset=small").with_format("avif")
    # When its rendition is named
    # Then it is the preset's picture in that format
    assert spec.preset == "small"
    assert spec.variant_query() == "fm=avif&w=400"


# --- canonical form ------------------------------------------------------------------------------


def test_canonical_keys_are_sorted_and_defaults_dropped() -> None:
    # Given parameters in arbitrary order with some redundant defaults
    query = "w=800&fm=webp&fit=inside&dpr=1&h=600&up=0&anim=1&blur=0&g=center&q=75&markw=0.25"
    # When canonicalised
    result = canonical(query)
    # Then only non-defaults remain, in ASCII key order
    assert result == "fm=webp&h=600&q=75&w=800"


def test_canonical_order_is_ascii_for_every_parameter() -> None:
    # Given every parameter set to a non-default value
    query = (
        "txtclr=000&txtsize=30&txtpos=n&txt=t&markw=0.5&markalpha=50&markpos=n&mark=m.png&exp=5&v=1&dl=d.jpg"
        "&anim=0&gray=1&flip=h&rot=90&sharp=1&blur=1&bg=000&q=5&fm=png&crop=0,0,1,1&fp=0,0&g=n&up=1"
        "&fit=fill&dpr=2&h=2&w=1&s=sig&preset=small"
    )
    # When canonicalised
    keys = [pair.split("=")[0] for pair in canonical(query).split("&")]
    # Then the keys are sorted, and neither the signature nor the preset name appears
    assert keys == sorted(keys)
    assert set(keys) == set(PARAMETER_NAMES) - {"s", "preset"}


def test_the_signature_is_never_part_of_the_canonical_form() -> None:
    # Given a signed request
    spec = TransformSpec.parse("w=100&s=AbC-_9&exp=123")
    # When canonicalised
    # Then exp stays (it is signed) and s goes
    assert spec.canonical() == "exp=123&w=100"
    assert spec.s == "AbC-_9"


def test_variant_query_drops_the_expiry_but_keeps_everything_else() -> None:
    # Given a signed, expiring request with a concrete format and a cache-buster
    spec = TransformSpec.parse("w=100&fm=webp&exp=1700000000&v=7&dl=x.webp&s=abc")
    # When the stored rendition is named
    # Then expiry and signature are left out, so every expiry shares one object
    assert spec.variant_query() == "dl=x.webp&fm=webp&v=7&w=100"
    assert spec.canonical() == "dl=x.webp&exp=1700000000&fm=webp&v=7&w=100"


def test_variant_query_needs_a_concrete_format() -> None:
    # Given a request still on fm=auto
    spec = TransformSpec.parse("w=100")
    # When the stored rendition is named without choosing a format
    # Then it is refused; choosing one makes it work
    with pytest.raises(ValueError, match="format"):
        spec.variant_query()
    assert spec.with_format("jpeg").variant_query() == "fm=jpeg&w=100"


def test_with_format_returns_a_validated_copy() -> None:
    # Given a spec
    spec = TransformSpec.parse("w=100&fm=png")
    # When the format is replaced
    changed = spec.with_format("jpg")
    # Then the original is untouched, the alias is normalised, and nonsense is refused
    assert (spec.fm, changed.fm, changed.w) == ("png", "jpeg", 100)
    with pytest.raises(SpecError):
        spec.with_format("bmp")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", (None, None)),
        ("w=100", (100, None)),
        ("h=100&dpr=2", (None, 200)),
        ("w=333&h=111&dpr=1.5", (500, 167)),  # 499.5 and 166.5 round half up
        ("w=10&dpr=1.15", (12, None)),  # 11.5 exactly, despite 1.15 not being exact in binary
        ("w=8192&dpr=4", (32768, None)),
    ],
)
def test_target_size_multiplies_by_dpr_rounding_half_up(
    query: str, expected: tuple[int | None, int | None]
) -> None:
    # Given CSS sizes and a device pixel ratio
    # When the device-pixel target is computed
    # Then each side is multiplied and rounded half up
    assert TransformSpec.parse(query).target_size() == expected


# --- the model -----------------------------------------------------------------------------------


def test_the_spec_is_immutable_and_hashable() -> None:
    # Given a parsed spec
    spec = TransformSpec.parse("w=100")
    # When someone tries to change it
    with pytest.raises(ValidationError):
        spec.w = 200  # type: ignore[misc]
    # Then equal specs hash alike, however they were spelt
    assert hash(spec) == hash(TransformSpec.parse("w=0100&fit=inside"))
    assert len({spec, TransformSpec.parse("w=100"), TransformSpec.parse("w=101")}) == 2


def test_direct_construction_normalises_like_parsing() -> None:
    # Given a spec built from Python values and alias strings
    built = TransformSpec.model_validate(
        {"w": 800, "dpr": 1.005, "g": "north", "rot": -90, "fp": (0.12345, 1.0), "bg": "F00", "fm": "jpg"}
    )
    # When compared with the parsed equivalent
    parsed = TransformSpec.parse("w=800&dpr=1.01&g=n&rot=270&fp=0.123,1&bg=ff0000&fm=jpeg")
    # Then both are the same spec
    assert built == parsed
    assert built.canonical() == "bg=ff0000&dpr=1.01&fm=jpeg&fp=0.123,1&g=n&rot=270&w=800"


@pytest.mark.parametrize(
    "values",
    [
        {"w": 0},
        {"dpr": 5.0},
        {"rot": 45},
        {"fit": "crop"},
        {"bg": "red"},
        {"unknown": 1},
        {"blur": float("nan")},
    ],
)
def test_direct_construction_validates(values: dict[str, object]) -> None:
    # Given out-of-range or unknown Python values
    # When a spec is built directly
    # Then pydantic refuses it
    with pytest.raises(ValidationError):
        TransformSpec.model_validate(values)


def test_a_negative_zero_prints_as_zero() -> None:
    # Given a blur of -0.0 built in Python (within bounds, since -0.0 == 0)
    spec = TransformSpec(blur=-0.0, sharp=0.04)
    # When canonicalised
    # Then it is the default and disappears
    assert spec.canonical() == ""
