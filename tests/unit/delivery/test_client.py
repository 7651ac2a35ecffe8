"""The URL SDK: every URL it writes is accepted by the edge, names the intended rendition and is canonical."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgpipe.client import ImageUrls, ParamValue, SigningKeyMissingError, build_query, sizes, width_ladder
from imgpipe.core.quality import effective_quality
from imgpipe.core.signing import SignatureVerdict
from imgpipe.core.spec import DEFAULT_PRESETS
from imgpipe.delivery import Delivery, Refused, at_edge
from tests.fakes.delivery import KEYS, NOW, SECRETS

BASE = "https://images.example.com"
CAT = "uploads/acme/cat.jpg"


def urls(**options: object) -> ImageUrls:
    return ImageUrls(BASE, keys=KEYS, clock=lambda: NOW, **options)  # type: ignore[arg-type]


def edge(
    url: str,
    *,
    now: float = NOW,
    policy: str = "presets-unsigned",
    presets: Mapping[str, str] = DEFAULT_PRESETS,
) -> Delivery:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == BASE
    return at_edge(
        parts.path,
        parts.query,
        "image/webp",
        policy=policy,
        secrets=SECRETS,
        presets=presets,
        now=now,
    )


def test_a_preset_alone_is_unsigned_and_short() -> None:
    url = urls().url(CAT, preset="thumb")
    assert url == f"{BASE}/{CAT}?preset=thumb"
    delivery = edge(url)
    assert delivery.verdict is SignatureVerdict.MISSING
    assert delivery.object_key == f"{CAT}/fit=cover&fm=webp&g=auto&h=200&w=200"


def test_a_preset_with_a_format_and_a_ladder_dpr_stays_unsigned_in_canonical_order() -> None:
    # Given a preset varied only over the closed set: any fm, a dpr of 1, 2 or 3
    # When built
    url = urls().url(CAT, preset="small", fm="JPG", dpr=2.0)
    # Then it is unsigned, spelt preset first and the rest sorted, and the edge serves it unsigned
    assert url == f"{BASE}/{CAT}?preset=small&dpr=2&fm=jpeg"
    delivery = edge(url)
    assert delivery.verdict is SignatureVerdict.MISSING and delivery.preset_only
    assert delivery.object_key == f"{CAT}/dpr=2&fm=jpeg&w=400"
    assert urls().url(CAT, preset="small", fm="avif", dpr=3) == f"{BASE}/{CAT}?preset=small&dpr=3&fm=avif"
    assert urls().url(CAT, preset="small", fm="auto", dpr=1) == f"{BASE}/{CAT}?preset=small"
    # restating the preset's own value changes nothing, so it stays unsigned (and is not repeated)
    assert urls().url(CAT, preset="small", w=400) == f"{BASE}/{CAT}?preset=small"


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"v": 3}, "v"),
        ({"dl": "a.jpg"}, "dl"),
        ({"dpr": 1.5}, "dpr"),
        ({"dpr": 4}, "dpr"),
        ({"fm": "webp", "v": "x", "dpr": 2}, "v"),
        ({"w": 401}, "w"),
    ],
)
def test_a_preset_varied_beyond_the_closed_set_is_signed_and_verifies(
    extra: dict[str, ParamValue], named: str
) -> None:
    # Given a preset plus a parameter an unsigned request may not choose (a new render per value)
    # When built with keys
    url = urls().url(CAT, preset="small", **extra)  # type: ignore[arg-type]
    # Then it is signed in canonical form and the edge verifies it
    assert re.search(r"&s=[A-Za-z0-9_-]{43}$", url) and "preset=" not in url
    assert edge(url).verdict is SignatureVerdict.VALID
    # and without its signature the edge refuses it: the signature was needed
    with pytest.raises(Refused) as refused:
        edge(url.rsplit("&s=", 1)[0])
    assert refused.value.problem.code == "signature-required"
    # When built without keys
    # Then the builder refuses with a message naming the parameter and where to build it instead
    with pytest.raises(SigningKeyMissingError) as missing:
        ImageUrls(BASE).url(CAT, preset="small", **extra)  # type: ignore[arg-type]
    message = str(missing.value)
    assert f"{named} on preset 'small'" in message
    assert (
        "may vary only fm and a dpr of 1, 2, 3" in message and "server that holds the signing keys" in message
    )


def test_a_preset_with_its_own_dpr_keeps_it_unsigned_and_spells_dpr_1() -> None:
    # Given a stage preset that sets its own dpr
    presets = {**DEFAULT_PRESETS, "crisp": "w=300&dpr=1.5"}
    builder = urls(presets=presets)
    # When built at the preset's own dpr and at dpr 1
    own = builder.url(CAT, preset="crisp")
    one = builder.url(CAT, preset="crisp", dpr=1)
    # Then both are unsigned, and dpr=1 is written (left out, the edge would apply the preset's 1.5)
    assert own == f"{BASE}/{CAT}?preset=crisp"
    assert one == f"{BASE}/{CAT}?preset=crisp&dpr=1"
    assert builder.url(CAT, preset="crisp", dpr=1.5) == own
    assert edge(own, presets=presets).spec.dpr == 1.5
    assert edge(one, presets=presets).spec.dpr == 1
    assert edge(one, presets=presets).verdict is SignatureVerdict.MISSING
    assert builder.srcset(CAT, preset="crisp").split(", ")[0] == f"{BASE}/{CAT}?preset=crisp&dpr=1 1x"


def test_anything_else_is_signed_with_the_last_key_and_verifies() -> None:
    url = urls().url(CAT, w=800, fm="webp", fit="cover", h=600)
    query = urlsplit(url).query
    assert re.fullmatch(r"fit=cover&fm=webp&h=600&w=800&s=[A-Za-z0-9_-]{43}", query)
    assert edge(url).verdict is SignatureVerdict.VALID
    # signed with k2 (the last in the document): the edge would refuse it if only k1 were active
    with pytest.raises(Refused):
        at_edge(urlsplit(url).path, query, None, policy="presets-unsigned", secrets=SECRETS[:1], now=NOW)


def test_a_chosen_key_id_signs() -> None:
    url = urls(key_id="k1").url(CAT, w=100)
    at_edge(urlsplit(url).path, urlsplit(url).query, None, policy="required", secrets=SECRETS[:1], now=NOW)


def test_python_values_are_written_as_the_api_spells_them() -> None:
    url = urls().url(
        "uploads/café/my cat (1).jpg", fp=(0.5, 0.25), crop=(1, 2, 300, 400), up=True, w=300, q=70
    )
    assert urlsplit(url).path == "/uploads/caf%C3%A9/my%20cat%20%281%29.jpg"
    assert urlsplit(url).query.startswith("crop=1,2,300,400&fp=0.5,0.25&q=70&up=1&w=300&s=")
    assert edge(url).verdict is SignatureVerdict.VALID
    assert build_query({"a": None, "b": False, "c": 1.5, "d": "x y"}) == "b=0&c=1.5&d=x%20y"


def test_expiry_is_signed_and_enforced() -> None:
    url = urls().url(CAT, preset="thumb", expires_in=3600)
    assert f"exp={NOW + 3600}" in url and "&s=" in url
    assert edge(url).verdict is SignatureVerdict.VALID
    with pytest.raises(Refused) as refused:
        edge(url, now=NOW + 3600)
    assert refused.value.problem.code == "expired"
    assert f"exp={NOW + 60}" in urls(default_ttl=60).url(CAT, w=10)
    assert "exp=" not in urls(default_ttl=60).url(CAT, preset="thumb")  # unsigned presets do not expire
    assert "exp=1800000000" in urls().url(CAT, w=10, expires_at=1_800_000_000)


def test_signing_can_be_forced_either_way() -> None:
    assert "&s=" in urls().url(CAT, preset="thumb", sign=True)
    assert edge(urls().url(CAT, preset="thumb", sign=True)).verdict is SignatureVerdict.VALID
    assert "s=" not in urls().url(CAT, w=100, sign=False)


def test_policy_required_signs_presets_too() -> None:
    url = urls(policy="required").url(CAT, preset="thumb")
    assert edge(url, policy="required").verdict is SignatureVerdict.VALID


def test_a_url_that_needs_a_signature_needs_keys() -> None:
    with pytest.raises(SigningKeyMissingError):
        ImageUrls(BASE).url(CAT, w=100)
    assert ImageUrls(BASE, policy="off").url(CAT, w=100) == f"{BASE}/{CAT}?w=100"
    assert ImageUrls(BASE).url(CAT, preset="small") == f"{BASE}/{CAT}?preset=small"
    assert (
        ImageUrls(BASE).url(CAT, preset="small", fm="webp", dpr=2)
        == f"{BASE}/{CAT}?preset=small&dpr=2&fm=webp"
    )
    with pytest.raises(SigningKeyMissingError, match="a transformation without a named preset"):
        ImageUrls(BASE).url(CAT, w=100)
    with pytest.raises(SigningKeyMissingError, match="an expiring URL"):
        ImageUrls(BASE).url(CAT, preset="small", expires_in=60)


@pytest.mark.parametrize(
    "call",
    [
        lambda u: u.url(CAT, w=0),
        lambda u: u.url(CAT, width=10),
        lambda u: u.url("uploads/../x.jpg", w=10),
        lambda u: u.url(CAT, s="abc"),
        lambda u: u.url(CAT, w=10, expires_in=1, expires_at=2),
        lambda u: u.url(CAT, preset="nope"),
        lambda u: u.srcset(CAT, w=100, dpr=2),
        lambda u: u.srcset(CAT, w=100, dprs=[5]),
    ],
)
def test_bad_requests_fail_in_the_builder(call: object) -> None:
    with pytest.raises(ValueError, match=r"."):
        call(urls())  # type: ignore[operator]


def test_bad_keys_and_bases_are_refused() -> None:
    with pytest.raises(ValueError, match="base_url"):
        ImageUrls("images.example.com")
    with pytest.raises(ValueError, match="16 to 256"):
        ImageUrls(BASE, keys={"k1": "short"})
    with pytest.raises(ValueError, match="no key 'k9'"):
        ImageUrls(BASE, keys=KEYS, key_id="k9")
    assert ImageUrls(BASE, keys='{"k1": "imgpipe-test-key-one-0123456789abcdef"}').key_id == "k1"


# --- srcset and sizes -----------------------------------------------------------------------------------


def entries(srcset: str) -> list[tuple[str, str]]:
    return [tuple(entry.rsplit(" ", 1)) for entry in srcset.split(", ")]  # type: ignore[misc]


def test_a_fixed_size_gives_density_variants_whose_quality_drops() -> None:
    srcset = urls().srcset(CAT, w=400, fm="webp", q=80)
    pairs = entries(srcset)
    assert [descriptor for _, descriptor in pairs] == ["1x", "2x", "3x"]
    dprs = []
    for url, descriptor in pairs:
        delivery = edge(url)
        assert delivery.spec.w == 400
        assert delivery.spec.dpr == float(descriptor[:-1])
        dprs.append(delivery.spec.dpr)
    # The engine lowers q as dpr rises, so the 2x and 3x images cost far less than 4x and 9x the pixels
    qualities = [effective_quality(80, dpr) for dpr in dprs]
    assert qualities == sorted(qualities, reverse=True) and qualities[0] > qualities[-1]


def test_a_preset_alone_gives_unsigned_density_variants_on_the_ladder() -> None:
    # Given a preset's density srcset with the default dprs
    srcset = ImageUrls(BASE).srcset(CAT, preset="small", fm="webp")
    # Then every entry is unsigned (no keys needed) and the edge serves each unsigned
    assert srcset.split(", ") == [
        f"{BASE}/{CAT}?preset=small&fm=webp 1x",
        f"{BASE}/{CAT}?preset=small&dpr=2&fm=webp 2x",
        f"{BASE}/{CAT}?preset=small&dpr=3&fm=webp 3x",
    ]
    for url, _ in entries(srcset):
        assert edge(url).verdict is SignatureVerdict.MISSING


def test_an_off_ladder_density_of_a_preset_is_signed() -> None:
    # Given a preset's density srcset with a dpr off the unsigned ladder
    pairs = entries(urls().srcset(CAT, preset="small", dprs=(1, 1.5, 2)))
    # Then only the 1.5x entry is signed, and every entry is served
    assert [descriptor for _, descriptor in pairs] == ["1x", "1.5x", "2x"]
    assert [edge(url).verdict for url, _ in pairs] == [
        SignatureVerdict.MISSING,
        SignatureVerdict.VALID,
        SignatureVerdict.MISSING,
    ]
    assert edge(pairs[1][0]).spec.dpr == 1.5
    # and without keys the builder refuses rather than write a URL the edge refuses
    with pytest.raises(SigningKeyMissingError, match="dpr on preset 'small'"):
        ImageUrls(BASE).srcset(CAT, preset="small", dprs=(1, 1.5))


def test_without_a_size_the_srcset_is_a_width_ladder() -> None:
    pairs = entries(urls().srcset(CAT, fm="avif", min_width=300, max_width=1200))
    widths = [int(descriptor[:-1]) for _, descriptor in pairs]
    assert widths == width_ladder(300, 1200)
    for url, descriptor in pairs:
        assert edge(url).spec.w == int(descriptor[:-1])


def test_an_aspect_ratio_crops_every_width() -> None:
    for url, descriptor in entries(urls().srcset(CAT, widths=[320, 640], aspect_ratio=(16, 9))):
        spec = edge(url).spec
        assert (spec.fit, spec.w, spec.h) == (
            "cover",
            int(descriptor[:-1]),
            round(int(descriptor[:-1]) * 9 / 16),
        )


@given(
    low=st.integers(1, 4000),
    span=st.integers(0, 4000),
    tolerance=st.floats(0.01, 1),
)
def test_the_ladder_never_steps_more_than_the_tolerance(low: int, span: int, tolerance: float) -> None:
    high = min(8192, low + span)
    ladder = width_ladder(low, high, tolerance)
    assert ladder[0] == low and ladder[-1] == high
    assert ladder == sorted(set(ladder))
    for smaller, larger in itertools.pairwise(ladder):
        assert larger <= max(smaller + 2, smaller * (1 + 2 * tolerance) + 1)


def test_sizes() -> None:
    assert sizes() == "100vw"
    assert sizes({"(min-width: 1024px)": "33vw", "min-width: 640px": "50vw"}, "100vw") == (
        "(min-width: 1024px) 33vw, (min-width: 640px) 50vw, 100vw"
    )
    assert ImageUrls.sizes([("(max-width: 600px)", "480px")], "800px") == "(max-width: 600px) 480px, 800px"
    with pytest.raises(ValueError, match="no comma"):
        sizes({"(a), (b)": "1px"})
