"""Fakes of the messaging ports: the event bus, the lane forwarder and the quota gate."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence

from imgpipe.records import EventDetail


class FakeEventPublisher:
    """Keeps every published detail in order; `fail` (if set) runs first and may raise."""

    def __init__(self) -> None:
        self.published: list[EventDetail] = []
        self.fail: Callable[[Sequence[EventDetail]], None] | None = None
        self._lock = threading.Lock()

    def publish(self, details: Sequence[EventDetail]) -> None:
        if self.fail is not None:
            self.fail(details)
        with self._lock:
            self.published.extend(details)

    def of_type(self, detail_type: str) -> list[EventDetail]:
        return [detail for detail in self.published if detail_type == detail.DETAIL_TYPE]

    def types(self) -> list[str]:
        return [detail.DETAIL_TYPE for detail in self.published]


class FakeForwarder:
    """The bulk queue: keeps forwarded bodies; ids in `refuse` are reported as not sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.refuse: set[str] = set()

    def forward(self, bodies: Mapping[str, str]) -> set[str]:
        failed = {message_id for message_id in bodies if message_id in self.refuse}
        self.sent.extend(body for message_id, body in bodies.items() if message_id not in failed)
        return failed


class FakeQuota:
    """Admits a tenant until it has asked for more than `limit` bytes in total."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used: dict[str, int] = {}

    def admits(self, tenant: str, size: int) -> bool:
        used = self.used.get(tenant, 0)
        if used + size > self.limit:
            return False
        self.used[tenant] = used + size
        return True

    def release(self, tenant: str, size: int) -> None:
        self.used[tenant] = self.used.get(tenant, 0) - size
