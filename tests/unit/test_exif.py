"""EXIF summary: camera, time taken, orientation, GPS presence — and no exception from hostile tags."""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image

from imgpipe.core.exif import MAX_TEXT, ExifSummary, summarise_exif

MAKE, MODEL, ORIENTATION, DATETIME = 0x010F, 0x0110, 0x0112, 0x0132
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
DATETIME_ORIGINAL, OFFSET_TIME, OFFSET_TIME_ORIGINAL = 0x9003, 0x9010, 0x9011

# TIFF field types
ASCII, SHORT, LONG, RATIONAL, UNDEFINED = 2, 3, 4, 5, 7


def _reopen(exif: Image.Exif | bytes, fmt: str = "JPEG") -> Image.Image:
    """Save a small image with this EXIF to bytes in memory and open it again, as ingest would."""
    raw = exif.tobytes() if isinstance(exif, Image.Exif) else exif
    out = io.BytesIO()
    Image.new("RGB", (16, 12), (90, 120, 150)).save(out, fmt, exif=raw)
    return Image.open(io.BytesIO(out.getvalue()))


def _raw_exif(entries: list[tuple[int, int, int, bytes]]) -> bytes:
    """Hand-made little-endian EXIF with one IFD of (tag, type, count, payload): any type for any tag."""
    table = struct.pack("<H", len(entries))
    data = b""
    data_start = 8 + 2 + 12 * len(entries) + 4
    for tag, kind, count, payload in entries:
        if len(payload) <= 4:
            table += struct.pack("<HHI", tag, kind, count) + payload.ljust(4, b"\0")
        else:
            table += struct.pack("<HHII", tag, kind, count, data_start + len(data))
            data += payload + b"\0" * (len(payload) % 2)
    return b"Exif\0\0" + b"II*\0" + struct.pack("<I", 8) + table + struct.pack("<I", 0) + data


def _ascii(tag: int, text: bytes) -> tuple[int, int, int, bytes]:
    return (tag, ASCII, len(text) + 1, text + b"\0")


def _assert_clean(text: str | None) -> None:
    if text is not None:
        assert text
        assert len(text) <= MAX_TEXT
        assert text.isprintable()
        assert text == text.strip()
        assert "<" not in text
        assert ">" not in text
        assert "\0" not in text


# --- camera -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "model", "camera"),
    [
        ("Canon", "Canon EOS 7D", "Canon EOS 7D"),
        ("NIKON CORPORATION", "NIKON D750", "NIKON D750"),
        ("Apple", "iPhone 15 Pro", "Apple iPhone 15 Pro"),
        ("SONY", "ILCE-7M3", "SONY ILCE-7M3"),
        ("  Canon \0\0", "Canon  EOS R5\0\0\0", "Canon EOS R5"),
        ("FUJIFILM", None, "FUJIFILM"),
        (None, "X100V", "X100V"),
        (None, None, None),
        ("   ", "\0\0", None),
    ],
)
def test_camera_is_make_and_model_without_the_make_twice(
    make: str | None, model: str | None, camera: str | None
) -> None:
    # Given a JPEG with this Make and Model
    exif = Image.Exif()
    if make is not None:
        exif[MAKE] = make
    if model is not None:
        exif[MODEL] = model
    # When summarised
    summary = summarise_exif(_reopen(exif))
    # Then the camera reads naturally, trimmed and de-duplicated
    assert summary.camera == camera


def test_camera_text_is_capped_and_utf8_recovered() -> None:
    # Given a 300-character make and a UTF-8 model stored in an ASCII tag
    raw = _raw_exif([_ascii(MAKE, b"M" * 300), _ascii(MODEL, "Léica Ω".encode())])
    # When summarised
    camera = summarise_exif(_reopen(raw)).camera
    # Then the text is at most 64 characters and the UTF-8 is read as UTF-8
    assert camera is not None
    assert len(camera) == MAX_TEXT
    assert summarise_exif(_reopen(_raw_exif([_ascii(MODEL, "Léica Ω".encode())]))).camera == "Léica Ω"


# --- time taken ---------------------------------------------------------------------------------


def _dated(ifd0: dict[int, str], sub: dict[int, str]) -> ExifSummary:
    exif = Image.Exif()
    for tag, value in ifd0.items():
        exif[tag] = value
    exif_ifd = exif.get_ifd(EXIF_IFD)
    for tag, value in sub.items():
        exif_ifd[tag] = value
    return summarise_exif(_reopen(exif))


