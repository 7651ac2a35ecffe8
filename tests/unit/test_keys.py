"""Source keys from delivery paths, the canonical path, and rendition keys."""

from __future__ import annotations

import pytest

from imgpipe.core.errors import SpecError
from imgpipe.core.keys import MAX_KEY_BYTES, canonical_path, source_key_from_path, validate_key, variant_key
from imgpipe.core.spec import TransformSpec


@pytest.mark.parametrize(
    ("raw_path", "key"),
    [
        ("/photo.jpg", "photo.jpg"),
        ("/uploads/acme/2024/photo.jpg", "uploads/acme/2024/photo.jpg"),
        ("/my%20photo.jpg", "my photo.jpg"),
        ("/my photo.jpg", "my photo.jpg"),
        ("/a+b.jpg", "a+b.jpg"),  # "+" is only a space in query strings
        ("/a%2Bb.jpg", "a+b.jpg"),
        ("/caf%C3%A9.jpg", "café.jpg"),
        ("/café/ねこ.png", "café/ねこ.png"),
        ("/%E2%9C%93/%F0%9F%90%88.webp", "✓/🐈.webp"),
        ("/100%25.jpg", "100%.jpg"),
        ("/a%252Fb.jpg", "a%2Fb.jpg"),  # decoded once: the key really contains "%2F"
        ("/..a/b..", "..a/b.."),  # dots inside a name are fine
        ("/.hidden", ".hidden"),
        ("photo.jpg", "photo.jpg"),
        ("/a%3Fb%23c.jpg", "a?b#c.jpg"),
    ],
)
def test_paths_decode_once_into_object_keys(raw_path: str, key: str) -> None:
    # Given a delivery URL path
    # When it is turned into an object key
    result = source_key_from_path(raw_path)
    # Then the key is the path percent-decoded exactly once, without the leading slash
    assert result == key


@pytest.mark.parametrize(
    ("raw_path", "reason"),
    [
        ("/", "no image"),
        ("", "no image"),
        ("/../secret.jpg", "'..'"),
        ("/a/../b.jpg", "'..'"),
        ("/a/..", "'..'"),
        ("/./a.jpg", "'.'"),
        ("/a/./b.jpg", "'.'"),
        ("/a/%2E%2E/b.jpg", "'..'"),
        ("/a/%2e/b.jpg", "'.'"),
        ("/a%2Fb.jpg", "encoded"),
        ("/a%2fb.jpg", "encoded"),
        ("/..%2Fsecret.jpg", "encoded"),
        ("/a%5Cb.jpg", "encoded"),
        ("/a%5cb.jpg", "encoded"),
        ("/a\\b.jpg", "backslash"),
        ("//a.jpg", "starts with '/'"),
        ("/a//b.jpg", "empty segment"),
        ("/a/", "empty segment"),
        ("/a%00b.jpg", "control"),
        ("/a%0Ab.jpg", "control"),
        ("/a%0db.jpg", "control"),
        ("/a%7Fb.jpg", "control"),
        ("/a%C2%85b.jpg", "control"),  # NEL, a C1 control
        ("/a\tb.jpg", "control"),
        ("/%ff.jpg", "UTF-8"),
        ("/%C3%28.jpg", "UTF-8"),
        ("/%ED%A0%80.jpg", "UTF-8"),  # an encoded surrogate
        ("/a%zz.jpg", "two hex digits"),
        ("/a%2.jpg", "two hex digits"),
        ("/a%", "two hex digits"),
    ],
)
def test_unsafe_or_ambiguous_paths_are_refused(raw_path: str, reason: str) -> None:
    # Given a path that is empty, traverses, hides a separator, or does not decode cleanly
    # When it is turned into a key
    with pytest.raises(SpecError) as caught:
        source_key_from_path(raw_path)
    # Then it is refused against the key, saying why
    assert caught.value.param == "key"
    assert reason in caught.value.message


def test_the_key_length_limit_counts_utf8_bytes() -> None:
    # Given keys of exactly 1024 bytes and one byte more, using two-byte characters
    at_limit = "é" * (MAX_KEY_BYTES // 2)
    over_limit = at_limit + "a"
    # When their paths are decoded
    # Then the first is accepted and the second refused
    assert source_key_from_path(canonical_path(at_limit)) == at_limit
    with pytest.raises(SpecError, match="1024 bytes"):
        source_key_from_path(canonical_path(over_limit))


@pytest.mark.parametrize(
    "key",
    ["photo.jpg", "uploads/a b+c/é ✓.png", "100%.jpg", "a?b#c&d=e.jpg", "~user/x;y,z.jpg", "a%2Fb"],
)
def test_canonical_path_round_trips_through_the_decoder(key: str) -> None:
    # Given an object key with spaces, pluses, percent signs and reserved characters
    # When its canonical path is built and decoded again
    path = canonical_path(key)
    # Then the same key comes back and the path keeps "/" as the only separator
    assert path.startswith("/")
    assert source_key_from_path(path) == key
    assert path.count("/") == key.count("/") + 1


def test_canonical_path_encodes_minimally() -> None:
    # Given a key with a space, a plus and unreserved punctuation
    # When the canonical path is built
    # Then unreserved characters stay, everything else is percent-encoded
    assert canonical_path("a b+c/d-e_f.g~h.jpg") == "/a%20b%2Bc/d-e_f.g~h.jpg"


def test_validate_key_names_the_parameter_it_was_given() -> None:
    # Given a bad overlay key checked as the `mark` parameter
    # When it is validated
    with pytest.raises(SpecError) as caught:
        validate_key("a/../b", "mark")
    # Then the error blames `mark`
    assert caught.value.param == "mark"


def test_variant_key_is_the_source_key_and_the_variant_query() -> None:
    # Given a source key and a spec with a concrete format and an expiry
    spec = TransformSpec.parse("w=800&fm=webp&exp=1700000000&s=abc")
    # When the rendition key is built
    key = variant_key("uploads/acme/cat.jpg", spec)
    # Then it is the key followed by the canonical query without exp or s
    assert key == "uploads/acme/cat.jpg/fm=webp&w=800"


def test_variant_key_needs_a_concrete_format() -> None:
    # Given a spec still on fm=auto
    # When a rendition key is asked for
    # Then it is refused, because one key must name one set of bytes
    with pytest.raises(ValueError, match="format"):
        variant_key("cat.jpg", TransformSpec.parse("w=800"))
