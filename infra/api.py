"""Api: the versioned REST API (`/v1`) behind API keys and usage plans, with an optional Cognito authoriser.

Tenants call it through CloudFront (`/v1/*`); each API key belongs to one usage plan (free / pro /
enterprise by default) that sets its steady rate, burst and monthly quota. Keys are issued per tenant
after deployment, not by the stack.
"""

from __future__ import annotations

from aws_cdk import CfnResource, Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import StageConfig
from infra.constants import (
    EXPORTS_PREFIX,
    QUARANTINE_PREFIX,
    REST_API,
    SOURCE_PREFIXES,
)
from infra.delivery import API_VERSION
from infra.environment import ResourceNames, api_environment
from infra.events import Events
from infra.metadata import Metadata
from infra.nag import acknowledge, acknowledge_checkov, acknowledge_wildcard_resource, attribute_ref
from infra.removal import stage_removal_policy
from infra.runtime import LambdaRuntime, log_retention
from infra.sizing import API_HANDLER, API_MEMORY_MB, API_TIMEOUT_SECONDS
from infra.storage import Storage

# What API Gateway answers by itself, as problems: status (None keeps API Gateway's own), code, title.
GATEWAY_PROBLEMS: dict[apigateway.ResponseType, tuple[int | None, str, str]] = {
    apigateway.ResponseType.INVALID_API_KEY: (403, "invalid-api-key", "Forbidden"),
    apigateway.ResponseType.MISSING_AUTHENTICATION_TOKEN: (404, "no-route", "Not Found"),
    apigateway.ResponseType.UNAUTHORIZED: (401, "unauthenticated", "Unauthorized"),
    apigateway.ResponseType.ACCESS_DENIED: (403, "forbidden", "Forbidden"),
    apigateway.ResponseType.THROTTLED: (429, "throttled", "Too Many Requests"),
    apigateway.ResponseType.QUOTA_EXCEEDED: (429, "quota-exceeded", "Too Many Requests"),
    apigateway.ResponseType.REQUEST_TOO_LARGE: (413, "body-too-large", "Content Too Large"),
    apigateway.ResponseType.DEFAULT_4_XX: (None, "gateway-refused", "Refused by the API gateway"),
    apigateway.ResponseType.DEFAULT_5_XX: (None, "gateway-error", "API gateway error"),
}

# Paths under /v1 that need no API key (and no token): the handler serves them to anyone.
KEYLESS_PATHS = ("health", "openapi.json", "docs")


