"""`Tagger` over Amazon Rekognition DetectLabels."""

from __future__ import annotations

from typing import Any

from imgpipe.tagging import TaggerUnavailable, TagInput, TagResult, remote_jpeg

DEFAULT_MAX_LABELS = 10
DEFAULT_MIN_CONFIDENCE = 75.0


class RekognitionTagger:
    """`client` is a boto3 Rekognition client (typed loosely: boto3 ships no type information)."""

    name = "rekognition"

    def __init__(
        self,
        client: Any,
        *,
        max_labels: int = DEFAULT_MAX_LABELS,
        min_confidence: float = DEFAULT_MIN_CONFIDENCE,
    ) -> None:
        self._client = client
        self.max_labels = max_labels
        self.min_confidence = min_confidence

    def tag(self, image: TagInput) -> TagResult:
        try:
            response = self._client.detect_labels(
                Image={"Bytes": remote_jpeg(image.data)},
                MaxLabels=self.max_labels,
                MinConfidence=self.min_confidence,
            )
        except Exception as error:
            # Throttling, 5xx, timeouts and bad credentials alike: the breaker decides what to do.
            raise TaggerUnavailable(f"{self.name}: {type(error).__name__}") from error
        labels = sorted(
            response.get("Labels", []), key=lambda label: float(label.get("Confidence", 0)), reverse=True
        )
        tags: list[str] = []
        for label in labels:
            name = str(label.get("Name", "")).strip().lower()
            if name and name not in tags:
                tags.append(name)
        return TagResult(tags=tags, source=self.name)
