"""Monitoring: alarms on the signals that mean images are being lost or delayed, a dashboard, and one SNS
topic (optionally e-mailed) that every alarm notifies.

Alarms: a dead-letter queue holds anything; a lane's oldest message is older than its limit; more than
10 % of ingest invocations fail; any function is throttled; CloudFront answers 5xx to more than 5 % of
requests.
"""

from __future__ import annotations

from aws_cdk import Annotations, Aws, CfnCondition, CfnResource, Duration, Fn, RemovalPolicy, Stack, Token
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.config import StageConfig
from infra.constants import ALARM_TOPIC, METRICS_NAMESPACE, SERVICE_NAME
from infra.pipeline import Lane

PERIOD = Duration.minutes(5)
INGEST_ERROR_RATE_PERCENT = 10
CLOUDFRONT_5XX_RATE_PERCENT = 5
CLOUDFRONT_METRICS_REGION = "us-east-1"  # CloudFront publishes its metrics there only


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
        distribution: cloudfront.Distribution,
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        # CloudWatch must be able to use the key to publish to an encrypted topic; the AWS-managed SNS
        # key does not allow that, so the topic gets its own.
        key = kms.Key(
            self,
            "TopicKey",
            description="imgpipe alarm topic encryption",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN if config.production else RemovalPolicy.DESTROY,
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
        self.action = actions.SnsAction(self.topic)
        self.alarms: list[cloudwatch.Alarm] = []
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

        # Both lanes together: the rate of failed ingest invocations, whichever lane they ran in.
        using: dict[str, cloudwatch.IMetric] = {}
        for index, function in enumerate(ingest):
            using[f"errors{index}"] = function.metric_errors(period=PERIOD, statistic=cloudwatch.Stats.SUM)
            using[f"invocations{index}"] = function.metric_invocations(
                period=PERIOD, statistic=cloudwatch.Stats.SUM
            )
        errors = " + ".join(f"errors{i}" for i in range(len(ingest)))
        invocations = " + ".join(f"invocations{i}" for i in range(len(ingest)))
        error_rate = cloudwatch.MathExpression(
            expression=f"IF(({invocations}) > 0, 100 * ({errors}) / ({invocations}), 0)",
            using_metrics=using,
            label="Ingest error rate (%)",
            period=PERIOD,
        )
        self._alarm(
            "IngestErrorRate",
            error_rate,
            threshold=INGEST_ERROR_RATE_PERCENT,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            description=f"More than {INGEST_ERROR_RATE_PERCENT} % of ingest invocations fail",
        )
        for name, function in functions.items():
            self._alarm(
                f"{name}Throttles",
                function.metric_throttles(period=PERIOD, statistic=cloudwatch.Stats.SUM),
                threshold=0,
                description=f"The {name.lower()} function is throttled (account or reserved concurrency)",
            )

        cloudfront_5xx = cloudwatch.Metric(
            namespace="AWS/CloudFront",
            metric_name="5xxErrorRate",
            dimensions_map={"DistributionId": distribution.distribution_id, "Region": "Global"},
            statistic=cloudwatch.Stats.AVERAGE,
            period=PERIOD,
            region=CLOUDFRONT_METRICS_REGION,
        )
        # CloudFront publishes its metrics in us-east-1 only, and an alarm reads metrics of its own region.
        region = Stack.of(self).region
        if Token.is_unresolved(region) or region == CLOUDFRONT_METRICS_REGION:
            alarm = self._alarm(
                "Cloudfront5xxRate",
                cloudfront_5xx,
                threshold=CLOUDFRONT_5XX_RATE_PERCENT,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                description=f"More than {CLOUDFRONT_5XX_RATE_PERCENT} % of CloudFront responses are 5xx",
            )
            if Token.is_unresolved(region):
                # A region-agnostic template creates the alarm only where it can see data; elsewhere it
                # would sit in OK forever. The dashboard shows the rate from any region.
                condition = CfnCondition(
                    self,
                    "InCloudFrontMetricsRegion",
                    expression=Fn.condition_equals(Aws.REGION, CLOUDFRONT_METRICS_REGION),
                )
                cfn_alarm = alarm.node.default_child
                assert isinstance(cfn_alarm, CfnResource)
                cfn_alarm.cfn_options.condition = condition
                self.conditional_alarms.append(alarm)
        else:
            Annotations.of(self).add_warning_v2(
                "imgpipe:cloudfront-alarm-region",
                "CloudFront metrics exist only in us-east-1: the 5xx alarm is created only for stacks there "
                "(the dashboard shows the rate from any region)",
            )

        self.dashboard = self._dashboard(lanes, ingest, functions, cloudfront_5xx)

    def _alarm(
        self,
        construct_id: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        description: str,
        evaluation_periods: int = 1,
        datapoints_to_alarm: int | None = None,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
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
                    cloudwatch.Metric(
                        namespace=METRICS_NAMESPACE,
                        metric_name=name,
                        statistic=cloudwatch.Stats.SUM,
                        dimensions_map={"service": SERVICE_NAME},
                    )
                    for name in ("processed", "rejected", "failed")
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(title="CloudFront 5xx rate (%)", left=[cloudfront_5xx], width=12),
        )
        return dashboard
