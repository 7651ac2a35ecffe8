"""`FakeMetadataRepository`: the DynamoDB table's conditional semantics, in a dict behind one lock."""

from __future__ import annotations

import threading
from collections.abc import Callable

from imgpipe.ports import BatchCounter, ConditionFailed
from imgpipe.records import BatchRecord, ImageRecord, SourcePointer
from infra.constants import ALLOWED_TRANSITIONS, STATUS_PROCESSING


class FakeMetadataRepository:
    """Each method is atomic, as each DynamoDB call (or transaction) is. `fail_on[name]` runs first and may
    raise, to inject faults into one call site."""

    def __init__(self) -> None:
        self.sources: dict[str, SourcePointer] = {}
        self.images: dict[str, ImageRecord] = {}
        self.batches: dict[tuple[str, str], BatchRecord] = {}
        self.fail_on: dict[str, Callable[[], None]] = {}
        self.calls: list[str] = []
        self._lock = threading.RLock()

    def _enter(self, name: str) -> None:
        self.calls.append(name)
        failure = self.fail_on.get(name)
        if failure is not None:
            failure()

    # Sources

    def get_source(self, source_key: str) -> SourcePointer | None:
        with self._lock:
            self._enter("get_source")
            found = self.sources.get(source_key)
            return found.model_copy(deep=True) if found else None

    def claim_source(self, pointer: SourcePointer) -> SourcePointer | None:
        with self._lock:
            self._enter("claim_source")
            stored = self.sources.get(pointer.source_key)
            if stored is not None and not stored.sequencer < pointer.sequencer:
                raise ConditionFailed(
                    f"{pointer.source_key}: stored {stored.sequencer} >= {pointer.sequencer}"
                )
            self.sources[pointer.source_key] = pointer.model_copy(deep=True)
            return stored

    def save_source(self, pointer: SourcePointer) -> None:
        with self._lock:
            self._enter("save_source")
            stored = self.sources.get(pointer.source_key)
            if stored is None or stored.sequencer != pointer.sequencer:
                raise ConditionFailed(pointer.source_key)
            self.sources[pointer.source_key] = pointer.model_copy(deep=True)

    # Images

    def get_image(self, image_id: str) -> ImageRecord | None:
        with self._lock:
            self._enter("get_image")
            found = self.images.get(image_id)
            return found.model_copy(deep=True) if found else None

    def create_image(self, record: ImageRecord) -> None:
        with self._lock:
            self._enter("create_image")
            if record.image_id in self.images:
                raise ConditionFailed(record.image_id)
            assert record.status == STATUS_PROCESSING, "a record is created PROCESSING"
            self.images[record.image_id] = record.model_copy(deep=True)

    def save_image(self, record: ImageRecord, *, expected_status: str) -> None:
        with self._lock:
            self._enter("save_image")
            self._check_status(record.image_id, expected_status)
            self._check_transition(expected_status, record)
            self.images[record.image_id] = record.model_copy(deep=True)

    def finish_image(self, record: ImageRecord, *, expected_status: str, count: BatchCounter | None) -> None:
        with self._lock:
            self._enter("finish_image")
            self._check_status(record.image_id, expected_status)
            self._check_transition(expected_status, record)
            self.images[record.image_id] = record.model_copy(deep=True)
            if count is not None and record.batch_id is not None:
                batch = self._batch(record.tenant, record.batch_id, record.updated_at)
                setattr(batch, count, getattr(batch, count) + 1)
                batch.done += 1
                batch.updated_at = record.updated_at

    def _check_status(self, image_id: str, expected: str) -> None:
        stored = self.images.get(image_id)
        if stored is None or stored.status != expected:
            raise ConditionFailed(
                f"{image_id}: status is {stored.status if stored else None}, not {expected}"
            )

    @staticmethod
    def _check_transition(before: str, record: ImageRecord) -> None:
        """Not a DynamoDB rule but the service's: every unit test fails on a transition DESIGN.md forbids."""
        if record.status != before and record.status not in ALLOWED_TRANSITIONS[before]:
            raise AssertionError(
                f"{record.image_id}: {before} -> {record.status} is not an allowed transition"
            )

    def find_by_checksum(self, tenant: str, sha256: str) -> list[ImageRecord]:
        with self._lock:
            self._enter("find_by_checksum")
            return [
                record.model_copy(deep=True)
                for record in self.images.values()
                if record.tenant == tenant and record.sha256 == sha256
            ]

    # Batches

    def _batch(self, tenant: str, batch_id: str, now: str) -> BatchRecord:
        batch = self.batches.get((tenant, batch_id))
        if batch is None:
            batch = BatchRecord(tenant=tenant, batch_id=batch_id, created_at=now, updated_at=now)
            self.batches[(tenant, batch_id)] = batch
        return batch

    def get_batch(self, tenant: str, batch_id: str) -> BatchRecord | None:
        with self._lock:
            self._enter("get_batch")
            found = self.batches.get((tenant, batch_id))
            return found.model_copy(deep=True) if found else None

    def set_batch_expected(self, tenant: str, batch_id: str, expected: int, now: str) -> BatchRecord:
        with self._lock:
            self._enter("set_batch_expected")
            batch = self._batch(tenant, batch_id, now)
            if batch.expected is not None and batch.expected != expected:
                raise ConditionFailed(f"batch {batch_id} expects {batch.expected}, not {expected}")
            batch.expected = expected
            batch.updated_at = now
            return batch.model_copy(deep=True)

    def claim_batch_completion(self, tenant: str, batch_id: str, now: str, until: str) -> BatchRecord | None:
        with self._lock:
            self._enter("claim_batch_completion")
            batch = self.batches.get((tenant, batch_id))
            if (
                batch is None
                or batch.expected is None
                or batch.done < batch.expected
                or batch.completed
                or (batch.claim_until is not None and not batch.claim_until < now)
            ):
                return None
            batch.claim_until = until
            batch.updated_at = now
            return batch.model_copy(deep=True)

    def mark_batch_completed(self, tenant: str, batch_id: str, now: str) -> None:
        with self._lock:
            self._enter("mark_batch_completed")
            batch = self.batches[(tenant, batch_id)]
            batch.completed = True
            batch.completed_at = now
            batch.updated_at = now
            batch.claim_until = None

    def release_batch_claim(self, tenant: str, batch_id: str) -> None:
        with self._lock:
            self._enter("release_batch_claim")
            batch = self.batches.get((tenant, batch_id))
            if batch is not None:
                batch.claim_until = None
