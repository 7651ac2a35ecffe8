"""URL signatures: round trip, tampering, key rotation, expiry and malformed input."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from imgpipe.core.keys import canonical_path
from imgpipe.core.signing import SignatureVerdict, generate_secret, sign, verify
from imgpipe.core.spec import TransformSpec

OLD_KEY = b"old-secret-0123456789abcdef01234"
NEW_KEY = b"new-secret-0123456789abcdef01234"
PATH = "/uploads/acme/cat.jpg"
QUERY = "fm=webp&w=800"
NOW = 1_700_000_000.0


def test_a_signature_verifies_for_the_request_it_was_made_for() -> None:
    # Given a signature over a path and canonical query
    signature = sign(PATH, QUERY, NEW_KEY)
    # When the same request is verified
    verdict = verify(PATH, QUERY, signature, [NEW_KEY], None, NOW)
    # Then it is valid
    assert verdict is SignatureVerdict.VALID


def test_the_signature_is_hmac_sha256_in_unpadded_url_safe_base64() -> None:
    # Given a known key and message
    signature = sign(PATH, QUERY, NEW_KEY)
    # When compared with an independent computation
    digest = hmac.new(NEW_KEY, f"{PATH}?{QUERY}".encode(), hashlib.sha256).digest()
    # Then it is the same digest, URL-safe, 43 characters, without padding
    assert signature == base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert len(signature) == 43 and "=" not in signature and "+" not in signature and "/" not in signature


def test_an_empty_query_signs_the_path_alone() -> None:
    # Given a request with no parameters
    signature = sign(PATH, "", NEW_KEY)
    # When compared with the path-only HMAC and with a trailing "?"
    digest = hmac.new(NEW_KEY, PATH.encode(), hashlib.sha256).digest()
    # Then the "?" is not part of what is signed
    assert signature == base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert verify(PATH, "", signature, [NEW_KEY], None, NOW) is SignatureVerdict.VALID


@pytest.mark.parametrize("query", ["fm=webp&w=801", "fm=webp&w=800&blur=1", "fm=webp", "w=800&fm=webp", ""])
def test_a_tampered_query_is_invalid(query: str) -> None:
    # Given a signature for one query
    signature = sign(PATH, QUERY, NEW_KEY)
    # When it is presented with a different (or reordered, or dropped) query
    # Then it does not verify
    assert verify(PATH, query, signature, [NEW_KEY], None, NOW) is SignatureVerdict.INVALID


@pytest.mark.parametrize(
    "path", ["/uploads/acme/dog.jpg", "/uploads/acme/cat.jpg/", "/Uploads/acme/cat.jpg", "/"]
)
def test_a_tampered_path_is_invalid(path: str) -> None:
    # Given a signature for one image
    signature = sign(PATH, QUERY, NEW_KEY)
    # When it is presented for another path
    # Then it does not verify
    assert verify(path, QUERY, signature, [NEW_KEY], None, NOW) is SignatureVerdict.INVALID


def test_a_question_mark_in_a_key_cannot_stand_in_for_a_query() -> None:
    # Given a signature for key "a" with the query "b=1"
    signature = sign(canonical_path("a"), "b=1", NEW_KEY)
    # When the same characters are requested as the key "a?b=1" with no query
    smuggled = verify(canonical_path("a?b=1"), "", signature, [NEW_KEY], None, NOW)
    # Then it does not verify, because the canonical path percent-encodes "?" and "="
    assert canonical_path("a?b=1") == "/a%3Fb%3D1"
    assert smuggled is SignatureVerdict.INVALID


def test_a_signature_from_another_key_is_invalid() -> None:
    # Given a signature made with a key that is not active
    signature = sign(PATH, QUERY, b"attacker-guess-0123456789abcdefgh")
    # When verified against the real key
    # Then it is invalid
    assert verify(PATH, QUERY, signature, [NEW_KEY], None, NOW) is SignatureVerdict.INVALID


def test_rotation_accepts_any_active_key() -> None:
    # Given two active keys during a rotation
    active = [NEW_KEY, OLD_KEY]
    # When URLs signed with either are verified
    by_old = verify(PATH, QUERY, sign(PATH, QUERY, OLD_KEY), active, None, NOW)
    by_new = verify(PATH, QUERY, sign(PATH, QUERY, NEW_KEY), active, None, NOW)
    # Then both are valid, and once the old key is retired its URLs stop verifying
    assert by_old is SignatureVerdict.VALID and by_new is SignatureVerdict.VALID
    retired = verify(PATH, QUERY, sign(PATH, QUERY, OLD_KEY), [NEW_KEY], None, NOW)
    assert retired is SignatureVerdict.INVALID


def test_no_active_keys_means_nothing_verifies() -> None:
    # Given an empty (or blank) key list
    signature = sign(PATH, QUERY, NEW_KEY)
    # When verifying
    # Then nothing is valid: misconfiguration fails closed
    assert verify(PATH, QUERY, signature, [], None, NOW) is SignatureVerdict.INVALID
    assert verify(PATH, QUERY, signature, [b""], None, NOW) is SignatureVerdict.INVALID


def test_expiry_is_covered_and_enforced() -> None:
    # Given a URL signed with an expiry
    spec = TransformSpec.parse("w=800&fm=webp&exp=1700000100")
    query = spec.canonical()
    signature = sign(PATH, query, NEW_KEY)
    # When verified before, at and after the expiry
    before = verify(PATH, query, signature, [NEW_KEY], spec.exp, 1_700_000_099.9)
    at = verify(PATH, query, signature, [NEW_KEY], spec.exp, 1_700_000_100.0)
    after = verify(PATH, query, signature, [NEW_KEY], spec.exp, 1_800_000_000.0)
    # Then it is valid only before the expiry time
    assert (before, at, after) == (SignatureVerdict.VALID, SignatureVerdict.EXPIRED, SignatureVerdict.EXPIRED)


def test_extending_the_expiry_breaks_the_signature() -> None:
    # Given a signed, expired URL
    signature = sign(PATH, "exp=100&w=800", NEW_KEY)
    # When someone moves exp into the future without re-signing
    verdict = verify(PATH, "exp=9999999999&w=800", signature, [NEW_KEY], 9_999_999_999, NOW)
    # Then it is invalid, not merely expired
    assert verdict is SignatureVerdict.INVALID


def test_a_bad_signature_on_an_expired_url_is_invalid_not_expired() -> None:
    # Given a forged signature on a URL whose expiry has passed
    forged = sign(PATH, "exp=100&w=800", b"wrong-key-0123456789abcdef012345")
    # When verified
    verdict = verify(PATH, "exp=100&w=800", forged, [NEW_KEY], 100, NOW)
    # Then the signature is judged first
    assert verdict is SignatureVerdict.INVALID


def test_a_missing_signature_is_reported_as_missing() -> None:
    # Given no signature at all
    # When verified (with or without an expiry)
    # Then the verdict says it is missing, so a preset-only policy can allow it
    assert verify(PATH, QUERY, None, [NEW_KEY], None, NOW) is SignatureVerdict.MISSING
    assert verify(PATH, QUERY, None, [NEW_KEY], 1, NOW) is SignatureVerdict.MISSING


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "abc",
        "A" * 42,
        "A" * 44,
        "A" * 43 + "=",
        "+" * 43,
        "/" * 43,
        "é" * 43,
        "\x00" * 43,
        " " + "A" * 42,
    ],
)
def test_malformed_signatures_are_invalid_without_raising(signature: str) -> None:
    # Given a signature of the wrong length, alphabet or encoding
    # When verified
    verdict = verify(PATH, QUERY, signature, [NEW_KEY], None, NOW)
    # Then it is simply invalid
    assert verdict is SignatureVerdict.INVALID


def test_a_standard_base64_signature_is_not_accepted_for_the_url_safe_one() -> None:
    # Given the right digest written in standard (not URL-safe) base64
    digest = hmac.new(NEW_KEY, f"{PATH}?{QUERY}".encode(), hashlib.sha256).digest()
    standard = base64.b64encode(digest).decode().rstrip("=")
    url_safe = sign(PATH, QUERY, NEW_KEY)
    # When verified
    verdict = verify(PATH, QUERY, standard, [NEW_KEY], None, NOW)
    # Then only the one canonical spelling counts (unless the digest happens to need neither "+" nor "/")
    expected = SignatureVerdict.VALID if standard == url_safe else SignatureVerdict.INVALID
    assert verdict is expected


def test_signing_needs_a_secret() -> None:
    # Given an empty secret
    # When signing
    # Then it is refused rather than producing a forgeable signature
    with pytest.raises(ValueError, match="secret"):
        sign(PATH, QUERY, b"")


def test_generated_secrets_are_32_random_bytes() -> None:
    # Given two generated secrets
    first, second = generate_secret(), generate_secret()
    # When inspected
    # Then each is 32 bytes and they differ
    assert len(first) == 32 and len(second) == 32
    assert first != second


def test_verdicts_are_strings_for_logs_and_responses() -> None:
    # Given the verdicts
    # When used as text
    # Then they read as their lower-case names
    assert [str(verdict) for verdict in SignatureVerdict] == ["valid", "missing", "invalid", "expired"]
    assert SignatureVerdict("expired") is SignatureVerdict.EXPIRED
