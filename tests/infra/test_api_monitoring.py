"""Api and Monitoring contracts."""

from __future__ import annotations

from typing import Any

import pytest

from infra import constants
from infra.bundle import FUNCTIONS_DIR
from infra.config import cdk_json_context, load_stage_config
from tests.infra.cfn import by_path, only, props, ref_id, resources
from tests.infra.variants import USER_POOL_ARN

Template = dict[str, Any]
DEV = load_stage_config(cdk_json_context())
LANES = ("Interactive", "Bulk")


def test_every_api_method_requires_an_api_key(dev: Template) -> None:
    methods = resources(dev, "AWS::ApiGateway::Method")
    assert len(methods) == 2  # /v1 and /v1/{proxy+}
    for method in methods.values():
        assert props(method)["ApiKeyRequired"] is True
        assert props(method)["HttpMethod"] == "ANY"
        assert props(method)["Integration"]["Type"] == "AWS_PROXY"


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
    # 2 dead-letter queues, 2 oldest-message, the ingest error rate, 4 throttles, the CloudFront 5xx rate
    assert len(alarms) == 10
    for alarm in alarms.values():
        assert [ref_id(a) for a in alarm["AlarmActions"]] == [topic_id]
        assert alarm["TreatMissingData"] == "notBreaching"


def test_alarm_email_is_optional(dev: Template, full: Template) -> None:
    assert not resources(dev, "AWS::SNS::Subscription")
    subscription = props(only(full, "AWS::SNS::Subscription")[1])
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", "ops@example.com")


def test_dashboard_shows_queues_functions_and_cloudfront(dev: Template) -> None:
    body = str(props(only(dev, "AWS::CloudWatch::Dashboard")[1])["DashboardBody"])
    for metric in ("ApproximateAgeOfOldestMessage", "Invocations", "Duration", "5xxErrorRate"):
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
