"""Api and Monitoring contracts."""

from __future__ import annotations

from typing import Any

import pytest

from infra import constants
from infra.bundle import FUNCTIONS_DIR
from infra.config import cdk_json_context, load_stage_config
from tests.infra.cfn import by_path, only, props, ref_id, resources, role_statements
from tests.infra.conftest import Assembly
from tests.infra.variants import EU_EDGE_STACK, EU_STACK, USER_POOL_ARN

Template = dict[str, Any]
DEV = load_stage_config(cdk_json_context())
LANES = ("Interactive", "Bulk")


def _path_part(template: Template, method: dict[str, Any]) -> str:
    resource_id = ref_id(props(method)["ResourceId"])
    return str(props(template["Resources"][resource_id])["PathPart"]) if resource_id else ""


def test_every_api_method_requires_an_api_key_but_the_keyless_ones(dev: Template) -> None:
    methods = resources(dev, "AWS::ApiGateway::Method")
    # /v1, /v1/{proxy+}, and the three documented as keyless (docs/api.md)
    keyless = {"health", "openapi.json", "docs"}
    assert len(methods) == 2 + len(keyless)
    for method in methods.values():
        part = _path_part(dev, method)
        assert props(method)["ApiKeyRequired"] is (part not in keyless), part
        assert props(method)["HttpMethod"] == "ANY"
        assert props(method)["Integration"]["Type"] == "AWS_PROXY"
    assert {_path_part(dev, m) for m in methods.values()} >= keyless


def test_usage_plans_carry_rate_burst_and_monthly_quota(dev: Template) -> None:
    plans = {
        props(p)["UsagePlanName"]: props(p) for p in resources(dev, "AWS::ApiGateway::UsagePlan").values()
    }
    assert set(plans) == {f"imgpipe-dev-{name}" for name in ("free", "pro", "enterprise")}
    for name, expected in DEV.api.plans.items():
        plan = plans[f"imgpipe-dev-{name}"]
        assert plan["Throttle"] == {"RateLimit": expected.rate_limit, "BurstLimit": expected.burst_limit}
        assert plan["Quota"] == {"Limit": expected.monthly_quota, "Period": "MONTH"}
        assert len(plan["ApiStages"]) == 1


