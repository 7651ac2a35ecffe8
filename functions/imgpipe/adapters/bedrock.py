"""Optional `Tagger` over an Amazon Bedrock multimodal model (Converse API): a short caption, and tags
from its words."""

from __future__ import annotations

from typing import Any

from imgpipe.naming import STOP_WORDS, words
from imgpipe.tagging import TaggerUnavailable, TagInput, TagResult, remote_jpeg
from infra.constants import DEFAULT_BEDROCK_MODEL_ID

DEFAULT_MODEL_ID = DEFAULT_BEDROCK_MODEL_ID
PROMPT = (
    "Describe this image in one short caption of at most 12 words, naming the main subjects and the "
    "setting. Answer with the caption only."
)
MAX_CAPTION = 200


class BedrockCaptioner:
    """`client` is a boto3 `bedrock-runtime` client."""

    name = "bedrock"

    def __init__(self, client: Any, model_id: str = DEFAULT_MODEL_ID, *, max_tokens: int = 60) -> None:
        self._client = client
        self.model_id = model_id
        self.max_tokens = max_tokens

    def tag(self, image: TagInput) -> TagResult:
        try:
            response = self._client.converse(
                modelId=self.model_id,
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {"image": {"format": "jpeg", "source": {"bytes": remote_jpeg(image.data)}}},
                            {"text": PROMPT},
                        ],
                    }
                ],
                inferenceConfig={"maxTokens": self.max_tokens, "temperature": 0.0},
            )
        except Exception as error:
            raise TaggerUnavailable(f"{self.name}: {type(error).__name__}") from error
        blocks = response.get("output", {}).get("message", {}).get("content", [])
        caption = " ".join(str(block["text"]) for block in blocks if "text" in block).strip()
        if not caption:
            raise TaggerUnavailable(f"{self.name}: the model returned no caption")
        caption = " ".join(caption.split())[:MAX_CAPTION].strip(" .\"'")
        tags: list[str] = []
        for word in words(caption):
            if word not in STOP_WORDS and word not in tags and not word.isdigit():
                tags.append(word)
        return TagResult(tags=tags, source=self.name, caption=caption)
