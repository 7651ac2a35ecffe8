"""Delivery: CloudFront in front of the transformed bucket, the resize function and the API.

A viewer request passes the CloudFront Function (`functions/edge/viewer_request.js`: it checks the
signature with keys from the KeyValueStore and rewrites the URI to the stored variant's key). The cache
key is that URI alone. On the way back, `functions/edge/viewer_response.js` adds `Vary: Accept` when the
format was negotiated (S3 cannot store it on the bucket's renditions). On a miss the origin group asks the
transformed bucket first (origin access control); a 403/404 there fails over to the resize function's
URL (IAM auth, origin access control), which renders, stores and returns the variant. `/v1/*` goes to
the REST API uncached.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, Stack, Token
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra.config import StageConfig
from infra.constants import (
    EDGE_KEY_VALUE_STORE,
    SIGNING_KEYS_SECRET,
    SOURCE_PREFIXES,
)
from infra.edge import (
    EDGE_FUNCTION_MAX_BYTES,
    EDGE_FUNCTION_SOURCE,
    EDGE_RESPONSE_FUNCTION_SOURCE,
)
from infra.edge_settings import EdgeSettings
from infra.environment import ResourceNames, resize_environment
from infra.metadata import Metadata
from infra.nag import acknowledge, acknowledge_wildcard_resource, attribute_ref
from infra.removal import stage_removal_policy
from infra.runtime import LambdaRuntime
from infra.sizing import (
    ORIGIN_READ_TIMEOUT_SECONDS,
    RESIZE_HANDLER,
    RESIZE_MEMORY_MB,
    RESIZE_TIMEOUT_SECONDS,
)
from infra.storage import CLOUDFRONT_LOGS_PREFIX, Storage

API_VERSION = "v1"  # the API's path prefix, routed by its own cache behaviour

FAILOVER_STATUS_CODES = (403, 404)
VARIANT_TTL = Duration.days(365)
CORS_MAX_AGE = Duration.minutes(10)


def edge_function_name(config: StageConfig, event: str) -> str:
    """A CloudFront Function's name, which its CloudWatch metrics are published under."""
    return f"imgpipe-{config.stage}-{event}"


