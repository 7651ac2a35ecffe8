"""Fakes of the messaging ports: the event bus and the quota gate."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

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