def test_api_stage_is_regional_traced_and_access_logged(dev: Template) -> None:
    assert props(only(dev, "AWS::ApiGateway::RestApi")[1])["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    stage = props(only(dev, "AWS::ApiGateway::Stage")[1])
    assert stage["StageName"] == "dev"
    assert stage["TracingEnabled"] is True
    assert "DestinationArn" in stage["AccessLogSetting"]


def test_cognito_authoriser_is_optional(dev: Template, full: Template) -> None:
    assert not resources(dev, "AWS::ApiGateway::Authorizer")
    authorizer_id, authorizer = only(full, "AWS::ApiGateway::Authorizer")
    assert props(authorizer)["Type"] == "COGNITO_USER_POOLS"
    assert props(authorizer)["ProviderARNs"] == [USER_POOL_ARN]
    for method in resources(full, "AWS::ApiGateway::Method").values():
        if _path_part(full, method) in ("health", "openapi.json", "docs"):
            # Public by design: neither key nor token
            assert props(method)["AuthorizationType"] == "NONE"
            assert props(method)["ApiKeyRequired"] is False
            continue
        assert props(method)["AuthorizationType"] == "COGNITO_USER_POOLS"
        assert ref_id(props(method)["AuthorizerId"]) == authorizer_id
        assert props(method)["ApiKeyRequired"] is True


def _alarms(template: Template) -> dict[str, dict[str, Any]]:
    return {props(a)["AlarmName"]: props(a) for a in resources(template, "AWS::CloudWatch::Alarm").values()}


@pytest.mark.parametrize("lane", ["Interactive", "Bulk"])
def test_any_message_in_a_dead_letter_queue_alarms(dev: Template, lane: str) -> None:
    alarm = _alarms(dev)[f"imgpipe-dev-{lane}DeadLetters"]
    dlq_id, _ = by_path(dev, "AWS::SQS::Queue", f"/Pipeline/{lane}/DeadLetters/")
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert ref_id(alarm["Dimensions"][0]["Value"]) == dlq_id
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")


def test_interactive_messages_older_than_five_minutes_alarm(dev: Template) -> None:
    alarm = _alarms(dev)["imgpipe-dev-InteractiveOldestMessage"]
    assert alarm["MetricName"] == "ApproximateAgeOfOldestMessage"
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (300, "GreaterThanThreshold")
    assert (
        _alarms(dev)["imgpipe-dev-BulkOldestMessage"]["Threshold"] == DEV.lanes.bulk.max_message_age_seconds
    )


def test_ingest_error_rate_over_ten_percent_alarms(dev: Template) -> None:
    alarm = _alarms(dev)["imgpipe-dev-IngestErrorRate"]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (10, "GreaterThanThreshold")
    expression = next(m for m in alarm["Metrics"] if "Expression" in m)["Expression"]
    # Both lanes together: 100 × errors / invocations, 0 when nothing ran
    assert expression == (
        "IF((invocations0 + invocations1) > 0, 100 * (errors0 + errors1) / (invocations0 + invocations1), 0)"
    )
    stats = {m["Id"]: m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m}
    assert {s["Metric"]["MetricName"] for s in stats.values()} == {"Errors", "Invocations"}
    assert {s["Stat"] for s in stats.values()} == {"Sum"}
    ingest = {by_path(dev, "AWS::Lambda::Function", f"/Pipeline/{lane}/Ingest/")[0] for lane in LANES}
    for index, lane in enumerate(LANES):
        function_id = by_path(dev, "AWS::Lambda::Function", f"/Pipeline/{lane}/Ingest/")[0]
        for metric in ("errors", "invocations"):
            assert ref_id(stats[f"{metric}{index}"]["Metric"]["Dimensions"][0]["Value"]) == function_id
    assert len(ingest) == 2


@pytest.mark.parametrize("function", ["IngestInteractive", "IngestBulk", "Resize", "Api"])
def test_throttling_of_any_function_alarms(dev: Template, function: str) -> None:
    alarm = _alarms(dev)[f"imgpipe-dev-{function}Throttles"]
    assert alarm["MetricName"] == "Throttles" and alarm["Threshold"] == 0
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"


@pytest.mark.parametrize("stack", ["dev", "full"])
def test_cloudfront_5xx_rate_alarms(dev: Template, full: Template, stack: str) -> None:
    template = {"dev": dev, "full": full}[stack]
    alarm_id, alarm = next(
        (k, v) for k, v in resources(template, "AWS::CloudWatch::Alarm").items()
        if props(v)["AlarmName"] == f"imgpipe-{stack}-Cloudfront5xxRate"
    )  # fmt: skip
    alarm = props(alarm)
    distribution_id, _ = only(template, "AWS::CloudFront::Distribution")
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/CloudFront", "5xxErrorRate")
    assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]}["Region"] == "Global"
    assert distribution_id in str(alarm["Dimensions"])
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (5, "GreaterThanThreshold")
    condition = template["Resources"][alarm_id].get("Condition")
    if stack == "dev":
        # Region-agnostic: CloudFront's metrics are in us-east-1 only, so the alarm exists only there
        assert template["Conditions"][condition] == {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}
    else:
        assert condition is None  # pinned to us-east-1


