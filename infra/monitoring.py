"""Monitoring: alarms on what fails, a dashboard, and one SNS topic (optionally e-mailed) that every alarm
notifies.

Alarms: a dead-letter queue holds anything; a lane's oldest message is older than its limit; more than
10 % of ingest's records fail (its own metric: a record answered in `batchItemFailures` is a successful
invocation for Lambda) or of its invocations crash or time out; any function is throttled; the API
answers 5xx; resize's URL answers 5xx; and at the edge (`EdgeAlarms`): CloudFront answers 5xx to more
than 5 % of requests, or a CloudFront Function fails, is refused or is throttled.

CloudFront publishes its metrics in us-east-1 only, and an alarm reads metrics of its own region and
notifies a topic of its own region. So the edge alarms live in the main stack when it is in us-east-1 (or,
in a region-agnostic template, exist there by a CloudFormation condition) and otherwise in a small
us-east-1 stack with its own topic and the same subscription (`EdgeMonitoringStack`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Aws, CfnCondition, CfnOutput, CfnResource, Duration, Fn, Stack, Token
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.config import StageConfig
from infra.constants import (
    ALARM_TOPIC,
    METRIC_INGEST_FAILED,
    METRIC_INGEST_MESSAGES,
    METRICS_NAMESPACE,
    SERVICE_NAME,
)
from infra.nag import SERVERLESS_PACK, acknowledge, acknowledge_checkov_by_type
from infra.pipeline import Lane
from infra.removal import stage_removal_policy

PERIOD = Duration.minutes(5)
INGEST_ERROR_RATE_PERCENT = 10
INGEST_RECORD_FAILURE_RATE_PERCENT = 10
API_5XX_RATE_PERCENT = 5
RESIZE_5XX_RATE_PERCENT = 5
CLOUDFRONT_5XX_RATE_PERCENT = 5
CLOUDFRONT_METRICS_REGION = "us-east-1"  # CloudFront publishes its metrics there only
# Per CloudFront Function (namespace AWS/CloudFront, dimensions FunctionName and Region=Global): it threw,
# its result was refused by CloudFront, or it ran out of its compute budget. Any one is a broken edge.
EDGE_FUNCTION_FAILURES = ("FunctionExecutionErrors", "FunctionValidationErrors", "FunctionThrottles")


def is_cloudfront_metrics_region(stack: Stack) -> bool | None:
    """Whether `stack` can alarm on CloudFront's metrics: None when its region is not known at synth."""
    region = stack.region
    if Token.is_unresolved(region):
        return None
    return region == CLOUDFRONT_METRICS_REGION


