"""What every imgpipe Lambda shares: the code asset, the dependency layer and one way to build a function.

One code asset holds all first-party code (`infra.bundle`: the handlers, `imgpipe`, and the CDK-free
`infra.constants` they import); it is built by copying, with no Docker. Third-party wheels live in the
layer built by `layers/build.py`. Each function gets its own role (no managed policies), its own log
group with the stage's retention, JSON logs, X-Ray tracing and Powertools settings through its
environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, Duration, ILocalBundling
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.bundle import FUNCTIONS_DIR, bundle_function_code
from infra.config import StageConfig
from infra.constants import METRICS_NAMESPACE, SERVICE_NAME
from infra.nag import acknowledge
from infra.removal import stage_removal_policy
from layers.build import build_layer

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64
_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def log_retention(days: int) -> logs.RetentionDays:
    """The CDK enum for a retention in days (StageConfig has checked that CloudWatch accepts it)."""
    return _RETENTION[days]


@jsii.implements(ILocalBundling)
class _CopyBundler:
    """CDK local bundling: a plain copy, so synthesis never needs Docker."""

    def try_bundle(self, output_dir: str, *args: Any, **kwargs: Any) -> bool:
        bundle_function_code(Path(output_dir))
        return True


def function_code() -> lambda_.Code:
    return lambda_.Code.from_asset(
        str(FUNCTIONS_DIR),
        # Hash what is shipped (including infra/constants.py, which lives outside functions/).
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=BundlingOptions(
            # Required by the API but never pulled: local bundling always succeeds.
            image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.12:latest-arm64"),
            local=_CopyBundler(),
        ),
    )


class LambdaRuntime(Construct):
    """The shared code asset and dependency layer; `function()` builds each imgpipe Lambda alike."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, docker_layer: bool = False
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.code = function_code()
        self.layer = lambda_.LayerVersion(
            self,
            "Dependencies",
            code=lambda_.Code.from_asset(str(build_layer(docker=docker_layer))),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="imgpipe third-party dependencies (Pillow, pillow-heif, numpy, pydantic, Powertools)",
            removal_policy=stage_removal_policy(config),
        )

    def function(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        handler: str,
        memory_mb: int,
        timeout: Duration,
        environment: Mapping[str, str],
        description: str,
        reserved_concurrency: int | None = None,
    ) -> lambda_.Function:
        """A function with its own role and log group; callers grant it exactly what it touches."""
        config = self.config
        function_name = f"{SERVICE_NAME}-{config.stage}-{name}"
        log_group = logs.LogGroup(
            scope,
            f"{construct_id}Logs",
            log_group_name=f"/aws/lambda/{function_name}",
            retention=log_retention(config.log_retention_days),
            removal_policy=stage_removal_policy(config),
        )
        role = iam.Role(
            scope,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{function_name}: its log group, tracing and the grants of its construct",
        )
        log_group.grant_write(role)
        powertools = {
            "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": "INFO",
            "POWERTOOLS_LOGGER_LOG_EVENT": "false",
            "POWERTOOLS_TRACE_DISABLED": "false" if config.features.tracing else "true",
        }
        function = lambda_.Function(
            scope,
            construct_id,
            function_name=function_name,
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=handler,
            code=self.code,
            layers=[self.layer],
            memory_size=memory_mb,
            timeout=timeout,
            environment={**powertools, **environment},
            role=role,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            tracing=lambda_.Tracing.ACTIVE if config.features.tracing else lambda_.Tracing.DISABLED,
            reserved_concurrent_executions=reserved_concurrency,
        )
        acknowledge(
            function,
            "L1",
            "Python 3.12 is the runtime the project supports and the layer's wheels are built for "
            "(cp312, aarch64); moving to a newer runtime is a deliberate upgrade, not a synth-time default.",
        )
        if config.features.tracing:
            acknowledge(
                role,
                "IAM5[Resource::*]",
                "X-Ray's PutTraceSegments and PutTelemetryRecords have no resource-level permissions.",
            )
        return function
