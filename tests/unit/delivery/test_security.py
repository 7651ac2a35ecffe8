"""Hostile requests: each is refused with the right status, never a 500 and never a render.

Every case runs twice: through CloudFront (the edge refuses it, nothing reaches the function), and sent
straight to the function as if the edge had been bypassed (the function re-checks and refuses it too).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imgpipe.core.keys import variant_key
from imgpipe.core.mezzanine import mezzanine_key
from imgpipe.core.spec import TransformSpec
from infra.constants import EXPORTS_PREFIX, MEZZANINE_PREFIX, QUARANTINE_PREFIX, UPLOADS_PREFIX
from tests.fakes.delivery import KEYS, NOW, RETIRED_KEY, DeliveryHarness, signed
from tests.unit.delivery.conftest import CAT, jpeg

PATH = f"/{CAT}"
GOOD = signed(PATH, "w=800&fm=webp")
GOOD_QUERY = GOOD.split("?", 1)[1]
SIGNATURE = GOOD_QUERY.rsplit("s=", 1)[1]

# (name, viewer URL, status, problem code)
CASES: list[tuple[str, str, int, str]] = [
    ("tampered width", GOOD.replace("w=800", "w=801"), 403, "signature-invalid"),
    ("tampered format", GOOD.replace("fm=webp", "fm=png"), 403, "signature-invalid"),
    ("tampered signature", GOOD[:-2] + ("AA" if not GOOD.endswith("AA") else "BB"), 403, "signature-invalid"),
    (
        "signature for another key",
        signed("/uploads/acme/dog.jpg", "w=800&fm=webp").replace("/uploads/acme/dog.jpg", PATH),
        403,
        "signature-invalid",
    ),
    ("signed with a retired key", signed(PATH, "w=800", secret=RETIRED_KEY), 403, "signature-invalid"),
    ("signed with a made-up key", signed(PATH, "w=800", secret="x" * 40), 403, "signature-invalid"),
    ("expired", signed(PATH, f"w=800&exp={NOW - 1}"), 403, "expired"),
    (
        "exp moved after signing",
        signed(PATH, f"w=800&exp={NOW + 60}").replace(str(NOW + 60), str(NOW + 9999)),
        403,
        "signature-invalid",
    ),
    (
        "exp stripped after signing",
        signed(PATH, f"w=800&exp={NOW + 60}").replace(f"&exp={NOW + 60}", ""),
        403,
        "signature-invalid",
    ),
    ("no signature", f"{PATH}?w=800", 403, "signature-required"),
    ("signature duplicated", f"{GOOD}&s={SIGNATURE}", 400, "bad-parameter"),
    ("parameter duplicated", f"{GOOD}&w=800", 400, "bad-parameter"),
    ("parameter duplicated by encoding", f"{GOOD}&%77=800", 400, "bad-parameter"),
    ("unknown parameter", f"{GOOD}&width=900", 400, "bad-parameter"),
    ("prototype pollution", f"{PATH}?__proto__=1&preset=thumb", 400, "bad-parameter"),
    ("huge width", f"{PATH}?w=999999999999999999999", 400, "bad-parameter"),
    ("negative width", f"{PATH}?w=-800", 400, "bad-parameter"),
    ("negative dpr", f"{PATH}?preset=thumb&dpr=-2", 400, "bad-parameter"),
    ("huge dpr", f"{PATH}?preset=thumb&dpr=400", 400, "bad-parameter"),
    ("huge crop", f"{PATH}?crop=0,0,99999999,1", 400, "bad-parameter"),
    ("NaN", f"{PATH}?preset=thumb&dpr=NaN", 400, "bad-parameter"),
    ("parent segment", "/uploads/../secret.jpg?preset=thumb", 400, "bad-parameter"),
    ("encoded parent segment", "/uploads/%2e%2e/secret.jpg?preset=thumb", 400, "bad-parameter"),
    ("encoded slash", "/uploads%2F..%2Fsecret.jpg?preset=thumb", 400, "bad-parameter"),
    ("encoded backslash", "/uploads/..%5Csecret.jpg?preset=thumb", 400, "bad-parameter"),
    (
        "double-encoded slash is a literal %2F name",
        "/uploads/acme%252Fcat.jpg?preset=thumb",
        404,
        "no-source",
    ),
    ("non-UTF-8 path", "/uploads/caf%E9.jpg?preset=thumb", 400, "bad-parameter"),
    ("non-UTF-8 value", f"{PATH}?preset=thumb&v=%FF", 400, "bad-parameter"),
    ("overlong UTF-8", f"{PATH}?txt=%C0%AE%C0%AE", 400, "bad-parameter"),
    ("NUL in the key", "/uploads/cat%00.jpg?preset=thumb", 400, "bad-parameter"),
    ("very long key", "/uploads/" + "a" * 5000 + ".jpg?preset=thumb", 400, "bad-parameter"),
    ("very long query", f"{PATH}?preset=thumb&v=" + "a" * 5000, 400, "bad-parameter"),
    ("very long URL of many parameters", f"{PATH}?" + "&" * 3000 + "preset=thumb", 400, "bad-parameter"),
    ("a watermark from outside the uploads", signed(PATH, "w=300&mark=quarantine/x.png"), 404, "no-source"),
    ("the quarantine", "/quarantine/acme/cat.jpg?preset=thumb", 404, "no-source"),
    ("the mezzanine", "/mezzanine/uploads/acme/cat.jpg?preset=small&fm=jpeg", 404, "no-source"),
    ("the mezzanine, signed", signed("/mezzanine/uploads/acme/cat.jpg", "w=400&fm=jpeg"), 404, "no-source"),
    ("an export", "/exports/acme/b1/e1.zip?preset=small", 404, "no-source"),
    ("unsigned cache-buster", f"{PATH}?preset=thumb&v=2", 403, "signature-required"),
    ("unsigned download name", f"{PATH}?preset=thumb&dl=a.jpg", 403, "signature-required"),
    ("unsigned dpr off the ladder", f"{PATH}?preset=thumb&dpr=1.01", 403, "signature-required"),
]


@pytest.mark.parametrize(("name", "target", "status", "code"), CASES, ids=[case[0] for case in CASES])
def test_through_cloudfront(harness: DeliveryHarness, name: str, target: str, status: int, code: str) -> None:
    # When the hostile URL goes through the distribution
    answer = harness.cloudfront().get(target, accept="image/avif,image/webp")
    # Then it is refused with the right status and code, and nothing was read or rendered
    assert (answer.status, answer.problem["type"].rsplit(":", 1)[1]) == (status, code)
    if status in (400, 403):
        assert answer.served_by == "edge"
    # (%252F decodes once, to a key with a literal "%2F" in its name: looked up, and not there)
    allowed = [["uploads/acme%2Fcat.jpg"]] if "%252F" in target else []
    assert harness.originals_read() in [[], *allowed]
    assert harness.renditions_written() == []


@pytest.mark.parametrize(("name", "target", "status", "code"), CASES, ids=[case[0] for case in CASES])
def test_straight_to_the_function(
    harness: DeliveryHarness, name: str, target: str, status: int, code: str
) -> None:
    # Given the hostile request sent to the function's URL as if there were no edge: the viewer's query as
    # is, and a path naming the rendition the request claims
    path, _, query = target.partition("?")
    for rendition in ("fm%3Dwebp%26w%3D800", "fm=webp&w=800"):
        result = harness.service().handle("GET", f"{path}/{rendition}", query)
        # Then the function refuses it on its own: never a 500, never a render
        assert 400 <= result.response.status < 500, (rendition, result.response)
        assert result.outcome.action == "refused"
    assert harness.originals_read() == []
    assert harness.renditions_written() == []


def test_the_good_request_renders(harness: DeliveryHarness) -> None:
    # The control for the cases above: the untouched URL is served
    answer = harness.cloudfront().get(GOOD)
    assert (answer.status, answer.served_by, answer.headers["content-type"]) == (
        200,
        "function",
        "image/webp",
    )


def test_both_active_keys_are_accepted(harness: DeliveryHarness) -> None:
    for secret in KEYS.values():
        assert harness.cloudfront().get(signed(PATH, "w=320", secret=secret)).status == 200


def test_reordered_and_respelt_parameters_share_one_render(harness: DeliveryHarness) -> None:
    # Given the same signed request spelt two ways
    first = harness.cloudfront().get(signed(PATH, "w=0640&fm=WEBP"))
    second = harness.cloudfront().get(signed(PATH, "fm=webp&w=640"))
    # Then the second is the stored object of the first
    assert (first.served_by, second.served_by) == ("function", "bucket")
    assert first.body == second.body
    assert harness.renditions_written() == [f"{CAT}/fm=webp&w=640"]


_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80)
_PIECES = st.lists(
    st.tuples(
        st.sampled_from(["w", "h", "fm", "s", "exp", "preset", "crop", "dpr", "mark", "x", "%77", ""]),
        st.one_of(_TEXT, st.sampled_from(["800", "-1", "%FF", "thumb", "A" * 43, "0,0,1,1", "9" * 30])),
    ),
    max_size=8,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.one_of(
        _TEXT, st.sampled_from(["/uploads/acme/cat.jpg", "/uploads/%2e%2e/x", "//", "/%", "/%ZZ"])
    ),
    pieces=_PIECES,
)
def test_no_request_makes_the_function_fail_or_render_unasked(
    harness: DeliveryHarness, path: str, pieces: list[tuple[str, str]]
) -> None:
    # Given any path and any query
    query = "&".join(f"{name}={value}" for name, value in pieces)
    result = harness.service().handle("GET", path if path.startswith("/") else "/" + path, query)
    # Then the function answers a 4xx (no key signs these, and no path names their rendition)
    assert 400 <= result.response.status < 500, result.response
    assert harness.renditions_written() == []


def test_a_refusal_never_leaks_a_secret(harness: DeliveryHarness) -> None:
    answers: list[Any] = [harness.cloudfront().get(target) for _, target, _, _ in CASES]
    for answer in answers:
        assert not any(secret.encode() in answer.body for secret in [*KEYS.values(), RETIRED_KEY])


def test_the_mezzanine_attack_of_issue_13_serves_nothing(harness: DeliveryHarness) -> None:
    # Given an original whose key ends like a rendition name (possible with direct S3 access), so that its
    # mezzanine sits at the object key of a preset rendition of "mezzanine/uploads/alice/big.jpg"
    colliding = "uploads/alice/big.jpg/fm=jpeg&w=400"
    mezzanine = mezzanine_key(MEZZANINE_PREFIX, colliding)
    harness.renditions.add(mezzanine, jpeg(2560, 1707), content_type="image/jpeg")
    # When the issue's URL asks for that preset rendition
    answer = harness.cloudfront().get("/mezzanine/uploads/alice/big.jpg?preset=small&fm=jpeg")
    # Then the edge answers 404 problem+json: the transformed bucket is never asked, nothing is rendered
    assert (answer.status, answer.served_by) == (404, "edge")
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.problem["param"] == "key"
    assert [key for _, key in harness.renditions.calls] == []
    assert harness.originals_read() == []


@given(key=st.from_regex(r"uploads/[a-z]{1,8}(/[A-Za-z0-9 ._%+&=-]{1,12}){1,3}", fullmatch=True))
@settings(max_examples=200, deadline=None)
def test_every_rendition_key_is_under_uploads_and_names_its_source_alone(key: str) -> None:
    # Given any source key a delivery URL may name, and a rendition whose query carries a key with "/"
    spec = TransformSpec.parse("w=300&fm=webp&mark=uploads/a/logo.png&txt=a/b")
    rendition = variant_key(key, spec)
    # Then its key stays under uploads/ (never mezzanine/, exports/ or quarantine/), and its last segment
    # holds no "/", so (source key, rendition) is read back from the object key one way only
    assert rendition.startswith(UPLOADS_PREFIX)
    assert not rendition.startswith((MEZZANINE_PREFIX, EXPORTS_PREFIX, QUARANTINE_PREFIX))
    source, _, query = rendition.rpartition("/")
    assert (source, query) == (key, spec.variant_query())
