"""The transformation a delivery URL asks for: parsing, validation, presets and the canonical form.

The canonical query is the cache key, names the stored rendition and is what a signature covers, so every
accepted spelling of a request must normalise to exactly one string (defaults dropped, values normalised,
keys sorted) and parsing that string must give the same spec back.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal
from urllib.parse import quote, unquote_to_bytes

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from imgpipe.core.errors import SpecError
from imgpipe.core.keys import validate_key

MAX_QUERY_LENGTH = 2048
# Percent-encoding can make the canonical form longer than the query it came from; keeping it this short
# leaves room for "&s=" and a signature (and a chosen `fm`) so every signed canonical URL parses again.
MAX_CANONICAL_LENGTH = MAX_QUERY_LENGTH - 64
MAX_SIDE = 8192
MAX_DPR = 4
# Crop offsets are clamped to the image by the renderer; this ceiling only keeps numbers sane for every
# consumer of the canonical form (the edge function's JavaScript numbers included).
MAX_CROP = 1_000_000
MAX_EXP = 2**40
MAX_TEXT_LENGTH = 200
MAX_SIGNATURE_LENGTH = 128

Fit = Literal["inside", "cover", "contain", "fill"]
Gravity = Literal["center", "n", "ne", "e", "se", "s", "sw", "w", "nw", "auto"]
Placement = Literal["center", "n", "ne", "e", "se", "s", "sw", "w", "nw"]
Format = Literal["auto", "avif", "webp", "jpeg", "png", "gif"]
Rotation = Literal[0, 90, 180, 270]
Flip = Literal["", "h", "v", "hv"]

UnitInterval = Annotated[float, Field(ge=0, le=1)]
CropOffset = Annotated[int, Field(ge=0, le=MAX_CROP)]
CropExtent = Annotated[int, Field(ge=1, le=MAX_CROP)]

DEFAULT_PRESETS: dict[str, str] = {
    "thumb": "w=200&h=200&fit=cover&g=auto",
    "small": "w=400",
    "medium": "w=800",
    "large": "w=1600",
    "og": "w=1200&h=630&fit=cover&g=auto",
}

# With a preset these change only delivery details, not the look: a viewer URL spells them beside the
# preset's name (`imgpipe.delivery.viewer_query`). Which of them may go unsigned is a narrower rule,
# `imgpipe.delivery.preset_equivalent`.
PRESET_COMPANIONS = frozenset({"preset", "fm", "dpr", "v", "dl", "exp", "s"})
# A preset is a reusable look; identity and authorisation belong to each request.
_FORBIDDEN_IN_PRESETS = ("preset", "s", "exp")

_GRAVITY_ALIASES: dict[str, str] = {
    "center": "center",
    "centre": "center",
    "n": "n",
    "north": "n",
    "ne": "ne",
    "northeast": "ne",
    "e": "e",
    "east": "e",
    "se": "se",
    "southeast": "se",
    "s": "s",
    "south": "s",
    "sw": "sw",
    "southwest": "sw",
    "w": "w",
    "west": "w",
    "nw": "nw",
    "northwest": "nw",
}
_BOOLEANS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
_WHOLE = re.compile(r"[0-9]+")
_SIGNED_WHOLE = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
_HEX_COLOUR = re.compile(r"[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8}")
_FILENAME = re.compile(r"[A-Za-z0-9._-]{1,120}")
_VERSION = re.compile(r"[A-Za-z0-9._-]{1,64}")
_PRESET_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
_SIGNATURE = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_SIGNATURE_LENGTH}}}")
# Watermark text is drawn, so anything invisible or layout-changing is refused; the zero-width joiners
# stay allowed because emoji sequences need them.
_REFUSED_TEXT_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_EMOJI_JOINERS = frozenset({"\u200c", "\u200d"})


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:37] + "...")


def _rounded(value: Decimal | float, places: int) -> Decimal:
    exact = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    return exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _decimal_text(value: float, places: int) -> str:
    text = f"{value:.{places}f}"
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return "0" if text in ("-0", "") else text


def _clean_float(value: float, places: int) -> float:
    # Adding 0.0 turns -0.0 into 0.0 so both print as "0".
    return float(_rounded(value, places)) + 0.0


class _BadValueError(Exception):
    """Raised by a value parser; the parameter name and allowed values are added by `_Parameter`."""


@dataclass(frozen=True)
class _Parameter:
    """How one query parameter is read from text and written back in canonical form."""

    expects: str  # the allowed values, for error messages
    read: Callable[[str], object]  # raises _BadValueError for anything outside `expects`
    write: Callable[[Any], str]
    keep_commas: bool = False

    def parse(self, name: str, text: str) -> object:
        try:
            return self.read(text)
        except _BadValueError as problem:
            detail = f" ({problem})" if str(problem) else ""
            raise SpecError(name, f"expected {self.expects}, got {_shown(text)}{detail}") from None

    def encode(self, value: object) -> str:
        return quote(self.write(value), safe="," if self.keep_commas else "")


def _read_whole(low: int, high: int) -> Callable[[str], int]:
    def read(text: str) -> int:
        if not _WHOLE.fullmatch(text):
            raise _BadValueError
        number = int(text)
        if not low <= number <= high:
            raise _BadValueError("out of range")
        return number

    return read


def _read_decimal(low: Decimal, high: Decimal, places: int) -> Callable[[str], float]:
    def read(text: str) -> float:
        if not _DECIMAL.fullmatch(text):
            raise _BadValueError
        exact = Decimal(text)
        # Bounds apply to what was written, so 4.001 is refused rather than quietly rounded to 4.
        if not low <= exact <= high:
            raise _BadValueError("out of range")
        return float(_rounded(exact, places)) + 0.0

    return read


def _read_choice(aliases: Mapping[str, str]) -> Callable[[str], str]:
    def read(text: str) -> str:
        try:
            return aliases[text.lower()]
        except KeyError:
            raise _BadValueError from None

    return read


def _read_boolean(text: str) -> bool:
    try:
        return _BOOLEANS[text.lower()]
    except KeyError:
        raise _BadValueError from None


def _read_colour(text: str) -> str:
    if not _HEX_COLOUR.fullmatch(text):
        raise _BadValueError
    digits = text.lower()
    if len(digits) <= 4:
        digits = "".join(digit * 2 for digit in digits)
    # A fully opaque alpha says nothing, so "ff0000ff" and "ff0000" are one colour and one cache entry.
    return digits[:6] if digits[6:] == "ff" else digits


def _read_rotation(text: str) -> int:
    if not _SIGNED_WHOLE.fullmatch(text):
        raise _BadValueError
    return _normalised_rotation(int(text))


def _normalised_rotation(degrees: int) -> int:
    if degrees % 90 or not -360 <= degrees <= 360:
        raise _BadValueError("not a multiple of 90 between -360 and 360")
    return degrees % 360


def _read_focal_point(text: str) -> tuple[float, float]:
    parts = text.split(",")
    if len(parts) != 2:
        raise _BadValueError(f"{len(parts)} values")
    read = _read_decimal(Decimal(0), Decimal(1), 3)
    return read(parts[0]), read(parts[1])


def _read_crop(text: str) -> tuple[int, int, int, int]:
    parts = text.split(",")
    if len(parts) != 4:
        raise _BadValueError(f"{len(parts)} values")
    offset, extent = _read_whole(0, MAX_CROP), _read_whole(1, MAX_CROP)
    return offset(parts[0]), offset(parts[1]), extent(parts[2]), extent(parts[3])


def _read_pattern(pattern: re.Pattern[str]) -> Callable[[str], str]:
    def read(text: str) -> str:
        if not pattern.fullmatch(text):
            raise _BadValueError
        return text

    return read


def _read_filename(text: str) -> str:
    if text.startswith("."):
        raise _BadValueError("starts with '.'")
    return _read_pattern(_FILENAME)(text)


def _read_text(text: str) -> str:
    if not 1 <= len(text) <= MAX_TEXT_LENGTH:
        raise _BadValueError(f"{len(text)} characters")
    for char in text:
        if unicodedata.category(char) in _REFUSED_TEXT_CATEGORIES and char not in _EMOJI_JOINERS:
            raise _BadValueError(f"contains U+{ord(char):04X}")
    return text


def _read_key(text: str) -> str:
    try:
        return validate_key(text, "mark")
    except SpecError as problem:
        raise _BadValueError(problem.message) from None


def _write_decimal(places: int) -> Callable[[float], str]:
    def write(value: float) -> str:
        return _decimal_text(value, places)

    return write


def _write_text(value: object) -> str:
    return str(value)


def _write_boolean(value: bool) -> str:
    return "1" if value else "0"


def _write_focal_point(value: tuple[float, float]) -> str:
    return ",".join(_decimal_text(part, 3) for part in value)


def _write_crop(value: tuple[int, int, int, int]) -> str:
    return ",".join(str(part) for part in value)


_GRAVITIES = "center, n, ne, e, se, s, sw, w, nw (or north, northeast, …, centre)"
_PLACEMENT_ALIASES = _GRAVITY_ALIASES
_GRAVITY_WITH_AUTO = {**_GRAVITY_ALIASES, "auto": "auto"}
_BOOLEAN_TEXT = "1/0, true/false or yes/no"
_COLOUR_TEXT = "a hex colour of 3, 4, 6 or 8 digits (rgb, rgba, rrggbb, rrggbbaa)"

_FORMATS = {name: name for name in ("auto", "avif", "webp", "jpeg", "png", "gif")}
_TOKEN_CHARACTERS = "characters A-Z a-z 0-9 . _ -"

_PARAMETERS: dict[str, _Parameter] = {
    "w": _Parameter(
        f"a whole number of CSS pixels from 1 to {MAX_SIDE}", _read_whole(1, MAX_SIDE), _write_text
    ),
    "h": _Parameter(
        f"a whole number of CSS pixels from 1 to {MAX_SIDE}", _read_whole(1, MAX_SIDE), _write_text
    ),
    "dpr": _Parameter(
        f"a device pixel ratio from 1 to {MAX_DPR}",
        _read_decimal(Decimal(1), Decimal(MAX_DPR), 2),
        _write_decimal(2),
    ),
    "fit": _Parameter(
        "one of inside, cover, contain, fill",
        _read_choice({name: name for name in ("inside", "cover", "contain", "fill")}),
        _write_text,
    ),
    "up": _Parameter(_BOOLEAN_TEXT, _read_boolean, _write_boolean),
    "g": _Parameter(f"a gravity: auto, {_GRAVITIES}", _read_choice(_GRAVITY_WITH_AUTO), _write_text),
    "fp": _Parameter(
        "a focal point x,y with both from 0 to 1", _read_focal_point, _write_focal_point, keep_commas=True
    ),
    "crop": _Parameter(
        f"a region x,y,w,h in source pixels (x, y from 0, w, h from 1, each at most {MAX_CROP})",
        _read_crop,
        _write_crop,
        keep_commas=True,
    ),
    "fm": _Parameter(
        "one of auto, avif, webp, jpeg (or jpg), png, gif",
        _read_choice({**_FORMATS, "jpg": "jpeg"}),
        _write_text,
    ),
    "q": _Parameter("a quality from 1 to 100", _read_whole(1, 100), _write_text),
    "bg": _Parameter(_COLOUR_TEXT, _read_colour, _write_text),
    "blur": _Parameter(
        "a blur radius from 0 to 100", _read_decimal(Decimal(0), Decimal(100), 1), _write_decimal(1)
    ),
    "sharp": _Parameter(
        "a sharpening amount from 0 to 100", _read_decimal(Decimal(0), Decimal(100), 1), _write_decimal(1)
    ),
    "rot": _Parameter(
        "a clockwise rotation of 0, 90, 180 or 270 (or -90, 360, …)", _read_rotation, _write_text
    ),
    "flip": _Parameter(
        "one of h, v, hv", _read_choice({"": "", "h": "h", "v": "v", "hv": "hv", "vh": "hv"}), _write_text
    ),
    "gray": _Parameter(_BOOLEAN_TEXT, _read_boolean, _write_boolean),
    "anim": _Parameter(_BOOLEAN_TEXT, _read_boolean, _write_boolean),
    "preset": _Parameter(
        f"a preset name of 1 to 64 {_TOKEN_CHARACTERS}", _read_pattern(_PRESET_NAME), _write_text
    ),
    "dl": _Parameter(
        f"a file name of 1 to 120 {_TOKEN_CHARACTERS}, not starting with '.'", _read_filename, _write_text
    ),
    "v": _Parameter(f"a version of 1 to 64 {_TOKEN_CHARACTERS}", _read_pattern(_VERSION), _write_text),
    "exp": _Parameter(f"a unix time in seconds from 0 to {MAX_EXP}", _read_whole(0, MAX_EXP), _write_text),
    "s": _Parameter(
        f"a URL-safe base64 signature of 1 to {MAX_SIGNATURE_LENGTH} characters without padding",
        _read_pattern(_SIGNATURE),
        _write_text,
    ),
    "mark": _Parameter("the key of an overlay image", _read_key, _write_text),
    "markpos": _Parameter(f"a position: {_GRAVITIES}", _read_choice(_PLACEMENT_ALIASES), _write_text),
    "markalpha": _Parameter("an opacity percentage from 0 to 100", _read_whole(0, 100), _write_text),
    "markw": _Parameter(
        "a fraction of the output width from 0.01 to 1",
        _read_decimal(Decimal("0.01"), Decimal(1), 3),
        _write_decimal(3),
    ),
    "txt": _Parameter(
        f"1 to {MAX_TEXT_LENGTH} printable characters with no control or formatting characters",
        _read_text,
        _write_text,
    ),
    "txtpos": _Parameter(f"a position: {_GRAVITIES}", _read_choice(_PLACEMENT_ALIASES), _write_text),
    "txtsize": _Parameter("a text size in CSS pixels from 6 to 400", _read_whole(6, 400), _write_text),
    "txtclr": _Parameter(_COLOUR_TEXT, _read_colour, _write_text),
}

PARAMETER_NAMES: tuple[str, ...] = tuple(sorted(_PARAMETERS))
_DECIMAL_PLACES = {"dpr": 2, "blur": 1, "sharp": 1, "markw": 3}


def _decode(text: str, param: str) -> str:
    try:
        return unquote_to_bytes(text.replace("+", " ")).decode("utf-8")
    except UnicodeError:
        raise SpecError(param, "the value is not UTF-8 text after percent-decoding") from None


def _split_query(query: str) -> dict[str, str]:
    """The decoded parameters of a query string, in the order given, checked for shape but not value."""
    query = query.removeprefix("?")
    if len(query) > MAX_QUERY_LENGTH:
        raise SpecError(
            "query", f"the query has {len(query)} characters; at most {MAX_QUERY_LENGTH} are allowed"
        )
    given: dict[str, str] = {}
    for piece in query.split("&"):
        if not piece:
            continue  # "a=1&&b=2" and a trailing "&" carry no parameter
        raw_name, _, raw_value = piece.partition("=")
        name = _decode(raw_name, "query")
        if not name:
            raise SpecError("query", f"a parameter has no name: {_shown(piece)}")
        if name not in _PARAMETERS:
            raise SpecError(name, f"unknown parameter; the parameters are {', '.join(PARAMETER_NAMES)}")
        if name in given:
            raise SpecError(name, "the parameter is given more than once")
        value = _decode(raw_value, name)
        if not value:
            raise SpecError(name, f"the value is empty; expected {_PARAMETERS[name].expects}")
        given[name] = value
    return given


class TransformSpec(BaseModel):
    """One requested transformation. Build it with `parse()`; `canonical()` is its one spelling.

    Presets are expanded by `parse()`; a spec constructed directly with `preset=` only records the name.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    w: int | None = Field(default=None, ge=1, le=MAX_SIDE, description="CSS pixels, before dpr")
    h: int | None = Field(default=None, ge=1, le=MAX_SIDE, description="CSS pixels, before dpr")
    dpr: float = Field(default=1.0, ge=1, le=MAX_DPR)
    fit: Fit = "inside"
    up: bool = Field(default=False, description="allow enlargement")
    g: Gravity = "center"
    fp: tuple[UnitInterval, UnitInterval] | None = Field(default=None, description="focal point x, y")
    crop: tuple[CropOffset, CropOffset, CropExtent, CropExtent] | None = Field(
        default=None, description="x, y, w, h in upright source pixels"
    )
    fm: Format = "auto"
    q: int | None = Field(default=None, ge=1, le=100, description="None means the engine default")
    bg: str | None = Field(default=None, description="rrggbb or rrggbbaa")
    blur: float = Field(default=0.0, ge=0, le=100, description="Gaussian sigma in output pixels")
    sharp: float = Field(default=0.0, ge=0, le=100)
    rot: Rotation = Field(default=0, description="clockwise degrees")
    flip: Flip = ""
    gray: bool = False
    anim: bool = Field(default=True, description="keep animation when the output format can")
    preset: str | None = None
    dl: str | None = Field(default=None, description="download file name")
    v: str | None = Field(default=None, description="cache-buster")
    exp: int | None = Field(default=None, ge=0, le=MAX_EXP, description="unix seconds")
    s: str | None = Field(default=None, description="signature")
    mark: str | None = Field(default=None, description="source key of the overlay image")
    markpos: Placement = "se"
    markalpha: int = Field(default=100, ge=0, le=100, description="opacity in percent")
    markw: float = Field(default=0.25, ge=0.01, le=1, description="fraction of the output width")
    txt: str | None = None
    txtpos: Placement = "se"
    txtsize: int = Field(default=24, ge=6, le=400, description="CSS pixels")
    txtclr: str = "ffffff"

    # Which parameters the request itself named (not its preset); None when built without `parse()`.
    _explicit: frozenset[str] | None = PrivateAttr(default=None)

    @field_validator("*", mode="before")
    @classmethod
    def _read_query_text(cls, value: Any, info: ValidationInfo) -> Any:
        name = info.field_name
        if name is None:
            return value
        if isinstance(value, str):
            return _PARAMETERS[name].parse(name, value)
        if name == "rot" and isinstance(value, int) and not isinstance(value, bool):
            try:
                return _normalised_rotation(value)
            except _BadValueError:
                return value  # the Literal check reports it
        return value

    @field_validator("dpr", "blur", "sharp", "markw")
    @classmethod
    def _round_decimal(cls, value: float, info: ValidationInfo) -> float:
        return _clean_float(value, _DECIMAL_PLACES[str(info.field_name)])

    @field_validator("fp")
    @classmethod
    def _round_focal_point(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is None:
            return None
        return _clean_float(value[0], 3), _clean_float(value[1], 3)

    @model_validator(mode="after")
    def _fits_in_a_url(self) -> TransformSpec:
        length = len(self.canonical())
        if length > MAX_CANONICAL_LENGTH:
            raise SpecError(
                "query",
                f"the canonical form would be {length} characters once percent-encoded; "
                f"at most {MAX_CANONICAL_LENGTH} are allowed",
            )
        return self

    # Equality and hashing cover the parameters only: how a spec was spelt does not change what it asks for.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TransformSpec):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash(tuple(self.__dict__.values()))

    @classmethod
    def parse(cls, query: str, presets: Mapping[str, str] | None = None) -> TransformSpec:
        """Read a query string such as `w=800&fm=webp` (a leading `?` is allowed); raises SpecError."""
        presets = DEFAULT_PRESETS if presets is None else presets
        given = _split_query(query)
        values: dict[str, object] = {}
        if "preset" in given:
            name = _PARAMETERS["preset"].parse("preset", given["preset"])
            values.update(_preset_values(str(name), presets))
        values.update(given)
        spec = cls._validated(values)
        spec._explicit = frozenset(given)
        return spec

    @classmethod
    def _validated(cls, values: Mapping[str, object]) -> TransformSpec:
        try:
            return cls.model_validate(values)
        except ValidationError as failure:
            first = failure.errors()[0]
            cause = (first.get("ctx") or {}).get("error")
            if isinstance(cause, SpecError):
                raise cause from None
            param = str(first["loc"][0]) if first["loc"] else "query"
            raise SpecError(param, first["msg"]) from None

    def canonical(self) -> str:
        """The canonical query (no `?`): the cache key and the text a signature covers."""
        return self._query(include_expiry=True)

    def variant_query(self) -> str:
        """The canonical query without `exp`: names the stored rendition, so it needs a concrete format."""
        if self.fm == "auto":
            raise ValueError("a stored rendition needs a concrete format; call with_format() first")
        return self._query(include_expiry=False)

    def _query(self, include_expiry: bool) -> str:
        pairs: list[str] = []
        for name in PARAMETER_NAMES:
            # The preset is already expanded into its values, and a signature cannot sign itself.
            if name in ("preset", "s") or (name == "exp" and not include_expiry):
                continue
            value = getattr(self, name)
            if value == type(self).model_fields[name].default:
                continue
            pairs.append(f"{name}={_PARAMETERS[name].encode(value)}")
        return "&".join(pairs)

    def param_pair(self, name: str) -> str:
        """`name=value` as the canonical query spells it, written even when the value is the default."""
        return f"{name}={_PARAMETERS[name].encode(getattr(self, name))}"

    def with_format(self, fmt: str) -> TransformSpec:
        """A copy with `fm` set (for example to the negotiated format)."""
        return self.model_copy(update={"fm": _PARAMETERS["fm"].parse("fm", fmt)})

    def target_size(self) -> tuple[int | None, int | None]:
        """Requested width and height in device pixels (CSS pixels × dpr, rounded half up)."""
        ratio = _rounded(self.dpr, 2)

        def scaled(side: int | None) -> int | None:
            return None if side is None else int((side * ratio).quantize(Decimal(1), rounding=ROUND_HALF_UP))

        return scaled(self.w), scaled(self.h)


def _preset_spec(name: str, query: str) -> TransformSpec:
    """The spec a preset definition stands for, without expanding further presets."""
    try:
        given = _split_query(query)
        forbidden = [param for param in _FORBIDDEN_IN_PRESETS if param in given]
        if forbidden:
            raise SpecError(forbidden[0], "is not allowed inside a preset definition")
        return TransformSpec.parse(query, presets={})
    except SpecError as problem:
        raise SpecError("preset", f"preset {name!r} is invalid: {problem}") from None


def _preset_values(name: str, presets: Mapping[str, str]) -> dict[str, object]:
    if name not in presets:
        known = ", ".join(sorted(presets)) or "none are configured"
        raise SpecError("preset", f"unknown preset {_shown(name)}; the presets are {known}")
    spec = _preset_spec(name, presets[name])
    return {param: getattr(spec, param) for param in spec._explicit or ()}


def validate_presets(presets: Mapping[str, str]) -> dict[str, TransformSpec]:
    """Check preset definitions (for example from configuration) and return the spec each name requests."""
    specs: dict[str, TransformSpec] = {}
    for name, query in presets.items():
        if not _PRESET_NAME.fullmatch(name):
            raise SpecError("preset", f"the name {_shown(name)} is not 1 to 64 characters A-Z a-z 0-9 . _ -")
        _preset_spec(name, query)
        specs[name] = TransformSpec.parse(f"preset={name}", presets)
    return specs