class Delivery(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        runtime: LambdaRuntime,
        storage: Storage,
        metadata: Metadata,
        edge_source: Path = EDGE_FUNCTION_SOURCE,
        edge_response_source: Path = EDGE_RESPONSE_FUNCTION_SOURCE,
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.signing_keys = secretsmanager.Secret(
            self,
            "SigningKeys",
            secret_name=config.physical_name(SIGNING_KEYS_SECRET),
            description="URL-signing keys (JSON: key id -> secret), mirrored in the edge KeyValueStore",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template="{}",
                generate_string_key="k1",
                password_length=64,
                exclude_punctuation=True,
            ),
            removal_policy=stage_removal_policy(config),
        )
        acknowledge(
            self.signing_keys,
            "SMG4",
            "Keys rotate by overlap (add a key, re-sign, retire the old one) in both this secret and the "
            "edge "
            "KeyValueStore; a Secrets Manager rotation Lambda cannot update the KeyValueStore in step.",
        )
        self.key_value_store = cloudfront.KeyValueStore(
            self,
            "EdgeKeys",
            key_value_store_name=config.physical_name(EDGE_KEY_VALUE_STORE),
            comment="Signing policy, presets and active signing keys read by the viewer-request function",
        )
        # No ImportSource (CloudFormation applies it only when the store is created): the settings and
        # the secret's keys are written on every deploy, the keys never appearing in a template.
        self.edge_settings = EdgeSettings(
            self,
            "EdgeSettings",
            config=config,
            runtime=runtime,
            store=self.key_value_store,
            signing_keys=self.signing_keys,
        )

        self.function = self._resize_function(runtime, storage, metadata)
        self.function_url = self.function.add_function_url(auth_type=lambda_.FunctionUrlAuthType.AWS_IAM)
        self.edge_function = self._edge_function(
            edge_source,
            "ViewerRequest",
            "viewer-request",
            "Canonicalises the image URL and checks its signature",
        )
        self.edge_response_function = self._edge_function(
            edge_response_source,
            "ViewerResponse",
            "viewer-response",
            "Adds Vary: Accept when the image format was negotiated",
        )
        self.edge_function_names = tuple(
            edge_function_name(config, event) for event in ("viewer-request", "viewer-response")
        )

        shield_region = config.features.origin_shield_region  # None: no Origin Shield
        self.origin_group = origins.OriginGroup(
            primary_origin=origins.S3BucketOrigin.with_origin_access_control(
                storage.transformed, origin_shield_region=shield_region
            ),
            fallback_origin=origins.FunctionUrlOrigin.with_origin_access_control(
                self.function_url,
                read_timeout=Duration.seconds(ORIGIN_READ_TIMEOUT_SECONDS),
                origin_shield_region=shield_region,
            ),
            fallback_status_codes=list(FAILOVER_STATUS_CODES),
        )
        self.cache_policy = cloudfront.CachePolicy(
            self,
            "CanonicalUri",
            comment="imgpipe variants: the viewer-request function's canonical URI is the whole cache key",
            query_string_behavior=cloudfront.CacheQueryStringBehavior.none(),
            header_behavior=cloudfront.CacheHeaderBehavior.none(),
            cookie_behavior=cloudfront.CacheCookieBehavior.none(),
            # Images are compressed already; Accept-Encoding in the key would only split the cache.
            enable_accept_encoding_gzip=False,
            enable_accept_encoding_brotli=False,
            min_ttl=Duration.seconds(0),
            default_ttl=Duration.days(1),
            max_ttl=VARIANT_TTL,
        )
        self.response_headers = cloudfront.ResponseHeadersPolicy(
            self,
            "Headers",
            comment="imgpipe variants: CORS for <img crossorigin> and canvas use, security headers",
            cors_behavior=cloudfront.ResponseHeadersCorsBehavior(
                access_control_allow_credentials=False,
                access_control_allow_headers=["*"],
                access_control_allow_methods=["GET", "HEAD", "OPTIONS"],
                access_control_allow_origins=list(config.cors_allowed_origins),
                access_control_expose_headers=["ETag", "Server-Timing"],
                access_control_max_age=CORS_MAX_AGE,
                origin_override=True,
            ),
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN,
                    override=True,
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.days(730), include_subdomains=True, override=True
                ),
            ),
        )

        # The edge rewrites the URI to `/{source key}/{rendition}` (the stored variant's key, format
        # included) and the query to the canonical request plus its signature. The resize function
        # verifies that query again, so it is forwarded to the origins, but it is not in the cache key:
        # the URI already names the variant, and two signatures of one variant are one object.
        self.origin_request_policy = cloudfront.OriginRequestPolicy(
            self,
            "CanonicalQuery",
            comment="imgpipe variants: forward the canonical query (and signature) for the resize function",
            query_string_behavior=cloudfront.OriginRequestQueryStringBehavior.all(),
            header_behavior=cloudfront.OriginRequestHeaderBehavior.none(),
            cookie_behavior=cloudfront.OriginRequestCookieBehavior.none(),
        )
        function_associations = [
            cloudfront.FunctionAssociation(
                function=self.edge_function, event_type=cloudfront.FunctionEventType.VIEWER_REQUEST
            ),
            cloudfront.FunctionAssociation(
                function=self.edge_response_function,
                event_type=cloudfront.FunctionEventType.VIEWER_RESPONSE,
            ),
        ]
        domain = config.domain
        self.web_acl_arn = self._web_acl()
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment=f"imgpipe {config.stage}: image delivery and API",
            default_behavior=cloudfront.BehaviorOptions(
                origin=self.origin_group,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD_OPTIONS,
                cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD_OPTIONS,
                cache_policy=self.cache_policy,
                origin_request_policy=self.origin_request_policy,
                response_headers_policy=self.response_headers,
                function_associations=function_associations,
                compress=False,
            ),
            domain_names=list(domain.names) if domain else None,
            certificate=acm.Certificate.from_certificate_arn(self, "Certificate", domain.certificate_arn)
            if domain
            else None,
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            enable_ipv6=True,
            price_class=cloudfront.PriceClass.PRICE_CLASS_ALL,
            enable_logging=True,
            log_bucket=storage.access_logs,
            log_file_prefix=CLOUDFRONT_LOGS_PREFIX,
            web_acl_id=self.web_acl_arn,
        )
        # The distribution goes live with the edge store already filled.
        self.distribution.node.add_dependency(self.edge_settings.resource)
        self._acknowledge()

    @property
    def base_url(self) -> str:
        """Where images (and `/v1`) are served: the custom domain if any, else the distribution's own."""
        domain = self.config.domain
        host = domain.names[0] if domain else self.distribution.distribution_domain_name
        return f"https://{host}"

    def route_api(self, api: apigateway.RestApi) -> None:
        """Serve `/v1/*` from the REST API, uncached, on the same domain as the images.

        The origin is named from the REST API's id and the stage name alone (not `api.url`, which refers
        to the deployment stage): the API function's environment holds the distribution's domain, and the
        stage depends on that function through its methods, so `api.url` would make a cycle.
        """
        stack = Stack.of(self)
        origin = origins.HttpOrigin(
            f"{api.rest_api_id}.execute-api.{stack.region}.{stack.url_suffix}",
            origin_path=f"/{self.config.stage}",
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
            origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
        )
        self.distribution.add_behavior(
            f"/{API_VERSION}/*",
            origin,
            viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
            allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
            cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
            # API keys travel in x-api-key; Host must stay API Gateway's own.
            origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
            response_headers_policy=cloudfront.ResponseHeadersPolicy.SECURITY_HEADERS,
        )

    def _resize_function(
        self, runtime: LambdaRuntime, storage: Storage, metadata: Metadata
    ) -> lambda_.Function:
        config = self.config
        originals, transformed, table = storage.originals, storage.transformed, metadata.table
        function = runtime.function(
            self,
            "Resize",
            name="resize",
            handler=RESIZE_HANDLER,
            memory_mb=RESIZE_MEMORY_MB,
            timeout=Duration.seconds(RESIZE_TIMEOUT_SECONDS),
            description="Renders a variant on a cache miss, stores it under its canonical key and returns it",
            # Flood guard: misses on random keys can take this much of the account, and no more.
            reserved_concurrency=config.resize_reserved_concurrency,
            environment=resize_environment(
                config,
                ResourceNames(
                    originals_bucket=originals.bucket_name,
                    transformed_bucket=transformed.bucket_name,
                    images_table=table.table_name,
                    event_bus="",
                ),
                signing_keys_secret=self.signing_keys.secret_arn,
            ),
        )
        role = function.role
        assert role is not None
        for statement in (
            # Sources: originals under uploads/ and batches/ only, so quarantine/ is never rendered or served.
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[originals.arn_for_objects(f"{prefix}*") for prefix in SOURCE_PREFIXES],
            ),
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject"], resources=[transformed.arn_for_objects("*")]
            ),
            # A missing source answers 404 (cached briefly at the edge) rather than 403 only with
            # ListBucket, which S3 evaluates with the key as s3:prefix: limited to the originals. On the
            # transformed bucket, a missing mezzanine is a 404 that sends the render to the original.
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[originals.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in SOURCE_PREFIXES]}},
            ),
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[transformed.bucket_arn]),
            # Focal point recorded at ingest (g=auto): the source pointer, then the image record.
            iam.PolicyStatement(actions=["dynamodb:GetItem"], resources=[table.table_arn]),
            # The signing keys (grant_read would add DescribeSecret, which nothing calls).
            iam.PolicyStatement(
                actions=["secretsmanager:GetSecretValue"], resources=[self.signing_keys.secret_arn]
            ),
        ):
            role.add_to_principal_policy(statement)
        for prefix in SOURCE_PREFIXES:
            acknowledge_wildcard_resource(
                role,
                f"{attribute_ref(originals)}/{prefix}*",
                "Sources are user uploads with keys unknown at deploy time; read-only and limited to "
                "uploads/ and batches/.",
            )
        acknowledge_wildcard_resource(
            role,
            f"{attribute_ref(transformed)}/*",
            "Variants are read and stored under canonical keys computed per request.",
        )
        return function

    def _edge_function(
        self, source: Path, construct_id: str, event: str, comment: str
    ) -> cloudfront.Function:
        if not source.is_file():
            raise FileNotFoundError(f"{source}: the {event} function's source is missing")
        size = source.stat().st_size
        if size > EDGE_FUNCTION_MAX_BYTES:
            # Stop the synth here instead of failing half way through a CloudFront deployment.
            raise ValueError(
                f"{source} is {size} bytes; CloudFront Functions allow {EDGE_FUNCTION_MAX_BYTES}"
            )
        return cloudfront.Function(
            self,
            construct_id,
            function_name=edge_function_name(self.config, event),
            comment=comment,
            code=cloudfront.FunctionCode.from_file(file_path=str(source)),
            runtime=cloudfront.FunctionRuntime.JS_2_0,
            key_value_store=self.key_value_store,
        )

    def _web_acl(self) -> str | None:
        waf = self.config.features.waf
        if waf.web_acl_arn:
            return waf.web_acl_arn
        if not waf.enabled:
            return None
        region = Stack.of(self).region
        if not Token.is_unresolved(region) and region != "us-east-1":
            raise ValueError("a CLOUDFRONT web ACL can only be created in us-east-1")

        def visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
            return wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True, metric_name=f"imgpipe-{name}", sampled_requests_enabled=True
            )

        acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="CLOUDFRONT",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=visibility("web-acl"),
            rules=[
                wafv2.CfnWebACL.RuleProperty(
                    name="rate-limit-per-ip",
                    priority=0,
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            aggregate_key_type="IP", limit=waf.rate_limit, evaluation_window_sec=300
                        )
                    ),
                    visibility_config=visibility("rate-limit"),
                ),
                wafv2.CfnWebACL.RuleProperty(
                    name="aws-ip-reputation",
                    priority=1,
                    override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                            vendor_name="AWS", name="AWSManagedRulesAmazonIpReputationList"
                        )
                    ),
                    visibility_config=visibility("ip-reputation"),
                ),
            ],
        )
        return acl.attr_arn

    def _acknowledge(self) -> None:
        config = self.config
        distribution = self.distribution
        acknowledge(
            distribution,
            "CFR1",
            "Images are served worldwide by design; a deployer who needs geo restrictions adds them.",
        )
        if self.web_acl_arn is None:
            acknowledge(
                distribution,
                "CFR2",
                "WAF is a per-stage option (features.waf) because a web ACL has a monthly cost; signatures "
                "and "
                "the resize limits already bound what an anonymous client can make the origin do.",
            )
        if config.domain is None:
            acknowledge(
                distribution,
                "CFR4",
                "Without a custom domain CloudFront serves its *.cloudfront.net certificate, whose TLS floor "
                "cannot be raised; with features domain set, the minimum is TLSv1.2_2021.",
            )