@pytest.mark.parametrize(
    ("ifd0", "sub", "taken_at"),
    [
        ({}, {DATETIME_ORIGINAL: "2021:03:04 05:06:07"}, "2021-03-04T05:06:07"),
        (
            {},
            {DATETIME_ORIGINAL: "2021:03:04 05:06:07", OFFSET_TIME_ORIGINAL: "+02:00"},
            "2021-03-04T05:06:07+02:00",
        ),
        (
            {},
            {DATETIME_ORIGINAL: "2019:12:31 23:59:59", OFFSET_TIME_ORIGINAL: "-05:30"},
            "2019-12-31T23:59:59-05:30",
        ),
        ({DATETIME: "2020:01:02 03:04:05"}, {}, "2020-01-02T03:04:05"),
        ({DATETIME: "2020:01:02 03:04:05"}, {OFFSET_TIME: "+09:00"}, "2020-01-02T03:04:05+09:00"),
        (
            {DATETIME: "2020:01:02 03:04:05"},
            {DATETIME_ORIGINAL: "2018:07:08 09:10:11", OFFSET_TIME_ORIGINAL: "+01:00", OFFSET_TIME: "+09:00"},
            "2018-07-08T09:10:11+01:00",
        ),
        (
            {},
            {DATETIME_ORIGINAL: "2021:03:04 05:06:07", OFFSET_TIME_ORIGINAL: "+25:00"},
            "2021-03-04T05:06:07",
        ),
        ({}, {DATETIME_ORIGINAL: "2021:03:04 05:06:07", OFFSET_TIME_ORIGINAL: "junk"}, "2021-03-04T05:06:07"),
        ({}, {DATETIME_ORIGINAL: "2021:03:04 05:06:07.123"}, "2021-03-04T05:06:07"),
    ],
)
def test_taken_at_is_iso_8601_with_the_offset_when_known(
    ifd0: dict[int, str], sub: dict[int, str], taken_at: str
) -> None:
    # Given a JPEG with these date tags / When summarised
    summary = _dated(ifd0, sub)
    # Then DateTimeOriginal wins over DateTime, each with its own offset tag if that is valid
    assert summary.taken_at == taken_at


@pytest.mark.parametrize(
    "bad",
    [
        "0000:00:00 00:00:00",
        "    :  :     :  :  ",
        "2021:13:01 00:00:00",
        "2021:02:30 10:00:00",
        "2021:01:01 24:00:00",
        "yesterday",
        "",
    ],
)
def test_unparsable_dates_are_none(bad: str) -> None:
    # Given a JPEG whose only date is invalid / When summarised / Then there is no time taken
    assert _dated({}, {DATETIME_ORIGINAL: bad}).taken_at is None


def test_an_invalid_original_date_falls_back_to_datetime() -> None:
    # Given a zeroed DateTimeOriginal and a good DateTime / When summarised / Then DateTime is used
    summary = _dated({DATETIME: "2022:05:06 07:08:09"}, {DATETIME_ORIGINAL: "0000:00:00 00:00:00"})
    assert summary.taken_at == "2022-05-06T07:08:09"


# --- orientation and GPS ------------------------------------------------------------------------


@pytest.mark.parametrize("value", range(1, 9))
def test_orientation_values_1_to_8_are_kept(value: int) -> None:
    # Given a JPEG with this orientation
    exif = Image.Exif()
    exif[ORIENTATION] = value
    # When / Then
    assert summarise_exif(_reopen(exif)).orientation == value


@pytest.mark.parametrize("value", [0, 9, 255, 65535])
def test_invalid_orientations_are_1(value: int) -> None:
    # Given an out-of-range orientation
    exif = Image.Exif()
    exif[ORIENTATION] = value
    # When / Then it reads as upright
    assert summarise_exif(_reopen(exif)).orientation == 1


def test_gps_is_detected_and_nothing_else_is_invented() -> None:
    # Given one JPEG with a GPS directory and one with none
    exif = Image.Exif()
    gps = exif.get_ifd(GPS_IFD)
    gps[1] = "N"
    gps[2] = (52.0, 31.0, 12.0)
    with_gps = summarise_exif(_reopen(exif))
    plain = summarise_exif(_reopen(Image.Exif()))
    # When / Then only the first has GPS, and the empty one has all defaults
    assert with_gps.has_gps is True
    assert plain == ExifSummary(camera=None, taken_at=None, orientation=1, has_gps=False)


def test_an_image_without_any_exif_gives_the_defaults() -> None:
    # Given a freshly made PNG with no metadata
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "PNG")
    # When / Then
    assert summarise_exif(Image.open(io.BytesIO(out.getvalue()))) == ExifSummary()


def test_exif_from_a_png_chunk_is_read_too() -> None:
    # Given a PNG with an eXIf chunk
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif[MAKE] = "Canon"
    # When / Then
    summary = summarise_exif(_reopen(exif, "PNG"))
    assert (summary.orientation, summary.camera) == (6, "Canon")


# --- hostile EXIF -------------------------------------------------------------------------------

