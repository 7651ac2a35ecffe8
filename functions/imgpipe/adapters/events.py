"""`EventPublisher` over an EventBridge bus."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from imgpipe.records import EventDetail
from infra.constants import EVENT_SOURCE

_PUT_EVENTS_LIMIT = 10  # entries per PutEvents call


class EventPublishFailed(RuntimeError):
    """EventBridge refused some entries; the caller's message fails and is retried."""


class EventBridgePublisher:
    """`client` is a boto3 EventBridge (`events`) client."""

    def __init__(self, client: Any, bus: str, source: str = EVENT_SOURCE) -> None:
        self._client = client
        self.bus = bus
        self.source = source

    def publish(self, details: Sequence[EventDetail]) -> None:
        entries = [
            {
                "Source": self.source,
                "DetailType": detail.DETAIL_TYPE,
                "Detail": detail.model_dump_json(),
                "EventBusName": self.bus,
            }
            for detail in details
        ]
        for start in range(0, len(entries), _PUT_EVENTS_LIMIT):
            chunk = entries[start : start + _PUT_EVENTS_LIMIT]
            response = self._client.put_events(Entries=chunk)
            if response.get("FailedEntryCount"):
                failed = [entry for entry in response.get("Entries", []) if entry.get("ErrorCode")]
                first = failed[0] if failed else {}
                raise EventPublishFailed(
                    f"{response['FailedEntryCount']} of {len(chunk)} events refused by {self.bus}: "
                    f"{first.get('ErrorCode')} {first.get('ErrorMessage')}"
                )
