"""Format negotiation for fm=auto: real browser Accept headers, q-values, alpha and animation."""

from __future__ import annotations

import pytest

from imgpipe.core.models import OutputFormat
from imgpipe.core.negotiate import FORMAT_EXTENSIONS, MEDIA_TYPES, content_type, negotiate

CHROME = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
FIREFOX = "image/avif,image/webp,*/*"
FIREFOX_OLD = "image/webp,*/*"
SAFARI = (
    "image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,image/png,"
    "image/svg+xml,image/*;q=0.8,*/*;q=0.5"
)
SAFARI_OLD = "image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5"
CURL = "*/*"

MATRIX = [
    # (accept, has_alpha, animated, expected)
    (CHROME, False, False, "avif"),
    (CHROME, True, False, "avif"),
    (CHROME, False, True, "webp"),
    (FIREFOX, False, False, "avif"),
    (FIREFOX, True, True, "webp"),
    (FIREFOX_OLD, False, False, "webp"),
    (FIREFOX_OLD, True, False, "webp"),
    (SAFARI, False, False, "avif"),
    (SAFARI, True, True, "webp"),
    (SAFARI_OLD, False, False, "jpeg"),
    (SAFARI_OLD, True, False, "png"),
    (SAFARI_OLD, True, True, "gif"),
    (CURL, False, False, "jpeg"),
    (CURL, True, False, "png"),
    (CURL, False, True, "gif"),
    ("image/*", False, False, "jpeg"),
    (None, False, False, "jpeg"),
    (None, True, False, "png"),
    (None, False, True, "gif"),
    ("", True, False, "png"),
]


@pytest.mark.parametrize(("accept", "has_alpha", "animated", "expected"), MATRIX)
def test_browser_accept_headers_get_the_best_format_they_decode(
    accept: str | None, has_alpha: bool, animated: bool, expected: OutputFormat
) -> None:
    # Given a real client's Accept header and the picture's alpha/animation
    # When the output format is negotiated
    chosen = negotiate(accept, has_alpha, animated)
    # Then it is the most efficient format the client named, falling back by alpha
    assert chosen == expected


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("image/avif;q=0,image/webp", "webp"),
        ("image/avif;q=0.0,image/webp;q=0", "jpeg"),
        ("image/avif;q=0.000,*/*", "jpeg"),
        ("image/avif;q=0.001", "avif"),
        ("image/avif; q=0.5 , image/webp", "avif"),
        ("image/avif,image/avif;q=0", "jpeg"),
    ],
)
def test_q_zero_means_refused(accept: str, expected: OutputFormat) -> None:
    # Given an Accept header that refuses some formats with q=0 (however it is spelt)
    # When negotiated for an opaque still
    # Then a refused format is never chosen, even if also listed without q
    assert negotiate(accept, False, False) == expected


def test_animated_webp_refused_falls_back_to_gif() -> None:
    # Given a client that refuses WebP explicitly
    # When an animation is negotiated
    # Then it stays GIF
    assert negotiate("image/avif,image/webp;q=0,*/*", True, True) == "gif"


@pytest.mark.parametrize(
    "accept",
    ["IMAGE/AVIF,IMAGE/WEBP", "Image/Avif", "image/avif;Q=1", "  image/avif  ;  q=1  "],
)
def test_media_types_and_parameters_are_case_and_space_insensitive(accept: str) -> None:
    # Given odd case and spacing
    # When negotiated
    # Then AVIF is still recognised
    assert negotiate(accept, False, False) == "avif"


@pytest.mark.parametrize(
    "accept",
    [
        "image/avif;q=abc,image/webp",
        "image/avif;q=2,image/webp",
        "image/avif;q=-1,image/webp",
        "image/avif;q=1.5,image/webp",
        "image/avif;q=0.1234,image/webp",
        "avif,image/webp",
        "image/ avif,image/webp",
        ",,;;=,image/webp",
    ],
)
def test_malformed_parts_are_ignored(accept: str) -> None:
    # Given an Accept header whose AVIF part is malformed
    # When negotiated
    # Then only that part is dropped and the well-formed WebP part still counts
    assert negotiate(accept, False, False) == "webp"


@pytest.mark.parametrize(
    "accept", ["*/*", "image/*", "image/*,*/*;q=0.8", "image/avif-sequence", "image/webpx"]
)
def test_wildcards_and_lookalikes_do_not_imply_modern_formats(accept: str) -> None:
    # Given only wildcards or types that merely look like avif/webp
    # When negotiated
    # Then the safe baseline is chosen
    assert negotiate(accept, False, False) == "jpeg"


def test_other_parameters_do_not_hide_a_media_type() -> None:
    # Given a media type with an extension parameter before q
    # When negotiated
    # Then it still counts
    assert negotiate('image/webp;charset="x";q=0.9', False, False) == "webp"


@pytest.mark.parametrize(
    ("fmt", "media_type", "extension"),
    [
        ("avif", "image/avif", "avif"),
        ("webp", "image/webp", "webp"),
        ("jpeg", "image/jpeg", "jpg"),
        ("png", "image/png", "png"),
        ("gif", "image/gif", "gif"),
    ],
)
def test_content_types_and_extensions(fmt: OutputFormat, media_type: str, extension: str) -> None:
    # Given an output format
    # When its media type and file extension are looked up
    # Then they are the registered ones
    assert content_type(fmt) == media_type
    assert FORMAT_EXTENSIONS[fmt] == extension
    assert MEDIA_TYPES[fmt] == media_type


def test_content_type_of_an_unknown_format_is_refused() -> None:
    # Given a format the engine does not produce
    # When its content type is asked for
    # Then it is an error, not a guess
    with pytest.raises(ValueError, match="bmp"):
        content_type("bmp")
