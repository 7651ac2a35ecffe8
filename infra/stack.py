"""The imgpipe stack: composes one construct per capability and defines no resource of its own."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Environment, Stack, Tags
from constructs import Construct

from infra.api import Api
from infra.config import StageConfig
from infra.constants import SERVICE_NAME
from infra.delivery import Delivery
from infra.events import Events
from infra.metadata import Metadata
from infra.monitoring import Monitoring
from infra.pipeline import Pipeline
from infra.runtime import LambdaRuntime
from infra.storage import Storage


def stack_name(config: StageConfig) -> str:
    return f"{SERVICE_NAME}-{config.stage}"


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
            distribution=self.delivery.distribution,
        )
        self._outputs()

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
