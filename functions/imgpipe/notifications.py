"""S3 event notifications as they arrive in an SQS message body.

Lenient on purpose: Powertools' `S3Model` requires fields (userIdentity, requestParameters,
responseElements, bucket.ownerIdentity) that moto and so the local runtime (`imgpipe dev`) leave out, and
a message that cannot be parsed only fails and ends in the DLQ. The fields ingest relies on are required.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field

TEST_EVENT = "s3:TestEvent"


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class S3ObjectRef(_Lenient):
    key: str  # URL-encoded as S3 sends it (`+` is a space)
    size: int | None = None
    etag: str | None = Field(default=None, alias="eTag")
    sequencer: str | None = None
    version_id: str | None = Field(default=None, alias="versionId")

    @property
    def decoded_key(self) -> str:
        return unquote_plus(self.key)


class S3BucketRef(_Lenient):
    name: str


class S3Entity(_Lenient):
    bucket: S3BucketRef
    object: S3ObjectRef


class S3ResponseElements(_Lenient):
    request_id: str | None = Field(default=None, alias="x-amz-request-id")


class S3EventRecord(_Lenient):
    event_name: str = Field(alias="eventName")
    event_time: datetime | None = Field(default=None, alias="eventTime")
    event_source: str | None = Field(default=None, alias="eventSource")
    s3: S3Entity
    response_elements: S3ResponseElements | None = Field(default=None, alias="responseElements")

    @property
    def created(self) -> bool:
        return self.event_name.startswith("ObjectCreated:")

    @property
    def removed(self) -> bool:
        return self.event_name.startswith("ObjectRemoved:")

    @property
    def key(self) -> str:
        return self.s3.object.decoded_key


class S3Notification(_Lenient):
    """An S3 notification body: `Records`, or the `s3:TestEvent` S3 sends when notifications are set up."""

    records: list[S3EventRecord] = Field(default_factory=list, alias="Records")
    event: str | None = Field(default=None, alias="Event")

    @property
    def is_test_event(self) -> bool:
        return self.event == TEST_EVENT
