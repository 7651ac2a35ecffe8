"""`MessageForwarder` over an SQS queue (the interactive lane hands batch uploads to the bulk lane)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_SEND_BATCH_LIMIT = 10  # entries per SendMessageBatch call


class SqsForwarder:
    """`client` is a boto3 SQS client; `queue_url` the destination queue."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self.queue_url = queue_url

    def forward(self, bodies: Mapping[str, str]) -> set[str]:
        failed: set[str] = set()
        items = list(bodies.items())
        for start in range(0, len(items), _SEND_BATCH_LIMIT):
            chunk = items[start : start + _SEND_BATCH_LIMIT]
            # Entry ids allow only [A-Za-z0-9_-]{1,80}: positions, mapped back to the caller's ids.
            entries = [{"Id": str(index), "MessageBody": body} for index, (_, body) in enumerate(chunk)]
            try:
                response = self._client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except self._client.exceptions.ClientError:
                failed.update(caller_id for caller_id, _ in chunk)
                continue
            for entry in response.get("Failed", []):
                failed.add(chunk[int(entry["Id"])][0])
        return failed
