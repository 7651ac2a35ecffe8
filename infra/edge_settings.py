"""Edge settings follow every deploy: a custom resource writes the edge KeyValueStore's three items.

A plain `CustomResource` whose service token is our own small function (`functions/edge_settings`),
not CDK's `custom_resources.Provider`: the Provider framework adds a second, Node.js function with its
own role, log group and cdk-nag findings, and its only service (async polling) is not needed for one
UpdateKeys call. The function answers CloudFormation's ResponseURL itself, on every path.

The resource's properties carry the non-secret items (presets, signing policy) and their digest, so a
change of either in cdk.json changes the properties and CloudFormation sends an Update; the signing keys
are read from the secret by the function, so no secret is in the template. The store's items are
checked against CloudFront's limits here, at synth.
"""

from __future__ import annotations

from typing import Final

from aws_cdk import CustomResource, Duration
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from imgpipe.edge_store import settings_hash
from infra.config import StageConfig
from infra.edge import edge_settings_items
from infra.runtime import LambdaRuntime

EDGE_SETTINGS_HANDLER: Final = "edge_settings.handler.handler"
# boto3, awscrt and Powertools imported, two small API calls: 256 MB starts in about a second.
EDGE_SETTINGS_MEMORY_MB: Final = 256
# write_items' six tries with backoff take ~16 s at most; the rest is headroom for slow API answers.
EDGE_SETTINGS_TIMEOUT_SECONDS: Final = 120
# How long CloudFormation waits for an answer (its default is an hour). The function answers on every
# path; this bounds the case where it cannot run at all, with room for Lambda's two retries of an
# asynchronous invocation that crashed.
RESPONSE_TIMEOUT_SECONDS: Final = 600
RESOURCE_TYPE: Final = "Custom::EdgeSettings"
KEY_VALUE_STORE_ACTIONS: Final = (
    "cloudfront-keyvaluestore:DescribeKeyValueStore",
    "cloudfront-keyvaluestore:UpdateKeys",
)


class EdgeSettings(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        runtime: LambdaRuntime,
        store: cloudfront.KeyValueStore,
        signing_keys: secretsmanager.ISecret,
    ) -> None:
        super().__init__(scope, construct_id)
        items = edge_settings_items(config)  # raises EdgeLimitError at synth when a value does not fit
        self.settings_hash = settings_hash(items)
        self.function: lambda_.Function = runtime.function(
            self,
            "Writer",
            name="edge-settings",
            handler=EDGE_SETTINGS_HANDLER,
            memory_mb=EDGE_SETTINGS_MEMORY_MB,
            timeout=Duration.seconds(EDGE_SETTINGS_TIMEOUT_SECONDS),
            description="Deploy-time: writes presets, signing policy and signing keys into the edge store",
            environment={},
        )
        role = self.function.role
        assert role is not None
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=list(KEY_VALUE_STORE_ACTIONS), resources=[store.key_value_store_arn])
        )
        # GetSecretValue only (grant_read would add DescribeSecret, which the function never calls). The
        # secret is encrypted with the AWS managed key, whose use Secrets Manager authorises itself.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["secretsmanager:GetSecretValue"], resources=[signing_keys.secret_arn]
            )
        )
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=self.function.function_arn,
            resource_type=RESOURCE_TYPE,
            service_timeout=Duration.seconds(RESPONSE_TIMEOUT_SECONDS),
            properties={
                "KeyValueStoreArn": store.key_value_store_arn,
                "SigningKeysSecretArn": signing_keys.secret_arn,
                "Items": items,
                "SettingsHash": self.settings_hash,
            },
        )
        # The grants must exist before CloudFormation invokes the function.
        self.resource.node.add_dependency(role)
