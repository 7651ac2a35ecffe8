"""The imgpipe stack: composes one construct per capability and defines no resource of its own."""

from __future__ import annotations

from typing import Any

import jsii
from aws_cdk import CfnOutput, CfnResource, Environment, Stack, Tags
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct, IValidation

from infra.api import Api
from infra.config import StageConfig
from infra.constants import SERVICE_NAME
from infra.delivery import Delivery
from infra.events import Events
from infra.fresh_account import FreshAccountChecks
from infra.metadata import Metadata
from infra.monitoring import CLOUDFRONT_METRICS_REGION, EdgeMonitoringStack, Monitoring
from infra.nag import SERVERLESS_PACK, acknowledge, acknowledge_checkov, acknowledge_checkov_by_type
from infra.pipeline import Pipeline
from infra.removal import stage_removal_policy
from infra.runtime import LambdaRuntime, log_retention
from infra.storage import Storage


def stack_name(config: StageConfig) -> str:
    return f"{SERVICE_NAME}-{config.stage}"


def edge_monitoring_stack_name(config: StageConfig) -> str:
    return f"{SERVICE_NAME}-{config.stage}-edge-monitoring"


def needs_edge_monitoring_stack(config: StageConfig) -> bool:
    """CloudFront's metrics are in us-east-1 only: a stage pinned elsewhere alarms on them from there."""
    return config.region is not None and config.region != CLOUDFRONT_METRICS_REGION


def build_stage(scope: Construct, config: StageConfig, *, docker_layer: bool = False) -> ImgpipeStack:
    """The stage's stack and, when it is outside us-east-1, the small us-east-1 stack of its edge alarms."""
    separate_edge = needs_edge_monitoring_stack(config)
    stack = ImgpipeStack(
        scope,
        stack_name(config),
        config=config,
        docker_layer=docker_layer,
        cross_region_references=separate_edge,
    )
    if separate_edge:
        edge = EdgeMonitoringStack(
            scope,
            edge_monitoring_stack_name(config),
            config=config,
            distribution_id=stack.delivery.distribution.distribution_id,
            edge_functions=stack.delivery.edge_function_names,
            env=Environment(account=config.account, region=CLOUDFRONT_METRICS_REGION),
            cross_region_references=True,
            description=f"imgpipe ({config.stage}): CloudFront alarms, in the region of CloudFront's metrics",
            termination_protection=config.production,
        )
        Tags.of(edge).add("project", SERVICE_NAME)
        Tags.of(edge).add("stage", config.stage)
        finish_helpers(edge, config)
    return stack


def give_helper_functions_log_groups(stack: Stack, config: StageConfig) -> None:
    """CDK's own deploy-time functions (bucket notifications, auto-delete, providers) log to a group that
    CloudWatch creates on first write and never expires; give each one a group with the stage's
    retention instead, as every imgpipe function has."""
    for construct in stack.node.find_all():
        if not isinstance(construct, CfnResource) or construct.cfn_resource_type != "AWS::Lambda::Function":
            continue
        if isinstance(construct, lambda_.CfnFunction) and construct.logging_config is not None:
            continue  # an imgpipe function: its own log group is set already
        parent = construct.node.scope
        assert isinstance(parent, Construct)
        if parent.node.try_find_child(f"{construct.node.id}Logs") is not None:
            continue  # given one already (this runs again after CDK's late helpers exist)
        log_group = logs.LogGroup(
            parent,
            f"{construct.node.id}Logs",
            retention=log_retention(config.log_retention_days),
            removal_policy=stage_removal_policy(config),
        )
        if isinstance(construct, lambda_.CfnFunction):
            construct.logging_config = lambda_.CfnFunction.LoggingConfigProperty(
                log_group=log_group.log_group_name
            )
        else:
            construct.add_property_override("LoggingConfig.LogGroup", log_group.log_group_name)