JUNK = {
    "orientation-as-text": [_ascii(ORIENTATION, b"six")],
    "orientation-huge": [(ORIENTATION, LONG, 1, struct.pack("<I", 2**32 - 1))],
    "orientation-two-values": [(ORIENTATION, SHORT, 2, struct.pack("<HH", 6, 3))],
    "orientation-rational-zero": [(ORIENTATION, RATIONAL, 1, struct.pack("<II", 6, 0))],
    "make-as-number": [(MAKE, SHORT, 1, struct.pack("<H", 7))],
    "make-not-utf8": [(MAKE, ASCII, 6, b"\xff\xfe\xc3(\x01\0")],
    "model-undefined-bytes": [(MODEL, UNDEFINED, 5, b"ab\0cd")],
    "model-control-chars": [_ascii(MODEL, b"EOS\x1b[31m\x07\r\n7D")],
    "php-in-make": [_ascii(MAKE, b"<?php system($_GET['c']); ?>")],
    "script-in-model": [_ascii(MODEL, b"<script>alert(1)</script>")],
    "zero-division-dpi": [
        (0x011A, RATIONAL, 1, struct.pack("<II", 1, 0)),
        (0x011B, RATIONAL, 1, struct.pack("<II", 0, 0)),
    ],
    "datetime-as-rational": [(DATETIME, RATIONAL, 1, struct.pack("<II", 1, 0))],
    "datetime-huge-year": [_ascii(DATETIME, b"99999:01:01 00:00:00")],
    "gps-pointer-as-text": [_ascii(GPS_IFD, b"junk")],
    "gps-pointer-out-of-file": [(GPS_IFD, LONG, 1, struct.pack("<I", 99999))],
    "exif-pointer-out-of-file": [(EXIF_IFD, LONG, 1, struct.pack("<I", 99999))],
    "exif-pointer-loops-to-ifd0": [(EXIF_IFD, LONG, 1, struct.pack("<I", 8))],
    "huge-count": [(MAKE, ASCII, 2**31, struct.pack("<I", 20))],
    "unknown-type": [(MAKE, 99, 1, b"\x01\x02\x03\x04")],
}


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about the corrupt EXIF; that is the point
@pytest.mark.parametrize("entries", list(JUNK.values()), ids=list(JUNK))
def test_hostile_exif_never_raises(entries: list[tuple[int, int, int, bytes]]) -> None:
    # Given a JPEG whose EXIF has a tag of the wrong type, size or content
    image = _reopen(_raw_exif([*entries, _ascii(0x0131, b"imgpipe-test")]))
    # When summarised
    summary = summarise_exif(image)
    # Then a summary comes back, within its ranges and with clean text
    assert 1 <= summary.orientation <= 8
    _assert_clean(summary.camera)
    _assert_clean(summary.taken_at)


def test_hostile_text_is_defanged() -> None:
    # Given markup in the make and escape sequences in the model
    raw = _raw_exif([_ascii(MAKE, b"<?php system('id'); ?>"), _ascii(MODEL, b"EOS\x1b[31m\r\n7D")])
    # When summarised
    camera = summarise_exif(_reopen(raw)).camera
    # Then what is left is plain printable text
    assert camera == "?php system('id'); ? EOS [31m 7D"


def test_bad_tags_cost_only_their_own_fact() -> None:
    # Given a good make, model and date next to junk orientation and a broken GPS pointer
    raw = _raw_exif(
        [
            _ascii(MAKE, b"Canon"),
            _ascii(MODEL, b"Canon EOS 7D"),
            _ascii(ORIENTATION, b"six"),
            _ascii(DATETIME, b"2020:01:02 03:04:05"),
            _ascii(GPS_IFD, b"junk"),
        ]
    )
    # When summarised
    summary = summarise_exif(_reopen(raw))
    # Then the good facts survive
    assert summary == ExifSummary(
        camera="Canon EOS 7D", taken_at="2020-01-02T03:04:05", orientation=1, has_gps=False
    )


def test_a_parser_that_raises_gives_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an image whose EXIF parser blows up
    image = _reopen(Image.Exif())

    def boom() -> Image.Exif:
        raise SyntaxError("not a TIFF file")

    monkeypatch.setattr(image, "getexif", boom)
    # When / Then the summary is the empty one
    assert summarise_exif(image) == ExifSummary()


def test_a_sub_directory_that_raises_keeps_the_other_facts(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a camera, an orientation and GPS, but every sub-IFD read fails
    exif = Image.Exif()
    exif[MAKE] = "Canon"
    exif[ORIENTATION] = 3
    exif.get_ifd(GPS_IFD)[1] = "N"
    image = _reopen(exif)

    def broken(self: Image.Exif, tag: int) -> dict[int, object]:
        raise struct.error("unpack requires a buffer of 12 bytes")

    monkeypatch.setattr(Image.Exif, "get_ifd", broken)
    # When summarised
    summary = summarise_exif(image)
    # Then IFD0 facts are there and GPS is unknown (False)
    assert (summary.camera, summary.orientation, summary.has_gps) == ("Canon", 3, False)


def test_summary_is_frozen_and_checks_orientation() -> None:
    # Given / When / Then
    summary = ExifSummary()
    with pytest.raises(ValueError, match="frozen"):
        summary.orientation = 6  # type: ignore[misc]
    with pytest.raises(ValueError, match="less than or equal to 8"):
        ExifSummary(orientation=9)