def test_every_alarm_notifies_the_encrypted_topic(dev: Template) -> None:
    topic_id, topic = only(dev, "AWS::SNS::Topic")
    assert "KmsMasterKeyId" in props(topic)
    key = props(only(dev, "AWS::KMS::Key")[1])
    assert key["EnableKeyRotation"] is True
    assert "cloudwatch.amazonaws.com" in str(key["KeyPolicy"])
    alarms = _alarms(dev)
    # 2 dead-letter queues, 2 oldest-message, ingest's record failure and error rates, 4 throttles, API
    # 5xx, resize 5xx; at the edge the CloudFront 5xx rate and 3 per CloudFront Function
    assert len(alarms) == 2 + 2 + 2 + 4 + 2 + 1 + 2 * 3
    for alarm in alarms.values():
        assert [ref_id(a) for a in alarm["AlarmActions"]] == [topic_id]
        assert alarm["TreatMissingData"] == "notBreaching"


def test_alarm_email_is_optional(dev: Template, full: Template) -> None:
    assert not resources(dev, "AWS::SNS::Subscription")
    subscription = props(only(full, "AWS::SNS::Subscription")[1])
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", "ops@example.com")


def test_dashboard_shows_queues_functions_and_cloudfront(dev: Template) -> None:
    body = str(props(only(dev, "AWS::CloudWatch::Dashboard")[1])["DashboardBody"])
    for metric in ("ApproximateAgeOfOldestMessage", "Invocations", "Duration", "5xxErrorRate",
                   "5XXError", "Url5xxCount", constants.METRIC_INGEST_FAILED):  # fmt: skip
        assert metric in body


def _api_environment(template: Template) -> dict[str, Any]:
    function = props(by_path(template, "AWS::Lambda::Function", "/Api/Handler/")[1])
    variables: dict[str, Any] = function["Environment"]["Variables"]
    return variables


def test_api_environment_is_what_the_api_settings_read(dev: Template) -> None:
    variables = _api_environment(dev)
    imgpipe = {k for k in variables if k.startswith("IMGPIPE_")}
    source = (FUNCTIONS_DIR / "api" / "settings.py").read_text(encoding="utf-8")
    read = {getattr(constants, n) for n in dir(constants) if n.startswith("ENV_") and n in source}
    assert imgpipe <= read, imgpipe - read
    assert variables[constants.ENV_API_PLANS] == DEV.api.plans_json
    # The delivery URL is the distribution's own domain (no custom domain in dev)
    distribution_id, _ = only(dev, "AWS::CloudFront::Distribution")
    assert distribution_id in str(variables[constants.ENV_DELIVERY_BASE_URL])


def test_api_settings_accept_the_environment_the_stack_sets(dev: Template, full: Template) -> None:
    from api.settings import ApiSettings  # noqa: PLC0415 (written alongside; import when used)

    for template in (dev, full):
        variables = _api_environment(template)
        environ = {k: v if isinstance(v, str) else "resolved-at-deploy" for k, v in variables.items()}
        environ[constants.ENV_DELIVERY_BASE_URL] = "https://d1234.cloudfront.net"
        settings = ApiSettings.from_env(environ)
        plans = DEV.api.plans
        assert {n: (p.rate_limit, p.burst_limit) for n, p in settings.plans.items()} == {
            n: (p.rate_limit, p.burst_limit) for n, p in plans.items()
        }
    assert _api_environment(full)[constants.ENV_DELIVERY_BASE_URL] == "https://img.example.com"


def _alarm_metrics(alarm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["Id"]: m for m in alarm.get("Metrics", [])}


def test_ingest_record_failures_alarm_from_ingests_own_metric(dev: Template) -> None:
    # ingest answers batchItemFailures, which Lambda counts as success: the rate is of its own counts
    alarm = _alarms(dev)["imgpipe-dev-IngestRecordFailureRate"]
    metrics = _alarm_metrics(alarm)
    expression = next(m["Expression"] for m in metrics.values() if "Expression" in m)
    assert expression == "IF(messages > 0, 100 * FILL(failed, 0) / messages, 0)"
    for metric_id, name in (("messages", constants.METRIC_INGEST_MESSAGES),
                            ("failed", constants.METRIC_INGEST_FAILED)):  # fmt: skip
        stat = metrics[metric_id]["MetricStat"]
        assert stat["Metric"]["Namespace"] == constants.METRICS_NAMESPACE
        assert stat["Metric"]["MetricName"] == name
        assert stat["Metric"]["Dimensions"] == [{"Name": "service", "Value": constants.SERVICE_NAME}]
        assert stat["Stat"] == "Sum"
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (10, "GreaterThanThreshold")