@jsii.implements(IValidation)
class _LateHelpers:
    """CDK creates some deploy-time functions (the writer and reader of cross-region references) while
    it resolves references, after every construct and aspect of ours has run. Validations run after that
    and before the templates are written, so this one gives them the same log groups and checkov
    acknowledgements as every other helper. It reports nothing."""

    def __init__(self, stack: Stack, config: StageConfig) -> None:
        self.stack = stack
        self.config = config

    def validate(self) -> list[str]:
        give_helper_functions_log_groups(self.stack, self.config)
        acknowledge_checkov_by_type(self.stack)
        return []


def finish_helpers(stack: Stack, config: StageConfig) -> None:
    """Log groups for CDK's helper functions now, and again for those CDK adds during synthesis."""
    give_helper_functions_log_groups(stack, config)
    stack.node.add_validation(_LateHelpers(stack, config))


class ImgpipeStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        docker_layer: bool = False,
        **kwargs: Any,
    ) -> None:
        env = (
            Environment(account=config.account, region=config.region)
            if config.account or config.region
            else None
        )
        super().__init__(
            scope,
            construct_id,
            env=env,
            description=f"imgpipe ({config.stage}): serverless image pipeline",
            termination_protection=config.production,
            **kwargs,
        )
        Tags.of(self).add("project", SERVICE_NAME)
        Tags.of(self).add("stage", config.stage)

        self.storage = Storage(self, "Storage", config=config)
        self.metadata = Metadata(self, "Metadata", config=config)
        self.events = Events(self, "Events", config=config)
        self.runtime = LambdaRuntime(self, "Runtime", config=config, docker_layer=docker_layer)
        self.pipeline = Pipeline(
            self,
            "Pipeline",
            config=config,
            runtime=self.runtime,
            storage=self.storage,
            metadata=self.metadata,
            events=self.events,
        )
        self.delivery = Delivery(
            self,
            "Delivery",
            config=config,
            runtime=self.runtime,
            storage=self.storage,
            metadata=self.metadata,
        )
        self.api = Api(
            self,
            "Api",
            config=config,
            runtime=self.runtime,
            storage=self.storage,
            metadata=self.metadata,
            events=self.events,
            delivery_base_url=self.delivery.base_url,
        )
        self.delivery.route_api(self.api.rest_api)
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            config=config,
            lanes=self.pipeline.lanes,
            ingest=self.pipeline.functions,
            functions={
                "IngestInteractive": self.pipeline.interactive.function,
                "IngestBulk": self.pipeline.bulk.function,
                "Resize": self.delivery.function,
                "Api": self.api.function,
            },
            resize=self.delivery.function,
            rest_api=self.api.rest_api,
            distribution_id=self.delivery.distribution.distribution_id,
            edge_functions=self.delivery.edge_function_names,
        )
        self.metadata.protect_once_created(
            config,
            after=[
                self.storage,
                self.events,
                self.runtime,
                self.pipeline,
                self.delivery,
                self.api,
                self.monitoring,
            ],
        )
        self._outputs()
        finish_helpers(self, config)
        self.node.add_validation(FreshAccountChecks(self, config))
        self._acknowledge_serverless_checks()
        self._acknowledge_checkov(config)

    def _acknowledge_serverless_checks(self) -> None:
        """cdk-nag's ServerlessChecks: what stands, and why (docs/deploy.md)."""
        acknowledge(
            self,
            "LambdaLatestVersion",
            "Python 3.12 is the runtime the project supports and the layer's wheels are built for (cp312, "
            "aarch64); moving to a newer runtime is a deliberate upgrade, not a synth-time default.",
            pack=SERVERLESS_PACK,
        )
        acknowledge(
            self,
            "LambdaDLQ",
            "No function is invoked asynchronously: ingest is fed by SQS event-source mappings whose "
            "queues have their own (alarmed) dead-letter queues; resize, the API and helpers are "
            "synchronous.",
            pack=SERVERLESS_PACK,
        )
        for lane in self.pipeline.lanes:
            acknowledge(
                lane.dlq,
                "SQSRedrivePolicy",
                "This is the lane's dead-letter queue itself; what lands here is alarmed and redriven by "
                "`imgpipe redrive`, not sent on to a further queue.",
                pack=SERVERLESS_PACK,
            )
            acknowledge(
                lane.function,
                "LambdaEventSourceMappingDestination",
                "A failed record returns to its queue (batchItemFailures) and reaches the queue's "
                "dead-letter queue after maxReceiveCount; an on-failure destination would skip those "
                "retries.",
                pack=SERVERLESS_PACK,
            )

    def _acknowledge_checkov(self, config: StageConfig) -> None:
        acknowledge_checkov_by_type(self)
        distribution = self.delivery.distribution.node.default_child
        assert isinstance(distribution, CfnResource)
        if config.domain is None:
            acknowledge_checkov(
                distribution,
                "CKV_AWS_174",
                "Without a custom domain CloudFront serves its *.cloudfront.net certificate, whose TLS "
                "floor cannot be raised; with a domain the minimum is TLSv1.2_2021.",
            )
        if self.delivery.web_acl_arn is None:
            acknowledge_checkov(
                distribution,
                "CKV_AWS_68",
                "WAF is a per-stage option (features.waf) for its monthly cost; signatures and the resize "
                "limits and reserved concurrency bound what an anonymous client can make the origin do.",
            )
        access_logs = self.storage.access_logs.node.default_child
        transformed = self.storage.transformed.node.default_child
        assert isinstance(access_logs, CfnResource) and isinstance(transformed, CfnResource)
        acknowledge_checkov(
            access_logs,
            "CKV_AWS_18",
            "This is the access-log bucket itself; logging its own access would log forever.",
        )
        acknowledge_checkov(
            access_logs,
            "CKV_AWS_21",
            "Access logs are written once and expire with the stage's retention; versions would keep "
            "nothing worth restoring.",
        )
        acknowledge_checkov(
            transformed,
            "CKV_AWS_21",
            "Renditions are a cache: each is rendered again on demand from the versioned originals and "
            "expires after transformedExpiryDays.",
        )

    def _outputs(self) -> None:
        """What `imgpipe` (CLI) and the README's first-upload steps read after `cdk deploy`."""
        distribution = self.delivery.distribution
        base = self.delivery.base_url
        outputs = {
            "ImagesUrl": (base, "Delivery URL: {ImagesUrl}/{key}?w=800"),
            "ApiUrl": (f"{base}/v1", "Management API (send x-api-key)"),
            "DistributionId": (distribution.distribution_id, "CloudFront distribution"),
            "OriginalsBucket": (self.storage.originals.bucket_name, "Upload to uploads/{tenant}/..."),
            "TransformedBucket": (self.storage.transformed.bucket_name, "Stored variants"),
            "ImagesTable": (self.metadata.table.table_name, "Image records"),
            "EventBus": (self.events.bus.event_bus_name, "imgpipe events"),
            "InteractiveDlq": (self.pipeline.interactive.dlq.queue_url, "imgpipe redrive source"),
            "BulkDlq": (self.pipeline.bulk.dlq.queue_url, "imgpipe redrive source"),
            "SigningKeysSecret": (self.delivery.signing_keys.secret_arn, "URL-signing keys"),
            "EdgeKeyValueStore": (
                self.delivery.key_value_store.key_value_store_arn,
                "Edge copy of the signing keys",
            ),
            "AlarmTopic": (self.monitoring.topic.topic_arn, "Subscribe to imgpipe alarms"),
        }
        for name, plan in self.api.usage_plans.items():
            outputs[f"{name.title()}UsagePlanId"] = (plan.usage_plan_id, f"Attach {name} API keys here")
        for output_id, (value, description) in outputs.items():
            CfnOutput(self, output_id, value=value, description=description)
