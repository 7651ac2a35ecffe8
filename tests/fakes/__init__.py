"""In-memory fakes of every port in `imgpipe.ports`: unit tests hand these to services."""

from tests.fakes.messaging import FakeEventPublisher, FakeQuota
from tests.fakes.object_store import FakeObjectStore
from tests.fakes.repository import FakeMetadataRepository

__all__ = ["FakeEventPublisher", "FakeMetadataRepository", "FakeObjectStore", "FakeQuota"]