def test_the_ingest_handler_publishes_the_metrics_the_alarm_reads() -> None:
    from ingest import handler  # noqa: PLC0415 (the function's code, imported as Lambda does)

    assert handler.METRIC_MESSAGES == constants.METRIC_INGEST_MESSAGES
    assert handler.METRIC_FAILED == constants.METRIC_INGEST_FAILED


def test_api_5xx_alarms(dev: Template) -> None:
    alarm = _alarms(dev)["imgpipe-dev-Api5xxRate"]
    _, rest_api = only(dev, "AWS::ApiGateway::RestApi")
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "AWS/ApiGateway", "5XXError", "Average"
    )  # fmt: skip
    dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
    assert dimensions["ApiName"] == props(rest_api)["Name"]
    assert dimensions["Stage"] == DEV.stage or ref_id(dimensions["Stage"])
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0.05, "GreaterThanThreshold")


def test_resize_error_responses_alarm_from_its_function_url_metrics(dev: Template) -> None:
    alarm = _alarms(dev)["imgpipe-dev-Resize5xxRate"]
    resize_id, _ = by_path(dev, "AWS::Lambda::Function", "/Delivery/Resize/")
    metrics = _alarm_metrics(alarm)
    assert next(m["Expression"] for m in metrics.values() if "Expression" in m) == (
        "IF(requests > 0, 100 * FILL(errors, 0) / requests, 0)"
    )
    for metric_id, name in (("requests", "UrlRequestCount"), ("errors", "Url5xxCount")):
        metric = metrics[metric_id]["MetricStat"]["Metric"]
        assert (metric["Namespace"], metric["MetricName"]) == ("AWS/Lambda", name)
        assert ref_id(metric["Dimensions"][0]["Value"]) == resize_id


def _edge_alarms(template: Template, stage: str) -> dict[str, dict[str, Any]]:
    return {
        name.removeprefix(f"imgpipe-{stage}-"): alarm
        for name, alarm in _alarms(template).items()
        if "Cloudfront" in name or "Viewer" in name
    }


@pytest.mark.parametrize("stack", ["dev", "full"])
def test_cloudfront_function_failures_alarm(dev: Template, full: Template, stack: str) -> None:
    template = {"dev": dev, "full": full}[stack]
    alarms = _edge_alarms(template, stack)
    names = {props(f)["Name"] for f in resources(template, "AWS::CloudFront::Function").values()}
    assert names == {f"imgpipe-{stack}-viewer-request", f"imgpipe-{stack}-viewer-response"}
    for function in ("ViewerRequest", "ViewerResponse"):
        for failure in ("ExecutionErrors", "ValidationErrors", "Throttles"):
            alarm = alarms[f"{function}{failure}"]
            assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/CloudFront", f"Function{failure}")
            dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
            assert dimensions["Region"] == "Global" and dimensions["FunctionName"] in names
            assert (alarm["Threshold"], alarm["Statistic"]) == (0, "Sum")


