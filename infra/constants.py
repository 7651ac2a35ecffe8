"""One name for one thing: resource names, prefixes, environment keys and event names.

The CDK stack, the Lambda handlers, the local runtime (`imgpipe dev`) and the tests all import this
module, so a name cannot drift between them. It must stay free of CDK and boto3 imports.
"""

from __future__ import annotations

from typing import Final

SERVICE_NAME: Final = "imgpipe"
# CloudWatch namespace of the EMF metrics every function publishes.
METRICS_NAMESPACE: Final = "imgpipe"

# Object keys in the originals bucket.
UPLOADS_PREFIX: Final = "uploads/"
QUARANTINE_PREFIX: Final = "quarantine/"
BATCH_PATH_SEGMENT: Final = "batches/"
# In the transformed bucket: the high-quality intermediate that on-demand resizes start from.
MEZZANINE_PREFIX: Final = "mezzanine/"

# Logical names: the stack derives physical names from them; the local runtime uses them as is.
ORIGINALS_BUCKET: Final = "imgpipe-originals"
TRANSFORMED_BUCKET: Final = "imgpipe-transformed"
IMAGES_TABLE: Final = "imgpipe-images"
EVENT_BUS: Final = "imgpipe"
INTERACTIVE_QUEUE: Final = "imgpipe-ingest-interactive"
BULK_QUEUE: Final = "imgpipe-ingest-bulk"
INTERACTIVE_DLQ: Final = "imgpipe-ingest-interactive-dlq"
BULK_DLQ: Final = "imgpipe-ingest-bulk-dlq"

# Environment keys read once, at cold start, by the handlers' pydantic settings.
ENV_ORIGINALS_BUCKET: Final = "IMGPIPE_ORIGINALS_BUCKET"
ENV_TRANSFORMED_BUCKET: Final = "IMGPIPE_TRANSFORMED_BUCKET"
ENV_IMAGES_TABLE: Final = "IMGPIPE_IMAGES_TABLE"
ENV_EVENT_BUS: Final = "IMGPIPE_EVENT_BUS"
ENV_PRESETS: Final = "IMGPIPE_PRESETS"
ENV_SIGNING_POLICY: Final = "IMGPIPE_SIGNING_POLICY"
ENV_AWS_ENDPOINT_URL: Final = "AWS_ENDPOINT_URL"

# Images table: generic key names so one table holds images, batches and their indexes.
TABLE_PARTITION_KEY: Final = "pk"
TABLE_SORT_KEY: Final = "sk"
TTL_ATTRIBUTE: Final = "ttl"
GSI_BY_TENANT: Final = "gsi1"  # gsi1pk / gsi1sk: a tenant's images, newest first
GSI_BY_BATCH: Final = "gsi2"  # gsi2pk / gsi2sk: the images of one batch
GSI_BY_CHECKSUM: Final = "gsi3"  # gsi3pk / gsi3sk: duplicate detection by checksum
GSI_BY_SOURCE_KEY: Final = "gsi4"  # gsi4pk / gsi4sk: the record of an originals object key

# EventBridge: source and detail types (DESIGN.md, Ingest).
EVENT_SOURCE: Final = "imgpipe"
IMAGE_UPLOADED: Final = "Image Uploaded"
IMAGE_PROCESSED: Final = "Image Processed"
IMAGE_REJECTED: Final = "Image Rejected"
IMAGE_DELETED: Final = "Image Deleted"
BATCH_COMPLETED: Final = "Batch Completed"

# Image record statuses and the only transitions allowed between them.
STATUS_PROCESSING: Final = "PROCESSING"
STATUS_READY: Final = "READY"
STATUS_REJECTED: Final = "REJECTED"
STATUS_DELETED: Final = "DELETED"
ALLOWED_TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    STATUS_PROCESSING: frozenset({STATUS_READY, STATUS_REJECTED, STATUS_DELETED}),
    STATUS_READY: frozenset({STATUS_DELETED}),
    STATUS_REJECTED: frozenset({STATUS_DELETED}),
    STATUS_DELETED: frozenset(),
}
