"""The few EXIF facts the image record keeps: camera, time taken, orientation, and whether GPS was there.

EXIF is attacker-controlled input: any tag may have any type, any count, any bytes. `summarise_exif`
never raises; each fact is read on its own so one broken tag costs only that fact. Text is sanitised
before it is stored (printable characters only, whitespace collapsed, no angle brackets, at most
64 characters). GPS values are never read, only whether a GPS directory with entries exists.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["MAX_TEXT", "ExifSummary", "summarise_exif"]

MAX_TEXT = 64

_MAKE = 0x010F
_MODEL = 0x0110
_ORIENTATION = 0x0112
_DATETIME = 0x0132
_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_DATETIME_ORIGINAL = 0x9003
_OFFSET_TIME = 0x9010
_OFFSET_TIME_ORIGINAL = 0x9011

# "YYYY:MM:DD HH:MM:SS" per the standard; dashes and a "T" are tolerated, trailing sub-seconds ignored.
_DATE = re.compile(r"(\d{4})[:\-](\d{2})[:\-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})")


class ExifSummary(BaseModel):
    """Selected EXIF facts of a source image."""

    model_config = ConfigDict(frozen=True)

    camera: str | None = None
    taken_at: str | None = None
    orientation: int = Field(default=1, ge=1, le=8)
    has_gps: bool = False


def summarise_exif(image: Image.Image) -> ExifSummary:
    """The camera, time taken, orientation and GPS presence of an image; never raises."""
    try:
        exif = image.getexif()
    except Exception:
        # Pillow's EXIF parser reports broken data with many exception types (struct.error,
        # ValueError, SyntaxError, OSError, ...). Metadata is optional: no EXIF, not a failure.
        return ExifSummary()
    ifd0: Mapping[int, Any] = exif
    sub: Mapping[int, Any] = _guarded(lambda: _ifd(exif, _EXIF_IFD), {})
    return ExifSummary(
        camera=_guarded(lambda: _camera(ifd0), None),
        taken_at=_guarded(lambda: _taken_at(ifd0, sub), None),
        orientation=_guarded(lambda: _orientation(ifd0), 1),
        has_gps=_guarded(lambda: bool(_ifd(exif, _GPS_IFD)), False),
    )


def _guarded[T](read: Callable[[], T], fallback: T) -> T:
    try:
        return read()
    except Exception:
        # Deliberately broad: tag values arrive in whatever type the file claims (rationals with a
        # zero denominator, tuples, bytes, huge ints), and nested directories are parsed lazily by
        # Pillow, which may raise anything its parser raises. One bad tag loses only its own fact.
        return fallback


def _ifd(exif: Image.Exif, tag: int) -> dict[int, Any]:
    # Only follow a pointer that is there: `get_ifd` of an absent directory caches an empty one in the
    # caller's Exif object, which would then be written out by a later `tobytes()`.
    if tag not in exif:
        return {}
    ifd = exif.get_ifd(tag)
    return ifd if isinstance(ifd, dict) else {}


def _get(ifds: tuple[Mapping[int, Any], ...], tag: int) -> Any:
    for ifd in ifds:
        value = ifd.get(tag)
        if value is not None:
            return value
    return None


# --- text ---------------------------------------------------------------------------------------


def _text(value: object) -> str | None:
    """Printable text from a tag value, or None when it is not text or nothing printable is left."""
    if isinstance(value, bytes):
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            text = value.decode("latin-1")
    elif isinstance(value, str):
        text = value
        with contextlib.suppress(UnicodeError):
            # Pillow decodes ASCII tags as Latin-1; writers that put UTF-8 there get it back here.
            text = value.encode("latin-1").decode("utf-8")
    else:
        return None
    # NULs (terminators, padding) and other control characters become separators; angle brackets go
    # so that markup or script smuggled into a tag (a known web-shell trick) cannot survive as such.
    cleaned = "".join(c if c.isprintable() and c not in "<>" else " " for c in text[: MAX_TEXT * 16])
    collapsed = " ".join(cleaned.split())[:MAX_TEXT].rstrip()
    return collapsed or None


def _camera(ifd0: Mapping[int, Any]) -> str | None:
    make = _text(ifd0.get(_MAKE))
    model = _text(ifd0.get(_MODEL))
    if make is None or model is None:
        return make or model
    lowered_model = model.lower()
    first_word = make.split()[0].lower()
    if lowered_model.startswith(make.lower()):
        return model  # "Canon" + "Canon EOS 7D"
    if len(first_word) > 1 and (lowered_model == first_word or lowered_model.startswith(first_word + " ")):
        return model  # "NIKON CORPORATION" + "NIKON D750"
    return f"{make} {model}"[:MAX_TEXT].rstrip()


# --- time taken ---------------------------------------------------------------------------------


def _taken_at(ifd0: Mapping[int, Any], sub: Mapping[int, Any]) -> str | None:
    # DateTimeOriginal (when the picture was taken) lives in the Exif IFD; some writers put it in IFD0.
    # DateTime (last changed) is the fallback, paired with its own offset tag.
    pairs = ((_DATETIME_ORIGINAL, _OFFSET_TIME_ORIGINAL), (_DATETIME, _OFFSET_TIME))
    for date_tag, offset_tag in pairs:
        when = _parse_date(_get((sub, ifd0), date_tag))
        if when is not None:
            return when + (_parse_offset(_get((sub, ifd0), offset_tag)) or "")
    return None


def _parse_date(value: object) -> str | None:
    text = _text(value)
    if text is None:
        return None
    match = _DATE.match(text)
    if match is None:
        return None
    try:
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        return datetime(year, month, day, hour, minute, second).isoformat()
    except ValueError:
        return None  # "0000:00:00 00:00:00", month 13, hour 24 ...


def _parse_offset(value: object) -> str | None:
    text = _text(value)
    if text is None:
        return None
    match = _OFFSET.fullmatch(text)
    if match is None:
        return None
    sign, hours, minutes = match.groups()
    if int(hours) > 14 or int(minutes) > 59:
        return None  # real offsets run from -12:00 to +14:00
    return f"{sign}{hours}:{minutes}"


# --- orientation --------------------------------------------------------------------------------


def _orientation(ifd0: Mapping[int, Any]) -> int:
    value = ifd0.get(_ORIENTATION)
    if isinstance(value, tuple | list) and len(value) == 1:
        value = value[0]
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 8:
        return value
    return 1