class AlarmTopic(Construct):
    """The encrypted SNS topic an alarm notifies (optionally e-mailed), and the alarms made through it."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        # CloudWatch must be able to use the key to publish to an encrypted topic; the AWS-managed SNS
        # key does not allow that, so the topic gets its own.
        key = kms.Key(
            self,
            "TopicKey",
            description="imgpipe alarm topic encryption",
            enable_key_rotation=True,
            removal_policy=stage_removal_policy(config),
        )
        key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey")
        self.topic = sns.Topic(
            self,
            "Alarms",
            topic_name=config.physical_name(ALARM_TOPIC),
            display_name=f"imgpipe {config.stage} alarms",
            master_key=key,
            enforce_ssl=True,
        )
        if config.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
            acknowledge(
                self.topic,
                "SNSRedrivePolicy",
                "The one subscription is an e-mail: SNS retries its delivery, the alarm's state stays in "
                "CloudWatch and on the dashboard; a dead-letter queue for alarm mails would go unread.",
                pack=SERVERLESS_PACK,
            )
        self.action = actions.SnsAction(self.topic)
        self.alarms: list[cloudwatch.Alarm] = []

    def alarm(
        self,
        scope: Construct,
        construct_id: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        description: str,
        evaluation_periods: int = 1,
        datapoints_to_alarm: int | None = None,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            scope,
            construct_id,
            alarm_name=f"imgpipe-{self.config.stage}-{construct_id}",
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm,
            # No data means no traffic, not a failure.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self.action)
        alarm.add_ok_action(self.action)
        self.alarms.append(alarm)
        return alarm


def cloudfront_5xx_rate(distribution_id: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace="AWS/CloudFront",
        metric_name="5xxErrorRate",
        dimensions_map={"DistributionId": distribution_id, "Region": "Global"},
        statistic=cloudwatch.Stats.AVERAGE,
        period=PERIOD,
        region=CLOUDFRONT_METRICS_REGION,
    )


class EdgeAlarms(Construct):
    """CloudFront's own failures: the distribution's 5xx rate and each CloudFront Function's errors."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topic: AlarmTopic,
        distribution_id: str,
        edge_functions: Sequence[str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.alarms = [
            topic.alarm(
                self,
                "Cloudfront5xxRate",
                cloudfront_5xx_rate(distribution_id),
                threshold=CLOUDFRONT_5XX_RATE_PERCENT,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                description=f"More than {CLOUDFRONT_5XX_RATE_PERCENT} % of CloudFront responses are 5xx",
            )
        ]
        for function_name in edge_functions:
            # `imgpipe-{stage}-viewer-request` → ViewerRequest
            label = "".join(part.title() for part in function_name.split("-")[-2:])
            for metric_name in EDGE_FUNCTION_FAILURES:
                metric = cloudwatch.Metric(
                    namespace="AWS/CloudFront",
                    metric_name=metric_name,
                    dimensions_map={"FunctionName": function_name, "Region": "Global"},
                    statistic=cloudwatch.Stats.SUM,
                    period=PERIOD,
                    region=CLOUDFRONT_METRICS_REGION,
                )
                self.alarms.append(
                    topic.alarm(
                        self,
                        f"{label}{metric_name.removeprefix('Function')}",
                        metric,
                        threshold=0,
                        description=f"CloudFront Function {function_name}: {metric_name} (viewers get "
                        "503 for every request it fails)",
                    )
                )


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        lanes: tuple[Lane, ...],
        ingest: tuple[lambda_.Function, ...],
        functions: dict[str, lambda_.Function],
        resize: lambda_.Function,
        rest_api: apigateway.RestApi,
        distribution_id: str,
        edge_functions: Sequence[str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.alarm_topic = AlarmTopic(self, "Topic", config=config)
        self.topic = self.alarm_topic.topic
        # Alarms that exist only in some regions (a CloudFormation condition): not on the status widget.
        self.conditional_alarms: list[cloudwatch.Alarm] = []

        for lane in lanes:
            name = lane.node.id
            self._alarm(
                f"{name}DeadLetters",
                lane.dlq.metric_approximate_number_of_messages_visible(
                    period=Duration.minutes(1), statistic=cloudwatch.Stats.MAXIMUM
                ),
                threshold=0,
                description=f"The {name.lower()} lane's dead-letter queue holds messages: redrive them",
            )
            self._alarm(
                f"{name}OldestMessage",
                lane.queue.metric_approximate_age_of_oldest_message(
                    period=Duration.minutes(1), statistic=cloudwatch.Stats.MAXIMUM
                ),
                threshold=lane.settings.max_message_age_seconds,
                description=f"The {name.lower()} lane is falling behind",
            )

        self._alarm(
            "IngestRecordFailureRate",
            self._ingest_record_failure_rate(),
            threshold=INGEST_RECORD_FAILURE_RATE_PERCENT,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            description=f"More than {INGEST_RECORD_FAILURE_RATE_PERCENT} % of ingest's records fail and go "
            "back to their queue (batchItemFailures)",
        )
        self._alarm(
            "IngestErrorRate",
            self._ingest_error_rate(ingest),
            threshold=INGEST_ERROR_RATE_PERCENT,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            description=f"More than {INGEST_ERROR_RATE_PERCENT} % of ingest invocations crash or time out "
            "(every record of the batch goes back to its queue)",
        )
        for name, function in functions.items():
            self._alarm(
                f"{name}Throttles",
                function.metric_throttles(period=PERIOD, statistic=cloudwatch.Stats.SUM),
                threshold=0,
                description=f"The {name.lower()} function is throttled (account or reserved concurrency)",
            )
        self._alarm(
            "Api5xxRate",
            rest_api.deployment_stage.metric_server_error(period=PERIOD, statistic=cloudwatch.Stats.AVERAGE),
            threshold=API_5XX_RATE_PERCENT / 100,  # API Gateway's 5XXError average is a fraction
            evaluation_periods=3,
            datapoints_to_alarm=2,
            description=f"More than {API_5XX_RATE_PERCENT} % of API requests answer 5xx",
        )
        self._alarm(
            "Resize5xxRate",
            self._url_5xx_rate(resize),
            threshold=RESIZE_5XX_RATE_PERCENT,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            description=f"More than {RESIZE_5XX_RATE_PERCENT} % of the resize URL's answers are 5xx "
            "(errors, timeouts, render budget exceeded, throttled)",
        )

        # CloudFront's metrics are in us-east-1 only; elsewhere the stack puts these alarms in a us-east-1
        # stack of their own (infra.stack).
        in_metrics_region = is_cloudfront_metrics_region(Stack.of(self))
        self.edge: EdgeAlarms | None = None
        if in_metrics_region is not False:
            self.edge = EdgeAlarms(
                self,
                "Edge",
                topic=self.alarm_topic,
                distribution_id=distribution_id,
                edge_functions=edge_functions,
            )
            if in_metrics_region is None:
                # A region-agnostic template creates them only where they can see data; elsewhere they
                # would sit in OK forever. The dashboard shows the rate from any region.
                condition = CfnCondition(
                    self,
                    "InCloudFrontMetricsRegion",
                    expression=Fn.condition_equals(Aws.REGION, CLOUDFRONT_METRICS_REGION),
                )
                for alarm in self.edge.alarms:
                    cfn_alarm = alarm.node.default_child
                    assert isinstance(cfn_alarm, CfnResource)
                    cfn_alarm.cfn_options.condition = condition
                    self.conditional_alarms.append(alarm)

        self.dashboard = self._dashboard(lanes, ingest, functions, cloudfront_5xx_rate(distribution_id))
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Failure rates (%): ingest records, resize URL",
                left=[self._ingest_record_failure_rate(), self._url_5xx_rate(resize)],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="API 5xx (fraction of requests)",
                left=[
                    rest_api.deployment_stage.metric_server_error(
                        period=PERIOD, statistic=cloudwatch.Stats.AVERAGE
                    )
                ],
                width=12,
            ),
        )

    @property
    def alarms(self) -> list[cloudwatch.Alarm]:
        return self.alarm_topic.alarms

    def _alarm(self, construct_id: str, metric: cloudwatch.IMetric, **kwargs: Any) -> cloudwatch.Alarm:
        return self.alarm_topic.alarm(self, construct_id, metric, **kwargs)

    @staticmethod
    def _ingest_metric(name: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=name,
            dimensions_map={"service": SERVICE_NAME},
            statistic=cloudwatch.Stats.SUM,
            period=PERIOD,
        )

    def _ingest_record_failure_rate(self) -> cloudwatch.MathExpression:
        # Both lanes publish under service=imgpipe; `failed` is published only when something failed.
        return cloudwatch.MathExpression(
            expression="IF(messages > 0, 100 * FILL(failed, 0) / messages, 0)",
            using_metrics={
                "messages": self._ingest_metric(METRIC_INGEST_MESSAGES),
                "failed": self._ingest_metric(METRIC_INGEST_FAILED),
            },
            label="Ingest record failure rate (%)",
            period=PERIOD,
        )

    @staticmethod
    def _ingest_error_rate(ingest: tuple[lambda_.Function, ...]) -> cloudwatch.MathExpression:
        # Both lanes together: the rate of failed ingest invocations, whichever lane they ran in.
        using: dict[str, cloudwatch.IMetric] = {}
        for index, function in enumerate(ingest):
            using[f"errors{index}"] = function.metric_errors(period=PERIOD, statistic=cloudwatch.Stats.SUM)
            using[f"invocations{index}"] = function.metric_invocations(
                period=PERIOD, statistic=cloudwatch.Stats.SUM
            )
        errors = " + ".join(f"errors{i}" for i in range(len(ingest)))
        invocations = " + ".join(f"invocations{i}" for i in range(len(ingest)))
        return cloudwatch.MathExpression(
            expression=f"IF(({invocations}) > 0, 100 * ({errors}) / ({invocations}), 0)",
            using_metrics=using,
            label="Ingest error rate (%)",
            period=PERIOD,
        )

    @staticmethod
    def _url_5xx_rate(function: lambda_.Function) -> cloudwatch.MathExpression:
        # Function URL metrics (AWS/Lambda, per FunctionName); Url5xxCount is published only when non-zero.
        def metric(name: str) -> cloudwatch.Metric:
            return function.metric(name, period=PERIOD, statistic=cloudwatch.Stats.SUM)

        return cloudwatch.MathExpression(
            expression="IF(requests > 0, 100 * FILL(errors, 0) / requests, 0)",
            using_metrics={"requests": metric("UrlRequestCount"), "errors": metric("Url5xxCount")},
            label="Resize URL 5xx rate (%)",
            period=PERIOD,
        )

    def _dashboard(
        self,
        lanes: tuple[Lane, ...],
        ingest: tuple[lambda_.Function, ...],
        functions: dict[str, lambda_.Function],
        cloudfront_5xx: cloudwatch.IMetric,
    ) -> cloudwatch.Dashboard:
        dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"imgpipe-{self.config.stage}",
            default_interval=Duration.hours(6),
        )
        dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(
                title="Alarms",
                alarms=[a for a in self.alarms if a not in self.conditional_alarms],
                width=24,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Queue depth",
                left=[lane.queue.metric_approximate_number_of_messages_visible() for lane in lanes]
                + [lane.dlq.metric_approximate_number_of_messages_visible() for lane in lanes],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Oldest message (s)",
                left=[lane.queue.metric_approximate_age_of_oldest_message() for lane in lanes],
                width=12,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Ingest invocations and errors",
                left=[m for f in ingest for m in (f.metric_invocations(), f.metric_errors())],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Duration p50 / p99 (ms)",
                left=[f.metric_duration(statistic="p50", label=f"{n} p50") for n, f in functions.items()]
                + [f.metric_duration(statistic="p99", label=f"{n} p99") for n, f in functions.items()],
                width=12,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Images (Powertools metrics)",
                left=[
                    self._ingest_metric(name)
                    for name in ("processed", "rejected", METRIC_INGEST_FAILED, METRIC_INGEST_MESSAGES)
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(title="CloudFront 5xx rate (%)", left=[cloudfront_5xx], width=12),
        )
        return dashboard


class EdgeMonitoringStack(Stack):
    """The edge alarms of a stage whose main stack is outside us-east-1, where CloudFront's metrics are;
    with its own topic (an alarm notifies a topic of its region) and the same e-mail subscription."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        distribution_id: str,
        edge_functions: Sequence[str],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.alarm_topic = AlarmTopic(self, "Topic", config=config)
        CfnOutput(self, "AlarmTopic", value=self.alarm_topic.topic.topic_arn, description="CloudFront alarms")
        self.edge = EdgeAlarms(
            self,
            "Edge",
            topic=self.alarm_topic,
            distribution_id=distribution_id,
            edge_functions=edge_functions,
        )
        acknowledge_checkov_by_type(self)
