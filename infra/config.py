"""Stage configuration: read from `cdk.json` context, validated once, then passed to every construct.

`cdk deploy -c stage=prod` picks `context.stages.prod`; anything wrong (an unknown key, a preset the engine
cannot parse, an alarm e-mail without `@`, WAF outside us-east-1) stops synthesis with pydantic's message
instead of failing half way through a CloudFormation deployment.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from imgpipe.core import DEFAULT_PRESETS, TransformSpec
from infra.constants import (
    ACCESS_LOGS_BUCKET,
    BATCHES_PREFIX,
    DEFAULT_BEDROCK_MODEL_ID,
    ORIGINALS_BUCKET,
    PLAN_BURST_LIMIT,
    PLAN_ENTERPRISE,
    PLAN_FREE,
    PLAN_PRO,
    PLAN_RATE_LIMIT,
    TRANSFORMED_BUCKET,
    UPLOADS_PREFIX,
)

CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"
STAGE_CONTEXT_KEY = "stage"
STAGES_CONTEXT_KEY = "stages"
DEFAULT_STAGE = "dev"

# The values CloudWatch Logs accepts for a log group's retention.
LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)

# The partitions where every service the stack uses exists: CloudFront with CloudFront Functions, their
# KeyValueStore and origin access control (not in aws-cn, aws-us-gov or the isolated partitions), Lambda
# Function URLs, SQS, DynamoDB, EventBridge, API Gateway, SNS, KMS, Secrets Manager, CloudWatch, X-Ray.
SUPPORTED_PARTITIONS = frozenset({"aws"})
# The regions of those partitions (a stage may pin one); new regions are added here deliberately.
SUPPORTED_REGIONS = frozenset(
    {
        "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "ca-west-1", "mx-central-1",
        "sa-east-1", "eu-central-1", "eu-central-2", "eu-west-1", "eu-west-2", "eu-west-3", "eu-south-1",
        "eu-south-2", "eu-north-1", "il-central-1", "me-south-1", "me-central-1", "af-south-1",
        "ap-east-1", "ap-east-2", "ap-south-1", "ap-south-2", "ap-northeast-1", "ap-northeast-2",
        "ap-northeast-3", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4",
        "ap-southeast-5", "ap-southeast-7",
    }
)  # fmt: skip
LONGEST_REGION = max(sorted(SUPPORTED_REGIONS), key=len)
TARGET_PARTITIONS_CONTEXT_KEY = "@aws-cdk/core:target-partitions"
# S3's limit on a bucket name, and the buckets the stack names (`bucket_name`).
BUCKET_NAME_MAX_LENGTH = 63
BUCKETS = (ORIGINALS_BUCKET, TRANSFORMED_BUCKET, ACCESS_LOGS_BUCKET)
ACCOUNT_ID_LENGTH = 12

SigningPolicy = Literal["required", "presets-unsigned", "off"]
_FORMAT = "(avif|webp|jpeg|png|gif)"
_EAGER_FORMATS = rf"^(auto|{_FORMAT}(,{_FORMAT})*)$"
PositiveInt = Annotated[int, Field(gt=0)]


class ConfigError(ValueError):
    """The stage configuration in cdk.json is missing or invalid."""


class _Model(BaseModel):
    # camelCase in cdk.json (the CDK convention), snake_case in Python; unknown keys are typos.
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, validate_default=True
    )


INTERACTIVE_CREATED_PREFIXES: tuple[str, ...] = (UPLOADS_PREFIX,)
INTERACTIVE_REMOVED_PREFIXES: tuple[str, ...] = (UPLOADS_PREFIX, BATCHES_PREFIX)
BULK_CREATED_PREFIXES: tuple[str, ...] = (BATCHES_PREFIX,)
# lane → (ObjectCreated prefixes, ObjectRemoved prefixes)
_ROUTES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "interactive": (INTERACTIVE_CREATED_PREFIXES, INTERACTIVE_REMOVED_PREFIXES),
    "bulk": (BULK_CREATED_PREFIXES, ()),
}


class LaneConfig(_Model):
    """One SQS lane into its ingest function."""

    batch_size: Annotated[int, Field(ge=1, le=10)]
    batching_window_seconds: Annotated[int, Field(ge=0, le=300)]
    max_concurrency: Annotated[int, Field(ge=2, le=1000)]  # Lambda's floor for SQS maximum concurrency
    # S3 key prefixes whose ObjectCreated (`prefixes`) and ObjectRemoved (`removed_prefixes`) notify this
    # lane. Fixed, see LanesConfig; the stack and the local runtime (`imgpipe dev`) both read them here.
    prefixes: tuple[str, ...] = ()
    removed_prefixes: tuple[str, ...] = ()
    # Alarm when the oldest waiting message is older than this.
    max_message_age_seconds: Annotated[int, Field(ge=60, le=86_400)] = 300


class LanesConfig(_Model):
    """The two ingest lanes. Which lane a key goes to is fixed, not configured, and S3 does the routing:
    ObjectCreated under `uploads/` notifies the interactive queue, ObjectCreated under `batches/` (batch
    members, `batches/{tenant}/{batch}/{name}`) the bulk queue, and ObjectRemoved under both the
    interactive queue, so a delete never waits behind a batch. S3 refuses overlapping prefixes only for
    the same event type; these four filters do not overlap at all. The older batch form
    `uploads/{tenant}/batches/...` reaches the interactive lane (a prefix filter cannot see a middle
    segment), which processes it itself."""

    interactive: LaneConfig = LaneConfig(
        batch_size=1,
        batching_window_seconds=0,
        max_concurrency=20,
        prefixes=INTERACTIVE_CREATED_PREFIXES,
        removed_prefixes=INTERACTIVE_REMOVED_PREFIXES,
    )
    # A large batch is expected to wait; only an hour-old message in the bulk lane is worth a page.
    bulk: LaneConfig = LaneConfig(
        batch_size=5,
        batching_window_seconds=5,
        max_concurrency=5,
        max_message_age_seconds=3600,
        prefixes=BULK_CREATED_PREFIXES,
    )
    max_receive_count: Annotated[int, Field(ge=1, le=1000)] = 5

    @field_validator("interactive", "bulk", mode="after")
    @classmethod
    def _fixed_prefixes_by_default(cls, lane: LaneConfig, info: ValidationInfo) -> LaneConfig:
        # A lane given without prefixes (its sizes only, as cdk.json does) gets the fixed routing.
        created, removed = _ROUTES[str(info.field_name)]
        update: dict[str, tuple[str, ...]] = {}
        if "prefixes" not in lane.model_fields_set:
            update["prefixes"] = created
        if "removed_prefixes" not in lane.model_fields_set:
            update["removed_prefixes"] = removed
        return lane.model_copy(update=update) if update else lane

    @model_validator(mode="after")
    def _routing_is_fixed(self) -> LanesConfig:
        for name, lane in (("interactive", self.interactive), ("bulk", self.bulk)):
            if (lane.prefixes, lane.removed_prefixes) != _ROUTES[name]:
                raise ValueError(
                    f"lane routing is fixed: ObjectCreated under {UPLOADS_PREFIX!r} notifies the interactive "
                    f"lane, ObjectCreated under {BATCHES_PREFIX!r} (batch members) the bulk lane, and "
                    f"ObjectRemoved under both the interactive lane (S3 prefix filters cannot match a "
                    f"middle segment such as uploads/*/batches/); leave lanes.*.prefixes out"
                )
        return self


class PlanConfig(_Model):
    """An API usage plan: steady rate, burst and monthly request quota per API key (API Gateway), and the
    per-tenant image quotas the API itself enforces (`IMGPIPE_API_PLANS`)."""

    rate_limit: Annotated[float, Field(gt=0)]
    burst_limit: PositiveInt
    monthly_quota: PositiveInt  # API requests per month, per key
    # Images accepted per month and bytes of originals stored; the shared defaults for the known plans.
    monthly_images: PositiveInt | None = None
    storage_bytes: PositiveInt | None = None

    def api_limits(self) -> dict[str, float | int]:
        """This plan as the API function reads it (fields left out keep the API's defaults)."""
        limits: dict[str, float | int] = {"rate_limit": self.rate_limit, "burst_limit": self.burst_limit}
        if self.monthly_images is not None:
            limits["monthly_images"] = self.monthly_images
        if self.storage_bytes is not None:
            limits["storage_bytes"] = self.storage_bytes
        return limits


# Monthly API requests per key; the rates and bursts are the shared ones, so the API's own limiter (the
# only one in `imgpipe dev`) agrees with API Gateway.
_MONTHLY_REQUESTS = {PLAN_FREE: 10_000, PLAN_PRO: 1_000_000, PLAN_ENTERPRISE: 50_000_000}


def _default_plans() -> dict[str, PlanConfig]:
    return {
        name: PlanConfig(
            rate_limit=PLAN_RATE_LIMIT[name],
            burst_limit=PLAN_BURST_LIMIT[name],
            monthly_quota=_MONTHLY_REQUESTS[name],
        )
        for name in (PLAN_FREE, PLAN_PRO, PLAN_ENTERPRISE)
    }


class ApiConfig(_Model):
    plans: dict[str, PlanConfig] = Field(default_factory=_default_plans)
    # An existing user pool: tenants bring their identity provider; the stack does not own user data.
    cognito_user_pool_arn: str | None = Field(default=None, pattern=r"^arn:aws[\w-]*:cognito-idp:")
    # The token claim that names the caller's tenant when the Cognito authoriser is used.
    tenant_claim: str | None = Field(default=None, min_length=1)
    # API Gateway writes the stage's access logs through one role per account and region (its account
    # settings). The stack sets it, unless this says the account already has one that others rely on.
    account_has_cloud_watch_role: StrictBool = False
    # The whole stage's ceiling (every key and the keyless routes together), above the largest plan, so a
    # flood cannot take the account's concurrency through the API function: at ~50 ms a request, 1 000
    # requests a second keep about 50 API executions busy.
    stage_rate_limit: Annotated[float, Field(gt=0, le=10_000)] = 1_000
    stage_burst_limit: Annotated[int, Field(gt=0, le=5_000)] = 2_000

    @model_validator(mode="after")
    def _plans_fit_the_stage(self) -> ApiConfig:
        for name, plan in self.plans.items():
            if plan.rate_limit > self.stage_rate_limit or plan.burst_limit > self.stage_burst_limit:
                raise ValueError(
                    f"plan {name!r} ({plan.rate_limit}/s, burst {plan.burst_limit}) exceeds the stage's "
                    f"throttle ({self.stage_rate_limit}/s, burst {self.stage_burst_limit}): raise "
                    "api.stageRateLimit / api.stageBurstLimit"
                )
        return self

    @field_validator("plans")
    @classmethod
    def _plans_named(cls, plans: dict[str, PlanConfig]) -> dict[str, PlanConfig]:
        if not plans:
            raise ValueError("at least one usage plan is needed, or no API key can call the API")
        for name, plan in plans.items():
            if not name.isidentifier() or not name.islower():
                raise ValueError(f"plan name {name!r} must be a lower-case identifier")
            if name not in PLAN_RATE_LIMIT and (plan.monthly_images is None or plan.storage_bytes is None):
                raise ValueError(f"plan {name!r} is new: set its monthlyImages and storageBytes")
        return plans

    @property
    def plans_json(self) -> str:
        """The plans as the API function reads them from IMGPIPE_API_PLANS."""
        document = {name: plan.api_limits() for name, plan in self.plans.items()}
        return json.dumps(document, sort_keys=True, separators=(",", ":"))


class DomainConfig(_Model):
    names: tuple[str, ...] = Field(min_length=1)
    # CloudFront only takes certificates from ACM in us-east-1.
    certificate_arn: str = Field(pattern=r"^arn:aws[\w-]*:acm:us-east-1:\d{12}:certificate/")


class WafConfig(_Model):
    enabled: bool = False
    # Requests per client IP in any 5-minute window before the rate-based rule blocks it.
    rate_limit: Annotated[int, Field(ge=10, le=2_000_000_000)] = 2_000
    # Use an existing CLOUDFRONT-scoped web ACL instead of creating one.
    web_acl_arn: str | None = Field(default=None, pattern=r"^arn:aws[\w-]*:wafv2:us-east-1:")


class FeaturesConfig(_Model):
    waf: WafConfig = WafConfig()
    # Ingest waits for GuardDuty Malware Protection for S3's scan tag; the protection plan itself is
    # enabled on the originals bucket by the deployer.
    malware_scan: bool = False
    # Who names an image's content at ingest: `offline` (no network), or Amazon Rekognition / Bedrock behind
    # a circuit breaker that falls back to it.
    tagger: Literal["offline", "rekognition", "bedrock"] = "offline"
    bedrock_model_id: str = DEFAULT_BEDROCK_MODEL_ID
    origin_shield_region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    # X-Ray active tracing on every function.
    tracing: bool = True


class StageConfig(_Model):
    stage: str = Field(pattern=r"^[a-z][a-z0-9-]{0,19}$")
    account: str | None = Field(default=None, pattern=r"^\d{12}$")
    region: str | None = None
    # Production keeps data on stack deletion and turns on termination protection.
    production: bool = False
    presets: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_PRESETS))
    signing_policy: SigningPolicy = "presets-unsigned"
    # Formats of the eager renditions: "auto" (the engine's negotiation set) or a comma list.
    eager_formats: str = Field(default="auto", pattern=_EAGER_FORMATS)
    log_retention_days: int = 30
    transformed_expiry_days: Annotated[int, Field(ge=1, le=3650)] = 30
    noncurrent_version_expiry_days: Annotated[int, Field(ge=1, le=3650)] = 30
    quarantine_expiry_days: Annotated[int, Field(ge=1, le=3650)] = 90
    event_archive_days: Annotated[int, Field(ge=0, le=3650)] = 90  # 0 keeps events forever
    alarm_email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    cors_allowed_origins: tuple[str, ...] = ("*",)
    domain: DomainConfig | None = None
    lanes: LanesConfig = LanesConfig()
    api: ApiConfig = ApiConfig()
    features: FeaturesConfig = FeaturesConfig()
    # The resize function's reserved concurrency: a flood of misses (random keys) can take no more than
    # this from the account, and always gets it (docs/deploy.md, "Flood guard"). None: unreserved.
    resize_reserved_concurrency: Annotated[int, Field(ge=1, le=900)] | None = 50

    @field_validator("region")
    @classmethod
    def _region_is_supported(cls, region: str | None) -> str | None:
        if region is not None and region not in SUPPORTED_REGIONS:
            raise ValueError(
                f"region {region!r} is not one where every service of the stack exists "
                f"(partitions {sorted(SUPPORTED_PARTITIONS)}); known: {sorted(SUPPORTED_REGIONS)}"
            )
        return region

    @model_validator(mode="after")
    def _bucket_names_fit(self) -> StageConfig:
        # Checked for the region the stage pins, or for the longest one it could be deployed to.
        region = self.region or LONGEST_REGION
        account = "0" * ACCOUNT_ID_LENGTH
        name = max((bucket_name(b, self.stage, account, region) for b in BUCKETS), key=len)
        if len(name) > BUCKET_NAME_MAX_LENGTH:
            room = BUCKET_NAME_MAX_LENGTH - (len(name) - len(self.stage))
            raise ValueError(
                f"bucket name {name!r} would be {len(name)} characters in {region} (S3 allows "
                f"{BUCKET_NAME_MAX_LENGTH}): use a stage name of at most {room} characters"
                + ("" if self.region else ", or pin a shorter region")
            )
        return self

    @field_validator("presets")
    @classmethod
    def _presets_parse(cls, presets: dict[str, str]) -> dict[str, str]:
        for name, spec in presets.items():
            if not name.isidentifier():
                raise ValueError(f"preset name {name!r} must be an identifier")
            try:
                TransformSpec.parse(spec)
            except ValueError as exc:
                raise ValueError(f"preset {name!r} = {spec!r}: {exc}") from exc
        return presets

    @field_validator("log_retention_days")
    @classmethod
    def _retention_is_a_cloudwatch_value(cls, days: int) -> int:
        if days not in LOG_RETENTION_DAYS:
            raise ValueError(
                f"{days} is not a CloudWatch Logs retention; use one of {sorted(LOG_RETENTION_DAYS)}"
            )
        return days

    @model_validator(mode="after")
    def _production_rules(self) -> StageConfig:
        if self.production and self.signing_policy == "off":
            raise ValueError(
                "signing policy 'off' is for local experiments; a production stage cannot use it"
            )
        waf = self.features.waf
        if waf.enabled and waf.web_acl_arn is None and self.region not in (None, "us-east-1"):
            raise ValueError(
                "a CloudFront web ACL can only be created in us-east-1: "
                "deploy there or set features.waf.webAclArn"
            )
        return self

    @property
    def presets_json(self) -> str:
        """The presets as the handlers read them from the environment."""
        return json.dumps(self.presets, sort_keys=True, separators=(",", ":"))

    def physical_name(self, logical: str) -> str:
        """A per-stage resource name, so several stages can share one account."""
        return f"{logical}-{self.stage}"


