"""Taggers: offline tags from pixels, the breaker's states, Rekognition and Bedrock adapters (Stubber)."""

from __future__ import annotations

import io
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from botocore.stub import ANY, Stubber  # type: ignore[import-untyped]
from PIL import Image

from imgpipe.adapters.bedrock import BedrockCaptioner
from imgpipe.adapters.rekognition import RekognitionTagger
from imgpipe.tagging import (
    BreakerState,
    CircuitBreaker,
    OfflineTagger,
    ResilientTagger,
    TaggerUnavailable,
    TagInput,
    TagResult,
)
from tests.builders import BLUE, RED, encode, photo_like

Open, Closed, HalfOpen = BreakerState.OPEN, BreakerState.CLOSED, BreakerState.HALF_OPEN


def flat(colour: tuple[int, int, int], size: tuple[int, int] = (120, 80)) -> TagInput:
    return TagInput(data=encode(Image.new("RGB", size, colour), "PNG"), width=size[0], height=size[1])


def test_offline_tagger_names_colours_brightness_orientation_camera_and_year() -> None:
    # Given a red-and-blue landscape picture taken with a known camera
    image = Image.new("RGB", (120, 80), RED)
    image.paste(BLUE, (0, 0, 50, 80))
    tags = OfflineTagger().tag(
        TagInput(
            data=encode(image, "PNG"),
            width=120,
            height=80,
            taken_at="2026-07-01T10:00:00Z",
            camera="Canon EOS R5",
        )
    )
    # Then the tags say so, labelled as offline
    assert tags.source == "offline" and tags.refresh is False
    assert tags.tags[:2] == ["red", "blue"]
    assert "landscape" in tags.tags and {"canon", "eos", "r5"} <= set(tags.tags) and "2026" in tags.tags


@pytest.mark.parametrize(("colour", "word"), [((250, 250, 250), "bright"), ((10, 10, 10), "dark")])
def test_offline_tagger_brightness(colour: tuple[int, int, int], word: str) -> None:
    assert word in OfflineTagger().tag(flat(colour, (50, 100))).tags
    assert "portrait" in OfflineTagger().tag(flat(colour, (50, 100))).tags


class Flaky:
    """A remote tagger whose next answers the test sets: True succeeds, False raises TaggerUnavailable."""

    name = "rekognition"

    def __init__(self) -> None:
        self.outcomes: list[bool] = []
        self.calls = 0

    def tag(self, image: TagInput) -> TagResult:
        self.calls += 1
        if self.outcomes and not self.outcomes.pop(0):
            raise TaggerUnavailable("throttled")
        return TagResult(tags=["beach"], source=self.name)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def rig() -> tuple[ResilientTagger, Flaky, Clock]:
    clock, remote = Clock(), Flaky()
    return (
        ResilientTagger(remote, CircuitBreaker(failures=3, window=10, cooldown=30, clock=clock)),
        remote,
        clock,
    )


def test_breaker_opens_after_n_failures_in_the_window_and_falls_back(rig: Any) -> None:
    tagger, remote, clock = rig
    image = flat(RED)
    # Given three failures within ten seconds
    remote.outcomes = [False, False, False]
    results = []
    for _ in range(3):
        results.append(tagger.tag(image))
        clock.now += 2
    # Then each was answered offline and marked for refresh, and the breaker opened
    assert all(result.source == "offline" and result.refresh for result in results)
    assert tagger.breaker.state == Open
    # And while open, the remote tagger is not called at all
    calls = remote.calls
    assert tagger.tag(image).source == "offline"
    assert remote.calls == calls


def test_failures_spread_over_more_than_the_window_do_not_open(rig: Any) -> None:
    tagger, remote, clock = rig
    remote.outcomes = [False] * 5
    for _ in range(5):
        tagger.tag(flat(RED))
        clock.now += 6
    assert tagger.breaker.state == Closed


def test_half_open_probe_success_closes_and_failure_reopens(rig: Any) -> None:
    tagger, remote, clock = rig
    remote.outcomes = [False, False, False]
    for _ in range(3):
        tagger.tag(flat(RED))
    # When the cool-down passes, one probe goes through; it fails, so the breaker opens again
    clock.now += 31
    remote.outcomes = [False]
    assert tagger.tag(flat(RED)).refresh is True
    assert tagger.breaker.state == Open
    # And after another cool-down a successful probe closes it: remote tags again, not marked
    clock.now += 31
    result = tagger.tag(flat(RED))
    assert (result.source, result.refresh) == ("rekognition", False)
    assert tagger.breaker.changes == [
        (Closed, Open),
        (Open, HalfOpen),
        (HalfOpen, Open),
        (Open, HalfOpen),
        (HalfOpen, Closed),
    ]


