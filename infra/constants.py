"""One name for one thing: resource names, prefixes, environment keys and event names.

The CDK stack, the Lambda handlers, the local runtime (`imgpipe dev`) and the tests all import this
module, so a name cannot drift between them. It must stay free of CDK and boto3 imports.
"""

from __future__ import annotations

from typing import Final

SERVICE_NAME: Final = "imgpipe"
# CloudWatch namespace of the EMF metrics every function publishes.
METRICS_NAMESPACE: Final = "imgpipe"
# Ingest's per-record counts (EMF, dimension service=imgpipe): SQS messages received, and those answered
# back as `batchItemFailures` for a retry, which Lambda counts as a successful invocation. The stack's
# failure-rate alarm divides the second by the first.
METRIC_INGEST_MESSAGES: Final = "messages"
METRIC_INGEST_FAILED: Final = "failed"

# Object keys in the originals bucket.
UPLOADS_PREFIX: Final = "uploads/"
# Batch members, `batches/{tenant}/{batch}/{name}`: a top-level prefix of their own, so S3's prefix filter
# sends their ObjectCreated straight to the bulk queue (docs/ingest.md, "Lanes").
BATCHES_PREFIX: Final = "batches/"
# Every prefix an original (a servable source) lives under; nothing else in the bucket is ever delivered.
SOURCE_PREFIXES: Final = (UPLOADS_PREFIX, BATCHES_PREFIX)
QUARANTINE_PREFIX: Final = "quarantine/"
# The older batch form `uploads/{tenant}/batches/{batch}/{name}`: still a batch member (interactive lane).
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
IMAGES_TABLE_INDEXES: Final = (GSI_BY_TENANT, GSI_BY_BATCH, GSI_BY_CHECKSUM, GSI_BY_SOURCE_KEY)

# Delivery and API names (CDK stack; the CLI finds the deployed resources through the stack outputs).
SIGNING_KEYS_SECRET: Final = "imgpipe-signing-keys"
EDGE_KEY_VALUE_STORE: Final = "imgpipe-signing-keys"
REST_API: Final = "imgpipe-api"
ALARM_TOPIC: Final = "imgpipe-alarms"
ACCESS_LOGS_BUCKET: Final = "imgpipe-access-logs"
# ARN of the Secrets Manager secret holding the active URL-signing keys (JSON: key id -> secret).
ENV_SIGNING_KEYS_SECRET: Final = "IMGPIPE_SIGNING_KEYS_SECRET"

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

# Ingest (issue 3): lanes, eager formats, malware scanning, quarantine metadata.
ENV_LANE: Final = "IMGPIPE_LANE"  # "interactive" or "bulk": which queue this ingest function drains
ENV_EAGER_FORMATS: Final = "IMGPIPE_EAGER_FORMATS"  # "auto" or a comma list such as "avif,webp,jpeg"
ENV_MALWARE_SCAN: Final = "IMGPIPE_MALWARE_SCAN"  # "true": wait for GuardDuty's scan tag before processing
LANE_INTERACTIVE: Final = "interactive"
LANE_BULK: Final = "bulk"
MALWARE_SCAN_TAG: Final = "GuardDutyMalwareScanStatus"
QUARANTINE_REASON_METADATA: Final = "imgpipe-reason"  # S3 user metadata on a quarantined original
# S3 user metadata on a quarantined original: the id of its record
QUARANTINE_IMAGE_METADATA: Final = "imgpipe-image-id"

# Delivery (issue 4): the resize Lambda's extra settings and the edge KeyValueStore's keys.
# Local runs only: JSON key id -> secret, used when no secret ARN is set.
ENV_SIGNING_KEYS: Final = "IMGPIPE_SIGNING_KEYS"
# Renditions larger than this are stored and answered by a redirect.
ENV_MAX_INLINE_BYTES: Final = "IMGPIPE_MAX_INLINE_BYTES"
EDGE_KVS_SIGNING_KEYS: Final = "signing-keys"  # JSON key id -> secret, the same document as the secret
EDGE_KVS_PRESETS: Final = "presets"  # JSON preset name -> query (the stage's presets)
EDGE_KVS_SIGNING_POLICY: Final = "signing-policy"  # required | presets-unsigned | off