def bucket_name(logical: str, stage: str, account: str, region: str) -> str:
    """Bucket names are global: the stage, account and region make them unique and predictable."""
    return f"{logical}-{stage}-{account}-{region}"


def check_target_partitions(partitions: object) -> None:
    """`@aws-cdk/core:target-partitions` may name only partitions where the whole stack can exist."""
    if partitions is None:
        return
    if isinstance(partitions, str):
        partitions = json.loads(partitions) if partitions.startswith("[") else [partitions]
    if not isinstance(partitions, list) or not partitions:
        raise ConfigError(f"{TARGET_PARTITIONS_CONTEXT_KEY} must be a list of partitions")
    unsupported = sorted(set(map(str, partitions)) - SUPPORTED_PARTITIONS)
    if unsupported:
        raise ConfigError(
            f"cdk.json {TARGET_PARTITIONS_CONTEXT_KEY} names {unsupported}: CloudFront Functions, their "
            f"KeyValueStore or origin access control do not exist there; use {sorted(SUPPORTED_PARTITIONS)}"
        )


def cdk_json_context(path: Path = CDK_JSON) -> dict[str, Any]:
    """The `context` block of cdk.json, as the CDK CLI would pass it (for synths without the CLI)."""
    context: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")).get("context", {})
    return context


def load_stage_config(context: Mapping[str, Any]) -> StageConfig:
    """Pick the stage named by the `stage` context key and validate its settings."""
    stage = context.get(STAGE_CONTEXT_KEY) or DEFAULT_STAGE
    stages = context.get(STAGES_CONTEXT_KEY)
    if isinstance(stages, str):  # `-c stages=...` on the command line arrives as a JSON string
        stages = json.loads(stages)
    if not isinstance(stages, Mapping) or stage not in stages:
        known = sorted(stages) if isinstance(stages, Mapping) else []
        raise ConfigError(f"no settings for stage {stage!r} in cdk.json context.stages (known: {known})")
    try:
        return StageConfig.model_validate({"stage": stage, **stages[stage]})
    except ValidationError as exc:
        raise ConfigError(f"cdk.json context.stages.{stage}: {exc}") from exc


__all__ = [
    "BUCKETS",
    "ConfigError",
    "LaneConfig",
    "PlanConfig",
    "StageConfig",
    "bucket_name",
    "cdk_json_context",
    "check_target_partitions",
    "load_stage_config",
]