def test_outside_us_east_1_the_edge_alarms_live_in_a_us_east_1_stack_of_their_own(
    assembly: Assembly, euwest: Template, euwest_edge: Template
) -> None:
    # Given a stage pinned to eu-west-1, where CloudFront publishes no metric
    manifest = assembly.manifest()
    assert manifest["artifacts"][EU_STACK]["environment"].endswith("/eu-west-1")
    assert manifest["artifacts"][EU_EDGE_STACK]["environment"].endswith("/us-east-1")
    # Then the main stack has no CloudFront alarm, and the us-east-1 stack has them all
    assert not _edge_alarms(euwest, "euwest")
    edge = _edge_alarms(euwest_edge, "euwest")
    assert set(edge) == {"Cloudfront5xxRate"} | {
        f"{f}{kind}"
        for f in ("ViewerRequest", "ViewerResponse")
        for kind in ("ExecutionErrors", "ValidationErrors", "Throttles")
    }
    # And they notify a topic of their own region, with the same e-mail subscription
    topic_id, _ = only(euwest_edge, "AWS::SNS::Topic")
    for alarm in edge.values():
        assert [ref_id(a) for a in alarm["AlarmActions"]] == [topic_id]
        assert alarm.get("Condition") is None
    assert "AlarmTopic" in euwest_edge["Outputs"]
    subscription = props(only(euwest_edge, "AWS::SNS::Subscription")[1])
    assert subscription["Endpoint"] == props(only(euwest, "AWS::SNS::Subscription")[1])["Endpoint"]
    # And the distribution is the main stack's, read across regions
    dimensions = {d["Name"]: d["Value"] for d in edge["Cloudfront5xxRate"]["Dimensions"]}
    assert "Fn::GetAtt" in str(dimensions["DistributionId"]) or "resolve:ssm" in str(
        dimensions["DistributionId"]
    )


def test_api_role_holds_exactly_the_calls_the_api_makes(dev: Template) -> None:
    # Given the resources the API touches
    originals = f"<{by_path(dev, 'AWS::S3::Bucket', '/Storage/Originals/')[0]}.Arn>"
    transformed = f"<{by_path(dev, 'AWS::S3::Bucket', '/Storage/Transformed/')[0]}.Arn>"
    table = f"<{by_path(dev, 'AWS::DynamoDB::Table', '/Metadata/Images/')[0]}.Arn>"
    bus = f"<{by_path(dev, 'AWS::Events::EventBus', '/Events/Bus/')[0]}.Arn>"
    logs = f"<{by_path(dev, 'AWS::Logs::LogGroup', '/Api/HandlerLogs/')[0]}.Arn>"
    # Then its role holds these statements and no other (each exercised by tests/iam/test_api_iam.py)
    assert role_statements(dev, "/Api/Handler/") == [
        (["logs:CreateLogStream", "logs:PutLogEvents"], [logs], None),
        (["xray:PutTelemetryRecords", "xray:PutTraceSegments"], ["*"], None),
        (
            ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            [f"{originals}/batches/*", f"{originals}/uploads/*"],
            None,
        ),
        (
            ["s3:DeleteObject", "s3:GetObject"],
            [f"{originals}/quarantine/*"],
            {"StringEquals": {"s3:authType": "REST-HEADER"}},
        ),
        (
            ["s3:ListBucket"],
            [originals],
            {"StringLike": {"s3:prefix": ["uploads/*", "batches/*", "quarantine/*"]}},
        ),
        (["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"], [f"{transformed}/exports/*"], None),
        (["dynamodb:GetItem"], [table], None),
        (["dynamodb:Query"], [f"{table}/index/*"], None),
        (
            ["dynamodb:PutItem"],
            [table],
            {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["IMG#*", "BATCH#*"]}},
        ),
        (["events:PutEvents"], [bus], None),
    ]


def test_the_stage_throttles_all_callers_together_above_every_plan(dev: Template) -> None:
    # Each key has its plan's limits; the stage's own ceiling (every key and the keyless routes) is above
    # the largest plan, so it caps a flood without ever cutting a plan short
    settings = props(only(dev, "AWS::ApiGateway::Stage")[1])["MethodSettings"]
    default = next(s for s in settings if (s["HttpMethod"], s["ResourcePath"]) == ("*", "/*"))
    assert (default["ThrottlingRateLimit"], default["ThrottlingBurstLimit"]) == (
        DEV.api.stage_rate_limit, DEV.api.stage_burst_limit
    )  # fmt: skip
    assert all(p.rate_limit <= DEV.api.stage_rate_limit for p in DEV.api.plans.values())
    assert all(p.burst_limit <= DEV.api.stage_burst_limit for p in DEV.api.plans.values())