# Delivery (issue 4), the resize function's own settings (functions/resize/settings.py).
# The most a render (source fetch, decode, encode, store) may take, in ms; the function also answers 503
# IMGPIPE_DEADLINE_MARGIN_MS before its own deadline, whichever comes first. Unset: the deadline alone.
ENV_RENDER_TIME_BUDGET_MS: Final = "IMGPIPE_RENDER_TIME_BUDGET_MS"
ENV_DEADLINE_MARGIN_MS: Final = "IMGPIPE_DEADLINE_MARGIN_MS"
# JSON object overriding fields of imgpipe.core.Limits (max_pixels, max_output_side, ...) for delivery.
ENV_RESIZE_LIMITS: Final = "IMGPIPE_RESIZE_LIMITS"

# Management API (issue 7, functions/api/): tenants, plans, quotas, uploads, exports and taggers.
PLAN_FREE: Final = "free"
PLAN_PRO: Final = "pro"
PLAN_ENTERPRISE: Final = "enterprise"
# Per API key: steady requests per second and burst. The same numbers as the usage plans in
# infra/config.py, so the handler's own limiter (the only one in `imgpipe dev`) agrees with API Gateway.
PLAN_RATE_LIMIT: Final[dict[str, int]] = {PLAN_FREE: 5, PLAN_PRO: 50, PLAN_ENTERPRISE: 500}
PLAN_BURST_LIMIT: Final[dict[str, int]] = {PLAN_FREE: 10, PLAN_PRO: 100, PLAN_ENTERPRISE: 1_000}
# Per tenant: images accepted per calendar month (UTC) and bytes of originals stored at once.
PLAN_MONTHLY_IMAGES: Final[dict[str, int]] = {
    PLAN_FREE: 1_000,
    PLAN_PRO: 100_000,
    PLAN_ENTERPRISE: 10_000_000,
}
PLAN_STORAGE_BYTES: Final[dict[str, int]] = {
    PLAN_FREE: 1 * 1024**3,
    PLAN_PRO: 100 * 1024**3,
    PLAN_ENTERPRISE: 10 * 1024**4,
}
# The claim of a Cognito ID/access token that names the caller's tenant (when an authoriser is configured).
DEFAULT_TENANT_CLAIM: Final = "custom:tenant"
# In the transformed bucket: ZIP exports of batches, `exports/{tenant}/{batch}/{export id}.zip`.
EXPORTS_PREFIX: Final = "exports/"
ENV_TENANT_CLAIM: Final = "IMGPIPE_TENANT_CLAIM"
# Base URL of the delivery distribution (https://dxxxx.cloudfront.net); unset: responses carry no URLs.
ENV_DELIVERY_BASE_URL: Final = "IMGPIPE_DELIVERY_BASE_URL"
ENV_UPLOAD_MAX_BYTES: Final = "IMGPIPE_UPLOAD_MAX_BYTES"  # the presigned POST's content-length-range ceiling
ENV_EXPORT_MAX_BYTES: Final = "IMGPIPE_EXPORT_MAX_BYTES"  # originals read by one synchronous export
ENV_EXPORT_MAX_IMAGES: Final = "IMGPIPE_EXPORT_MAX_IMAGES"
ENV_API_PLANS: Final = "IMGPIPE_API_PLANS"  # JSON: plan name -> limits overriding the PLAN_* defaults
ENV_TAGGER: Final = "IMGPIPE_TAGGER"  # offline | rekognition | bedrock
ENV_BEDROCK_MODEL_ID: Final = "IMGPIPE_BEDROCK_MODEL_ID"
DEFAULT_BEDROCK_MODEL_ID: Final = "anthropic.claude-3-haiku-20240307-v1:0"  # multimodal, small, cheap