# The partition keys (imgpipe.adapters.dynamodb) of the items the API writes: images and batches.
API_WRITTEN_KEYS = ("IMG#*", "BATCH#*")


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        runtime: LambdaRuntime,
        storage: Storage,
        metadata: Metadata,
        events: Events,
        delivery_base_url: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        # What functions/api/settings.py reads. The API signs no delivery URL (it hands out unsigned
        # preset URLs only, as the signing policy allows), so it gets no access to the signing keys.
        environment = api_environment(
            config,
            ResourceNames(
                originals_bucket=storage.originals.bucket_name,
                transformed_bucket=storage.transformed.bucket_name,
                images_table=metadata.table.table_name,
                event_bus=events.bus.event_bus_name,
            ),
            delivery_base_url=delivery_base_url,
        )
        self.function = runtime.function(
            self,
            "Handler",
            name="api",
            handler=API_HANDLER,
            memory_mb=API_MEMORY_MB,
            timeout=Duration.seconds(API_TIMEOUT_SECONDS),
            description="imgpipe management API (/v1): uploads, images, batches, export",
            environment=environment,
        )
        self._grant(storage, metadata, events)

        access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=log_retention(config.log_retention_days),
            removal_policy=stage_removal_policy(config),
        )
        self.rest_api = apigateway.LambdaRestApi(
            self,
            "RestApi",
            rest_api_name=config.physical_name(REST_API),
            description=f"imgpipe {config.stage} management API",
            handler=self.function,
            proxy=False,
            # CloudFront is the edge; an edge-optimised endpoint would put a second one in front.
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            # The stage's access logs need API Gateway's account-wide CloudWatch Logs role (its account
            # settings): without one the stage fails to create in a fresh account. Created here unless
            # the stage says the account has one; kept when the stack goes, since other APIs of the
            # account and region may write through it by then.
            cloud_watch_role=not config.api.account_has_cloud_watch_role,
            cloud_watch_role_removal_policy=None
            if config.api.account_has_cloud_watch_role
            else RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
            deploy_options=apigateway.StageOptions(
                stage_name=config.stage,
                # The stage's ceiling for all callers together; each key is throttled by its plan too.
                throttling_rate_limit=config.api.stage_rate_limit,
                throttling_burst_limit=config.api.stage_burst_limit,
                tracing_enabled=config.features.tracing,
                access_log_destination=apigateway.LogGroupLogDestination(access_logs),
                access_log_format=apigateway.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
                metrics_enabled=True,
            ),
        )
        authorizer = self._authorizer()
        method_options = apigateway.MethodOptions(
            api_key_required=True,
            authorizer=authorizer,
            authorization_type=apigateway.AuthorizationType.COGNITO if authorizer else None,
            request_validator=apigateway.RequestValidator(
                self,
                "Validator",
                rest_api=self.rest_api,
                validate_request_parameters=True,
                validate_request_body=False,  # the handler validates bodies with pydantic models
            ),
        )
        version = self.rest_api.root.add_resource(API_VERSION)
        version.add_method(
            "ANY",
            api_key_required=method_options.api_key_required,
            authorizer=method_options.authorizer,
            authorization_type=method_options.authorization_type,
            request_validator=method_options.request_validator,
        )
        version.add_proxy(any_method=True, default_method_options=method_options)
        # Documented as keyless (docs/api.md): liveness and the API's own description. ANY, so that the
        # handler answers other methods with 405 and Allow, as it does on every route.
        for path in KEYLESS_PATHS:
            keyless = version.add_resource(path).add_method(
                "ANY",
                api_key_required=False,
                authorization_type=apigateway.AuthorizationType.NONE,
                request_validator=method_options.request_validator,
            )
            public = (
                f"/v1/{path} is public by design (docs/api.md): it reads no tenant data, and the "
                "handler answers it without a key or token."
            )
            for rule in ("APIG4", "COG4"):
                acknowledge(keyless, rule, public)
            cfn_method = keyless.node.default_child
            assert isinstance(cfn_method, CfnResource)
            acknowledge_checkov(cfn_method, "CKV_AWS_59", public)

        self._problem_responses()

        self.usage_plans: dict[str, apigateway.UsagePlan] = {}
        for name, plan in config.api.plans.items():
            self.usage_plans[name] = self.rest_api.add_usage_plan(
                f"{name.title()}Plan",
                name=f"imgpipe-{config.stage}-{name}",
                description=f"imgpipe {name} plan",
                throttle=apigateway.ThrottleSettings(
                    rate_limit=plan.rate_limit, burst_limit=plan.burst_limit
                ),
                quota=apigateway.QuotaSettings(limit=plan.monthly_quota, period=apigateway.Period.MONTH),
                api_stages=[
                    apigateway.UsagePlanPerApiStage(api=self.rest_api, stage=self.rest_api.deployment_stage)
                ],
            )
        self._acknowledge(authorizer is not None)

    def _problem_responses(self) -> None:
        """API Gateway's own refusals (a missing key, its throttles and quotas, an unknown path, its own
        faults) answer `application/problem+json` like the handler's, instead of `{"message": ...}`."""
        for response_type, (status, code, title) in GATEWAY_PROBLEMS.items():
            document = (
                f'{{"type":"urn:imgpipe:problem:{code}","title":"{title}",'
                + (f'"status":{status},' if status else "")
                + '"detail":$context.error.messageString}'
            )
            headers = {"Content-Type": "'application/problem+json'", "Cache-Control": "'no-store'"}
            if status == 429:
                headers["Retry-After"] = "'1'"
            self.rest_api.add_gateway_response(
                f"Problem{response_type.response_type.title().replace('_', '')}",
                type=response_type,
                status_code=str(status) if status else None,
                response_headers=headers,
                templates={"application/json": document},
            )

    def _authorizer(self) -> apigateway.CognitoUserPoolsAuthorizer | None:
        arn = self.config.api.cognito_user_pool_arn
        if arn is None:
            return None
        pool = cognito.UserPool.from_user_pool_arn(self, "UserPool", arn)
        return apigateway.CognitoUserPoolsAuthorizer(self, "Authorizer", cognito_user_pools=[pool])

    def _grant(self, storage: Storage, metadata: Metadata, events: Events) -> None:
        """Exactly the calls the API makes (tests/iam exercises each; docs/deploy.md, "IAM")."""
        role = self.function.role
        assert role is not None
        originals, transformed, table = storage.originals, storage.transformed, metadata.table
        exports = transformed.arn_for_objects(f"{EXPORTS_PREFIX}*")
        for statement in (
            # Presigned POSTs are signed with this role's credentials (the upload is its PutObject); the
            # export reads originals; deleting an image deletes its original (ingest does the rest).
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
                resources=[originals.arn_for_objects(f"{prefix}*") for prefix in SOURCE_PREFIXES],
            ),
            # Deleting a rejected upload removes its quarantined copy (after reading whose it is). Only
            # with the role's own header-signed requests: no URL it presigns can ever fetch quarantine/.
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:DeleteObject"],
                resources=[originals.arn_for_objects(f"{QUARANTINE_PREFIX}*")],
                conditions={"StringEquals": {"s3:authType": "REST-HEADER"}},
            ),
            # An original (or quarantined copy) gone since answers 404 (skipped by the export, done by a
            # delete) only with ListBucket, which S3 evaluates with the key as s3:prefix; without it both
            # answered 500.
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[originals.bucket_arn],
                conditions={
                    "StringLike": {"s3:prefix": [f"{p}*" for p in (*SOURCE_PREFIXES, QUARANTINE_PREFIX)]}
                },
            ),
            # The export's ZIP, written by multipart upload (aborted when the export fails), downloaded by a
            # presigned GET. Nothing else of the transformed bucket.
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject"], resources=[exports]
            ),
            iam.PolicyStatement(actions=["dynamodb:GetItem"], resources=[table.table_arn]),
            iam.PolicyStatement(actions=["dynamodb:Query"], resources=[f"{table.table_arn}/index/*"]),
            # Writes only to image and batch items: API keys, tenants' plans and usage counters
            # (APIKEY#, TENANT#) are written by operators and ingest, never by a tenant's request.
            iam.PolicyStatement(
                actions=["dynamodb:PutItem"],
                resources=[table.table_arn],
                conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(API_WRITTEN_KEYS)}},
            ),
            # `Image Deleted` of a rejected upload, which ingest never sees.
            iam.PolicyStatement(actions=["events:PutEvents"], resources=[events.bus.event_bus_arn]),
        ):
            role.add_to_principal_policy(statement)
        for prefix in SOURCE_PREFIXES:
            acknowledge_wildcard_resource(
                role,
                f"{attribute_ref(originals)}/{prefix}*",
                "Presigned uploads, exports and deletions address user keys under uploads/ and batches/ "
                "(batch members) only.",
            )
        acknowledge_wildcard_resource(
            role,
            f"{attribute_ref(originals)}/{QUARANTINE_PREFIX}*",
            "Deleting a rejected upload reads and deletes its copy under quarantine/ only.",
        )
        acknowledge_wildcard_resource(
            role,
            f"{attribute_ref(transformed)}/{EXPORTS_PREFIX}*",
            "Export archives are written and downloaded under generated keys below exports/ only.",
        )
        acknowledge_wildcard_resource(
            role,
            f"{attribute_ref(table)}/index/*",
            "Listing by tenant and by batch uses the table's indexes.",
        )

    def _acknowledge(self, has_authorizer: bool) -> None:
        api = self.rest_api
        acknowledge(
            api,
            "APIG2",
            "Query parameters are validated by API Gateway; bodies by the handler's pydantic models, "
            "which are "
            "the one schema (a second copy as API Gateway models would drift).",
        )
        acknowledge(
            api,
            "APIG3",
            "The API is reached through the CloudFront distribution, where the optional web ACL applies; "
            "usage plans throttle every API key.",
        )
        acknowledge(
            api,
            "APIG6",
            "Execution logs go to a log group API Gateway creates outside the stack "
            "(API-Gateway-Execution-Logs_{api}/{stage}) with no retention and never deleted; the stage's "
            "JSON access logs (through the account's CloudWatch role, which the stack sets unless "
            "api.accountHasCloudWatchRole) and the function's own logs record every request.",
        )
        role = api.node.try_find_child("CloudWatchRole")
        if role is not None:
            acknowledge(
                role,
                "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AmazonAPIGatewayPushToCloudWatchLogs]",
                "API Gateway's account-wide logging role: the AWS-managed policy is the one API Gateway "
                "documents for it and changes with the service; it allows CloudWatch Logs writes only.",
            )
        if not has_authorizer:
            acknowledge(
                api,
                "APIG4",
                "Every method requires an API key bound to a usage plan; a Cognito authoriser is optional "
                "(api.cognitoUserPoolArn).",
            )
            acknowledge(
                api,
                "COG4",
                "Authentication is by API key per tenant unless api.cognitoUserPoolArn adds a Cognito "
                "authoriser.",
            )
