"""The origin's re-check (`at_origin`) against what the edge forwards, and the URLs a redirect sends back."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

import pytest

from imgpipe.core.spec import DEFAULT_PRESETS, TransformSpec
from imgpipe.delivery import (
    DEFAULT_SIGNING_POLICY,
    Refused,
    at_edge,
    at_origin,
    origin_event,
    preset_equivalent,
)
from tests.node import REPO

VECTORS: dict[str, Any] = json.loads((REPO / "tests" / "vectors" / "delivery.json").read_text("utf-8"))
ACCEPTED = [entry for entry in VECTORS["cases"] if entry["expect"]["status"] == 200]


def settings(entry: dict[str, Any]) -> dict[str, Any]:
    edge = entry.get("edge", {})
    return {
        "policy": edge.get("policy", DEFAULT_SIGNING_POLICY),
        "secrets": [VECTORS["keys"][k].encode("ascii") for k in edge.get("keys", VECTORS["active_keys"])],
        "presets": edge.get("presets", DEFAULT_PRESETS),
        "now": VECTORS["now"],
    }


@pytest.mark.parametrize("entry", ACCEPTED, ids=[entry["name"] for entry in ACCEPTED])
def test_the_origin_accepts_what_the_edge_forwards_and_names_the_same_object(entry: dict[str, Any]) -> None:
    # Given the URI and query the edge forwards for an accepted vector (the JS function's output, as pinned
    # by the vectors)
    expect = entry["expect"]
    # When the origin checks it again
    delivery = at_origin(expect["uri"], expect["query"], **settings(entry))
    # Then it names the same stored object and format
    assert delivery.object_key == expect["key"]
    assert delivery.format == expect["format"]


@pytest.mark.parametrize("entry", ACCEPTED, ids=[entry["name"] for entry in ACCEPTED])
def test_the_origin_reads_a_decoded_path_the_same_way(entry: dict[str, Any]) -> None:
    expect = entry["expect"]
    delivery = at_origin("/" + expect["key"], expect["query"], **settings(entry))
    assert delivery.object_key == expect["key"]


@pytest.mark.parametrize("entry", ACCEPTED, ids=[entry["name"] for entry in ACCEPTED])
def test_a_redirect_url_is_accepted_by_the_edge_and_names_the_same_object(entry: dict[str, Any]) -> None:
    # Given the origin's view of a forwarded request
    expect = entry["expect"]
    delivery = at_origin(expect["uri"], expect["query"], **settings(entry))
    # When the viewer follows the redirect the origin would send
    path, _, query = delivery.viewer_url.partition("?")
    again = at_edge(path, query, entry["request"]["accept"], **settings(entry))
    # Then the edge accepts it under the same policy and maps it to the same object
    assert again.object_key == expect["key"]
    assert again.verdict == delivery.verdict


def test_the_origin_event_is_a_function_url_request() -> None:
    delivery = at_edge("/uploads/a.jpg", "preset=small", "image/webp", policy="off", secrets=[], now=0)
    event = origin_event(delivery, method="HEAD")
    assert event["rawPath"] == "/uploads/a.jpg/fm%3Dwebp%26w%3D400"
    assert event["rawQueryString"] == "w=400&preset=small"
    assert event["requestContext"] == {"http": {"method": "HEAD", "path": event["rawPath"]}}


@pytest.mark.parametrize(
    ("query", "equivalent"),
    [
        ("preset=thumb", True),
        ("fit=cover&g=auto&h=200&w=200&preset=thumb", True),  # as forwarded: expanded, with its name
        ("fit=cover&g=auto&h=200&w=200&preset=thumb&dpr=2&fm=webp", True),
        # Unsigned variation is a closed set, format x the DPR ladder (issue 13): the rest needs `s`
        ("fit=cover&g=auto&h=200&w=200&preset=thumb&dpr=2&fm=webp&v=3&dl=x.jpg", False),
        ("preset=thumb&dpr=2.5", False),
        ("preset=thumb&exp=1700003600", False),
        ("preset=thumb&w=201", False),
        ("preset=thumb&blur=1", False),
        ("preset=small&fit=cover", False),
        ("w=400", False),  # the look of `small`, but no preset named
    ],
)
def test_the_origins_unsigned_preset_rule_judges_the_picture(query: str, equivalent: bool) -> None:
    assert preset_equivalent(TransformSpec.parse(query), DEFAULT_PRESETS) is equivalent


def test_an_unsigned_expanded_preset_with_a_change_is_refused_at_the_origin() -> None:
    # Given a forwarded preset request that someone widened on the way (the edge would have asked for `s`)
    with pytest.raises(Refused) as refused:
        at_origin(
            "/uploads/a.jpg/fit%3Dcover%26fm%3Djpeg%26g%3Dauto%26h%3D200%26w%3D999",
            "fit=cover&g=auto&h=200&w=999&preset=thumb",
            policy="presets-unsigned",
            secrets=[],
            now=0,
        )
    assert refused.value.problem.code == "signature-required"


def test_the_origin_refuses_a_rendition_in_a_format_the_request_did_not_ask_for() -> None:
    with pytest.raises(Refused) as refused:
        at_origin("/uploads/a.jpg/fm%3Dpng%26w%3D400", "w=400&fm=webp", policy="off", secrets=[], now=0)
    assert (refused.value.problem.status, refused.value.problem.param) == (400, "key")


def test_a_forwarded_path_is_decoded_once() -> None:
    delivery = at_origin("/a%2Bb%25.jpg/fm%3Djpeg%26w%3D100", "w=100", policy="off", secrets=[], now=0)
    assert delivery.source_key == unquote("a%2Bb%25.jpg") == "a+b%.jpg"


def test_a_redirect_for_a_preset_with_its_own_dpr_keeps_the_dpr_that_was_asked_for() -> None:
    # Given a stage preset that sets its own dpr, requested unsigned at dpr 1
    presets = {**DEFAULT_PRESETS, "crisp": "w=300&dpr=1.5"}
    options: dict[str, Any] = {"policy": "presets-unsigned", "secrets": [], "presets": presets, "now": 0}
    asked = at_edge("/uploads/acme/cat.jpg", "preset=crisp&dpr=1&fm=jpeg", None, **options)
    # When the origin answers with a redirect to the viewer URL
    delivery = at_origin(asked.origin_path, asked.origin_query, **options)
    path, _, query = delivery.viewer_url.partition("?")
    # Then the redirect still asks for dpr 1 (an omitted dpr would mean the preset's 1.5) and goes unsigned
    assert query == "preset=crisp&dpr=1&fm=jpeg"
    again = at_edge(path, query, None, **options)
    assert again.object_key == asked.object_key == "uploads/acme/cat.jpg/fm=jpeg&w=300"