def test_only_one_probe_while_half_open() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=1, window=10, cooldown=5, clock=clock)
    breaker.failure()
    clock.now = 6
    assert [breaker.allow(), breaker.allow()] == [True, False]


def client(service: str) -> Any:
    return boto3.client(
        service, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def test_rekognition_labels_become_tags_best_first() -> None:
    # Given DetectLabels answering three labels out of confidence order
    rekognition = client("rekognition")
    with Stubber(rekognition) as stub:
        stub.add_response(
            "detect_labels",
            {
                "Labels": [
                    {"Name": "Sand", "Confidence": 80.0},
                    {"Name": "Beach", "Confidence": 99.0},
                    {"Name": "Sea", "Confidence": 90.0},
                ]
            },
            {"Image": {"Bytes": ANY}, "MaxLabels": 10, "MinConfidence": 75.0},
        )
        # When an image is tagged
        result = RekognitionTagger(rekognition).tag(
            TagInput(encode(photo_like(1600, 900), "JPEG"), 1600, 900)
        )
        stub.assert_no_pending_responses()
    # Then the labels are the tags, most confident first
    assert result == TagResult(tags=["beach", "sea", "sand"], source="rekognition")


def test_rekognition_sends_a_small_jpeg_without_metadata() -> None:
    sent: list[bytes] = []
    rekognition = client("rekognition")

    def capture(params: dict[str, Any], **_: Any) -> None:
        sent.append(params["Image"]["Bytes"])

    rekognition.meta.events.register("provide-client-params.rekognition.DetectLabels", capture)
    with Stubber(rekognition) as stub:
        stub.add_response("detect_labels", {"Labels": []})
        RekognitionTagger(rekognition).tag(TagInput(encode(photo_like(2400, 1200), "PNG"), 2400, 1200))
    with Image.open(io.BytesIO(sent[0])) as image:
        assert image.format == "JPEG" and max(image.size) == 1024
        assert not image.getexif()


def test_rekognition_throttling_is_unavailable_and_trips_the_breaker() -> None:
    rekognition = client("rekognition")
    breaker = CircuitBreaker(failures=2, window=60, cooldown=60, clock=Clock())
    tagger = ResilientTagger(RekognitionTagger(rekognition), breaker)
    with Stubber(rekognition) as stub:
        for _ in range(2):
            stub.add_client_error("detect_labels", "ThrottlingException", http_status_code=400)
        with pytest.raises(TaggerUnavailable):
            RekognitionTagger(rekognition).tag(flat(RED))
        result = tagger.tag(flat(RED))
        assert (result.source, result.refresh) == ("offline", True)
        stub.add_client_error("detect_labels", "InternalServerError", http_status_code=500)
        tagger.tag(flat(RED))
    assert breaker.state == Open


def test_bedrock_caption_gives_caption_and_tags() -> None:
    bedrock = client("bedrock-runtime")
    with Stubber(bedrock) as stub:
        stub.add_response(
            "converse",
            {
                "output": {
                    "message": {"role": "assistant", "content": [{"text": "A dog running on a sandy beach."}]}
                },
                "stopReason": "end_turn",
                "usage": {"inputTokens": 10, "outputTokens": 8, "totalTokens": 18},
                "metrics": {"latencyMs": 100},
            },
            {"modelId": "model-x", "messages": ANY, "inferenceConfig": {"maxTokens": 60, "temperature": 0.0}},
        )
        result = BedrockCaptioner(bedrock, "model-x").tag(flat(BLUE))
    assert result.caption == "A dog running on a sandy beach"
    assert result.tags == ["dog", "running", "sandy", "beach"]
    assert result.source == "bedrock"


def test_bedrock_errors_are_unavailable() -> None:
    bedrock = client("bedrock-runtime")
    with Stubber(bedrock) as stub:
        stub.add_client_error("converse", "ModelNotReadyException", http_status_code=429)
        with pytest.raises(TaggerUnavailable):
            BedrockCaptioner(bedrock).tag(flat(BLUE))
