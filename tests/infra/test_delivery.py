"""Delivery contracts: origin group with OAC on both origins, failover codes, cache key, headers, edge."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

from infra import constants
from infra.bundle import FUNCTIONS_DIR
from infra.config import cdk_json_context, load_stage_config
from infra.constants import EDGE_KVS_PRESETS, EDGE_KVS_SIGNING_KEYS, EDGE_KVS_SIGNING_POLICY
from infra.edge import (
    EDGE_FUNCTION_MAX_BYTES,
    EDGE_FUNCTION_SOURCE,
    EDGE_RESPONSE_FUNCTION_SOURCE,
    edge_settings_items,
)
from tests.infra.cfn import by_path, only, props, ref_id, resources, role_statements
from tests.infra.conftest import REPO_ROOT
from tests.infra.variants import CERTIFICATE_ARN

Template = dict[str, Any]
DEV = load_stage_config(cdk_json_context())
DELIVERY_VECTORS = REPO_ROOT / "tests" / "vectors" / "delivery.json"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # AWS managed cache policy
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"  # AWS managed origin request policy


def _config(template: Template) -> dict[str, Any]:
    config: dict[str, Any] = props(only(template, "AWS::CloudFront::Distribution")[1])["DistributionConfig"]
    return config


def _origins(template: Template) -> dict[str, dict[str, Any]]:
    return {o["Id"]: o for o in _config(template)["Origins"]}


def _group(template: Template) -> dict[str, Any]:
    groups = _config(template)["OriginGroups"]
    assert groups["Quantity"] == 1
    group: dict[str, Any] = groups["Items"][0]
    return group


def test_default_behaviour_uses_the_origin_group(dev: Template) -> None:
    assert _config(dev)["DefaultCacheBehavior"]["TargetOriginId"] == _group(dev)["Id"]


def test_origin_group_tries_the_bucket_then_the_resize_url_on_403_and_404(dev: Template) -> None:
    group = _group(dev)
    assert group["FailoverCriteria"]["StatusCodes"] == {"Items": [403, 404], "Quantity": 2}
    primary, fallback = (_origins(dev)[m["OriginId"]] for m in group["Members"]["Items"])
    transformed_id, _ = by_path(dev, "AWS::S3::Bucket", "/Storage/Transformed/")
    url_id, _ = only(dev, "AWS::Lambda::Url")
    assert ref_id(primary["DomainName"]) == transformed_id
    assert "FunctionUrl" in str(fallback["DomainName"]) and url_id in str(fallback["DomainName"])


def test_both_origins_use_origin_access_control(dev: Template) -> None:
    controls = {
        k: props(v)["OriginAccessControlConfig"]
        for k, v in resources(dev, "AWS::CloudFront::OriginAccessControl").items()
    }
    group = _group(dev)
    kinds = []
    for member in group["Members"]["Items"]:
        origin = _origins(dev)[member["OriginId"]]
        control = controls[ref_id(origin["OriginAccessControlId"]) or ""]
        assert control["SigningBehavior"] == "always" and control["SigningProtocol"] == "sigv4"
        kinds.append(control["OriginAccessControlOriginType"])
    assert kinds == ["s3", "lambda"]
    s3_origin = _origins(dev)[group["Members"]["Items"][0]["OriginId"]]
    assert s3_origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # OAC, not the legacy OAI


def test_resize_url_requires_iam_and_only_this_distribution_may_invoke_it(dev: Template) -> None:
    _, url = only(dev, "AWS::Lambda::Url")
    assert props(url)["AuthType"] == "AWS_IAM"
    distribution_id, _ = only(dev, "AWS::CloudFront::Distribution")
    permissions = [
        props(p)
        for p in resources(dev, "AWS::Lambda::Permission").values()
        if props(p)["Principal"] == "cloudfront.amazonaws.com"
    ]
    assert {p["Action"] for p in permissions} == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}
    assert all(distribution_id in str(p["SourceArn"]) for p in permissions)
    assert not [p for p in resources(dev, "AWS::Lambda::Permission").values() if props(p)["Principal"] == "*"]


def test_cache_key_is_the_canonical_uri_only(dev: Template) -> None:
    # Given the edge's contract (the vectors its function and its Python twin both pass): an accepted
    # request's URI becomes `/{source key}/{rendition}`, the stored variant's key with its format
    cases = json.loads(DELIVERY_VECTORS.read_text(encoding="utf-8"))["cases"]
    accepted = [c["expect"] for c in cases if c["expect"]["status"] == 200]
    assert accepted
    for expect in accepted:
        assert unquote(expect["uri"]) == "/" + expect["key"]
        assert f"fm={expect['format']}" in expect["key"].rsplit("/", 1)[1]
    # Then the URI alone is the cache key: nothing else (query, Accept, cookies, encodings) splits it
    policy_id, policy = only(dev, "AWS::CloudFront::CachePolicy")
    assert ref_id(_config(dev)["DefaultCacheBehavior"]["CachePolicyId"]) == policy_id
    parameters = props(policy)["CachePolicyConfig"]["ParametersInCacheKeyAndForwardedToOrigin"]
    assert parameters["QueryStringsConfig"] == {"QueryStringBehavior": "none"}
    assert parameters["HeadersConfig"] == {"HeaderBehavior": "none"}
    assert parameters["CookiesConfig"] == {"CookieBehavior": "none"}
    assert (
        parameters["EnableAcceptEncodingGzip"] is False and parameters["EnableAcceptEncodingBrotli"] is False
    )
    assert props(policy)["CachePolicyConfig"]["MaxTTL"] == 365 * 24 * 3600


def test_the_canonical_query_reaches_the_origins_without_keying_the_cache(dev: Template) -> None:
    # The resize function verifies the canonical query and its signature again (imgpipe.delivery.at_origin)
    policy_id, policy = only(dev, "AWS::CloudFront::OriginRequestPolicy")
    assert ref_id(_config(dev)["DefaultCacheBehavior"]["OriginRequestPolicyId"]) == policy_id
    config = props(policy)["OriginRequestPolicyConfig"]
    assert config["QueryStringsConfig"] == {"QueryStringBehavior": "all"}
    # No Host header: the Function URL's OAC signature is for its own host
    assert config["HeadersConfig"] == {"HeaderBehavior": "none"}
    assert config["CookiesConfig"] == {"CookieBehavior": "none"}


def test_response_headers_policy_sets_cors_and_security_headers(dev: Template) -> None:
    policy_id, policy = only(dev, "AWS::CloudFront::ResponseHeadersPolicy")
    assert ref_id(_config(dev)["DefaultCacheBehavior"]["ResponseHeadersPolicyId"]) == policy_id
    config = props(policy)["ResponseHeadersPolicyConfig"]
    cors = config["CorsConfig"]
    assert cors["AccessControlAllowMethods"]["Items"] == ["GET", "HEAD", "OPTIONS"]
    assert cors["AccessControlAllowOrigins"]["Items"] == ["*"]
    assert cors["AccessControlAllowCredentials"] is False
    security = config["SecurityHeadersConfig"]
    assert security["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 365 * 24 * 3600
    assert security["ContentTypeOptions"]["Override"] is True
    assert security["FrameOptions"]["FrameOption"] == "DENY"


def test_api_is_routed_under_v1_uncached_with_viewer_headers(dev: Template) -> None:
    behaviours = {b["PathPattern"]: b for b in _config(dev)["CacheBehaviors"]}
    api = behaviours["/v1/*"]
    assert api["CachePolicyId"] == CACHING_DISABLED
    assert api["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST
    assert {"POST", "DELETE", "GET"} <= set(api["AllowedMethods"])
    rest_api_id, _ = only(dev, "AWS::ApiGateway::RestApi")
    assert rest_api_id in str(_origins(dev)[api["TargetOriginId"]]["DomainName"])


def test_viewers_are_sent_to_https(dev: Template) -> None:
    config = _config(dev)
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    assert all(b["ViewerProtocolPolicy"] == "https-only" for b in config["CacheBehaviors"])
    assert config["Logging"]["Prefix"] == "cloudfront/"


def test_key_value_store_holds_the_edge_keys(dev: Template) -> None:
    only(dev, "AWS::CloudFront::KeyValueStore")
    only(dev, "AWS::SecretsManager::Secret")


def test_viewer_request_function_uses_the_key_value_store(dev: Template) -> None:
    _, function = by_path(dev, "AWS::CloudFront::Function", "/Delivery/ViewerRequest/")
    config = props(function)["FunctionConfig"]
    assert config["Runtime"] == "cloudfront-js-2.0"
    assert props(function)["FunctionCode"] == EDGE_FUNCTION_SOURCE.read_text(encoding="utf-8")
    store_id, _ = only(dev, "AWS::CloudFront::KeyValueStore")
    assert store_id in str(config["KeyValueStoreAssociations"])


def test_viewer_response_function_adds_vary_with_the_same_key_value_store(dev: Template) -> None:
    # Given the function that adds `Vary: Accept` to negotiated renditions (S3 cannot store Vary)
    _, function = by_path(dev, "AWS::CloudFront::Function", "/Delivery/ViewerResponse/")
    config = props(function)["FunctionConfig"]
    assert config["Runtime"] == "cloudfront-js-2.0"
    assert props(function)["FunctionCode"] == EDGE_RESPONSE_FUNCTION_SOURCE.read_text(encoding="utf-8")
    # Then it reads the presets from the viewer-request function's store
    store_id, _ = only(dev, "AWS::CloudFront::KeyValueStore")
    assert store_id in str(config["KeyValueStoreAssociations"])
    assert len(resources(dev, "AWS::CloudFront::Function")) == 2


def test_image_behaviour_runs_both_edge_functions(dev: Template) -> None:
    request_id, _ = by_path(dev, "AWS::CloudFront::Function", "/Delivery/ViewerRequest/")
    response_id, _ = by_path(dev, "AWS::CloudFront::Function", "/Delivery/ViewerResponse/")
    associations = _config(dev)["DefaultCacheBehavior"]["FunctionAssociations"]
    assert sorted((a["EventType"], ref_id(a["FunctionARN"])) for a in associations) == [
        ("viewer-request", request_id),
        ("viewer-response", response_id),
    ]
    # The API's behaviour has no edge functions: its answers are not images
    assert all("FunctionAssociations" not in b for b in _config(dev)["CacheBehaviors"])


def test_edge_functions_fit_cloudfronts_size_limit() -> None:
    for source in (EDGE_FUNCTION_SOURCE, EDGE_RESPONSE_FUNCTION_SOURCE):
        size = source.stat().st_size
        assert size <= EDGE_FUNCTION_MAX_BYTES, f"{source.name} is {size} bytes; CloudFront allows 10 KB"


def test_key_value_store_keys_are_the_ones_the_edge_function_reads() -> None:
    # Given the keys the viewer-request function looks up in its KeyValueStore
    source = EDGE_FUNCTION_SOURCE.read_text(encoding="utf-8")
    read = set(re.findall(r"\bkv\('([^']+)'\)", source))
    # Then they are the shared constants, and the stack writes the non-secret ones from the stage
    assert read == {EDGE_KVS_SIGNING_KEYS, EDGE_KVS_PRESETS, EDGE_KVS_SIGNING_POLICY}
    items = edge_settings_items(DEV)
    assert items == {EDGE_KVS_PRESETS: DEV.presets_json, EDGE_KVS_SIGNING_POLICY: DEV.signing_policy}
    assert EDGE_KVS_SIGNING_KEYS not in items  # secrets never go into a template or an asset
    # The viewer-response function reads the presets only
    response_source = EDGE_RESPONSE_FUNCTION_SOURCE.read_text(encoding="utf-8")
    assert set(re.findall(r"\bkvs\.get\('([^']+)'\)", response_source)) == {EDGE_KVS_PRESETS}


def test_custom_domain_uses_the_acm_certificate_and_modern_tls(dev: Template, full: Template) -> None:
    config = _config(full)
    assert config["Aliases"] == ["img.example.com"]
    assert config["ViewerCertificate"] == {
        "AcmCertificateArn": CERTIFICATE_ARN,
        "MinimumProtocolVersion": "TLSv1.2_2021",
        "SslSupportMethod": "sni-only",
    }
    assert "Aliases" not in _config(dev)


def test_origin_shield_is_optional(dev: Template, full: Template) -> None:
    for origin in _origins(full).values():
        if origin.get("S3OriginConfig") or "FunctionUrl" in str(origin["DomainName"]):
            assert origin["OriginShield"] == {"Enabled": True, "OriginShieldRegion": "us-east-2"}
    assert all("OriginShield" not in o for o in _origins(dev).values())


def test_waf_rate_limits_per_ip_when_enabled(dev: Template, full: Template) -> None:
    acl_id, acl = only(full, "AWS::WAFv2::WebACL")
    assert props(acl)["Scope"] == "CLOUDFRONT"
    rates = [
        r["Statement"]["RateBasedStatement"]
        for r in props(acl)["Rules"]
        if "RateBasedStatement" in r["Statement"]
    ]
    assert rates == [{"AggregateKeyType": "IP", "EvaluationWindowSec": 300, "Limit": 1000}]
    assert ref_id(_config(full)["WebACLId"]) == acl_id
    assert not resources(dev, "AWS::WAFv2::WebACL") and "WebACLId" not in _config(dev)


def _resize_environment(template: Template) -> dict[str, Any]:
    function = props(by_path(template, "AWS::Lambda::Function", "/Delivery/Resize/")[1])
    variables: dict[str, Any] = function["Environment"]["Variables"]
    return variables


def test_resize_environment_is_what_the_resize_settings_read(dev: Template) -> None:
    # Given the environment the stack gives the resize function
    variables = props(by_path(dev, "AWS::Lambda::Function", "/Delivery/Resize/")[1])["Environment"][
        "Variables"
    ]
    imgpipe = {k for k in variables if k.startswith("IMGPIPE_")}
    # Then every key is one functions/resize/settings.py reads, and the deployed ones are all set
    source = (FUNCTIONS_DIR / "resize" / "settings.py").read_text(encoding="utf-8")
    read = {getattr(constants, n) for n in dir(constants) if n.startswith("ENV_") and n in source}
    assert imgpipe <= read, imgpipe - read
    assert {
        constants.ENV_ORIGINALS_BUCKET,
        constants.ENV_TRANSFORMED_BUCKET,
        constants.ENV_IMAGES_TABLE,
        constants.ENV_PRESETS,
        constants.ENV_SIGNING_POLICY,
        constants.ENV_SIGNING_KEYS_SECRET,
    } <= imgpipe
    # Local-only: the key document itself never goes into a template
    assert constants.ENV_SIGNING_KEYS not in imgpipe
    assert variables[constants.ENV_SIGNING_POLICY] == DEV.signing_policy
    assert variables[constants.ENV_PRESETS] == DEV.presets_json


def test_resize_settings_accept_the_environment_the_stack_sets(dev: Template) -> None:
    from resize.settings import ResizeSettings  # noqa: PLC0415 (written alongside; import when used)

    variables = props(by_path(dev, "AWS::Lambda::Function", "/Delivery/Resize/")[1])["Environment"][
        "Variables"
    ]
    environ = {k: v if isinstance(v, str) else "resolved-at-deploy" for k, v in variables.items()}
    settings = ResizeSettings.from_env(environ)
    assert settings.signing_policy == DEV.signing_policy
    assert settings.signing_keys_secret == "resolved-at-deploy"


def test_resize_role_holds_exactly_the_calls_resize_makes(dev: Template) -> None:
    # Given the resources a miss touches
    originals = f"<{by_path(dev, 'AWS::S3::Bucket', '/Storage/Originals/')[0]}.Arn>"
    transformed = f"<{by_path(dev, 'AWS::S3::Bucket', '/Storage/Transformed/')[0]}.Arn>"
    table = f"<{by_path(dev, 'AWS::DynamoDB::Table', '/Metadata/Images/')[0]}.Arn>"
    secret = f"<{by_path(dev, 'AWS::SecretsManager::Secret', '/Delivery/SigningKeys/')[0]}>"
    logs = f"<{by_path(dev, 'AWS::Logs::LogGroup', '/Delivery/ResizeLogs/')[0]}.Arn>"
    # Then its role holds these statements and no other (each exercised by tests/iam/test_resize_iam.py);
    # listing the originals (a missing source's 404) is limited to uploads/
    assert role_statements(dev, "/Delivery/Resize/") == [
        (["logs:CreateLogStream", "logs:PutLogEvents"], [logs], None),
        (["xray:PutTelemetryRecords", "xray:PutTraceSegments"], ["*"], None),
        (["s3:GetObject"], [f"{originals}/batches/*", f"{originals}/uploads/*"], None),
        (["s3:GetObject", "s3:PutObject"], [f"{transformed}/*"], None),
        (["s3:ListBucket"], [originals], {"StringLike": {"s3:prefix": ["uploads/*", "batches/*"]}}),
        (["s3:ListBucket"], [transformed], None),
        (["dynamodb:GetItem"], [table], None),
        (["secretsmanager:GetSecretValue"], [secret], None),
    ]
