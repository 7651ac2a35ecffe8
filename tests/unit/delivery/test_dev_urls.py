"""URLs of the gallery and `imgpipe url`: unsigned exactly when the edge serves them unsigned."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from imgpipe.core.signing import SignatureVerdict
from imgpipe.core.spec import DEFAULT_PRESETS
from imgpipe.delivery import Refused, at_edge
from imgpipe.dev.urls import build_url
from tests.fakes.delivery import NOW, SECRETS

KEY = "uploads/local/a b.jpg"
PRESETS = {**DEFAULT_PRESETS, "crisp": "w=300&dpr=1.5"}


def served(path_and_query: str) -> SignatureVerdict | None:
    parts = urlsplit(path_and_query)
    delivery = at_edge(
        parts.path,
        parts.query,
        "image/webp",
        policy="presets-unsigned",
        secrets=SECRETS,
        presets=PRESETS,
        now=NOW,
    )
    return delivery.verdict


@pytest.mark.parametrize(
    "query",
    ["preset=thumb", "preset=thumb&fm=webp&dpr=2", "preset=small&dpr=3&fm=avif", "preset=crisp&dpr=1.5"],
)
def test_a_preset_over_the_closed_set_stays_unsigned_and_is_served(query: str) -> None:
    # Given a preset varied only by fm and a dpr on the ladder (or the preset's own)
    # When the gallery builds its URL
    built = build_url(KEY, query, presets=PRESETS, policy="presets-unsigned", secret=SECRETS[0])
    # Then it needs no signature, is written as given, and the edge serves it unsigned
    assert not built.needs_signature and not built.signed
    assert built.path_and_query == f"/uploads/local/a%20b.jpg?{query}"
    assert served(built.path_and_query) is SignatureVerdict.MISSING


@pytest.mark.parametrize(
    "query", ["preset=thumb&v=3", "preset=thumb&dl=a.jpg", "preset=small&dpr=1.5", "preset=crisp&dpr=2.5"]
)
def test_a_preset_varied_beyond_the_closed_set_is_signed_and_verifies(query: str) -> None:
    # Given a preset plus v, dl or an off-ladder dpr
    # When built with the stack's key
    built = build_url(KEY, query, presets=PRESETS, policy="presets-unsigned", secret=SECRETS[0])
    # Then it needs a signature, carries one, and the edge verifies it
    assert built.needs_signature and built.signed
    assert served(built.path_and_query) is SignatureVerdict.VALID
    # When built without a key
    bare = build_url(KEY, query, presets=PRESETS, policy="presets-unsigned", secret=None)
    # Then it says it needs one, and the edge indeed refuses it unsigned
    assert bare.needs_signature and not bare.signed
    with pytest.raises(Refused) as refused:
        served(bare.path_and_query)
    assert refused.value.problem.code == "signature-required"


def test_the_policy_decides_before_the_preset_rule() -> None:
    # Given the same preset query under each policy
    # When built without a key
    # Then only `required` asks for a signature of a preset alone, and `off` never does
    assert build_url(KEY, "preset=thumb", presets=PRESETS, policy="required", secret=None).needs_signature
    assert not build_url(KEY, "preset=thumb&v=3", presets=PRESETS, policy="off", secret=None).needs_signature
