"""Each Lambda's environment, from the stage configuration: one definition for the stack and `imgpipe dev`.

The CDK constructs (infra/pipeline.py, infra/delivery.py, infra/api.py) pass their resources' names (CDK
tokens) and the local runtime passes the embedded AWS's names; everything else comes from the stage
config here, so a setting cannot reach one and miss the other (as the plans and tagger once missed the
local ingest). CDK-free: the local runtime imports it without aws_cdk.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.config import StageConfig
from infra.constants import (
    ENV_API_PLANS,
    ENV_BEDROCK_MODEL_ID,
    ENV_DELIVERY_BASE_URL,
    ENV_EAGER_FORMATS,
    ENV_EVENT_BUS,
    ENV_IMAGES_TABLE,
    ENV_LANE,
    ENV_MALWARE_SCAN,
    ENV_ORIGINALS_BUCKET,
    ENV_PRESETS,
    ENV_SIGNING_KEYS,
    ENV_SIGNING_KEYS_SECRET,
    ENV_SIGNING_POLICY,
    ENV_TAGGER,
    ENV_TENANT_CLAIM,
    ENV_TRANSFORMED_BUCKET,
)


@dataclass(frozen=True)
class ResourceNames:
    """The names a function is told (CDK tokens when synthesised, plain names locally)."""

    originals_bucket: str
    transformed_bucket: str
    images_table: str
    event_bus: str


def _storage(names: ResourceNames) -> dict[str, str]:
    return {
        ENV_ORIGINALS_BUCKET: names.originals_bucket,
        ENV_TRANSFORMED_BUCKET: names.transformed_bucket,
        ENV_IMAGES_TABLE: names.images_table,
        ENV_EVENT_BUS: names.event_bus,
    }


def ingest_environment(
    config: StageConfig,
    names: ResourceNames,
    *,
    lane: str,
    malware_scan: bool | None = None,
) -> dict[str, str]:
    """The ingest function of `lane`. `malware_scan` overrides the stage's feature (locally there is no
    GuardDuty to tag uploads, so the local runtime passes False). The lanes differ only in `IMGPIPE_LANE`:
    S3's prefix filters route the keys, no lane hands work to the other."""
    scan = config.features.malware_scan if malware_scan is None else malware_scan
    environment = {
        **_storage(names),
        ENV_PRESETS: config.presets_json,
        ENV_EAGER_FORMATS: config.eager_formats,
        ENV_MALWARE_SCAN: "true" if scan else "false",
        # Ingest counts every upload against its tenant's plan, as the API does at presign time.
        ENV_API_PLANS: config.api.plans_json,
        ENV_TAGGER: config.features.tagger,
        ENV_LANE: lane,
    }
    if config.features.tagger == "bedrock":
        environment[ENV_BEDROCK_MODEL_ID] = config.features.bedrock_model_id
    return environment


def resize_environment(
    config: StageConfig,
    names: ResourceNames,
    *,
    signing_keys_secret: str | None = None,
    signing_keys_document: str | None = None,
) -> dict[str, str]:
    """The resize function: deployed it reads the signing keys from the secret (its ARN); locally it is
    given the key document itself (`IMGPIPE_SIGNING_KEYS`), as there is no Secrets Manager."""
    environment = {
        ENV_ORIGINALS_BUCKET: names.originals_bucket,
        ENV_TRANSFORMED_BUCKET: names.transformed_bucket,
        ENV_IMAGES_TABLE: names.images_table,
        ENV_PRESETS: config.presets_json,
        ENV_SIGNING_POLICY: config.signing_policy,
    }
    if signing_keys_secret is not None:
        environment[ENV_SIGNING_KEYS_SECRET] = signing_keys_secret
    if signing_keys_document is not None:
        environment[ENV_SIGNING_KEYS] = signing_keys_document
    return environment


def api_environment(config: StageConfig, names: ResourceNames, *, delivery_base_url: str) -> dict[str, str]:
    """The management API. It signs no delivery URL (it hands out unsigned preset URLs only, as the
    signing policy allows), so it is given no signing keys."""
    environment = {
        **_storage(names),
        ENV_PRESETS: config.presets_json,
        ENV_SIGNING_POLICY: config.signing_policy,
        ENV_DELIVERY_BASE_URL: delivery_base_url,
        ENV_API_PLANS: config.api.plans_json,
    }
    if config.api.tenant_claim is not None:
        environment[ENV_TENANT_CLAIM] = config.api.tenant_claim
    return environment
