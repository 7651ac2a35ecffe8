"""The one place that builds Powertools' Logger, Metrics and Tracer for every Lambda entry point.

Each handler imports these three objects, so the service name, the metrics namespace and the log format
are the same everywhere; Powertools reads its own settings (log level, sampling, tracing on/off) from the
environment the stack sets.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

from infra.constants import METRICS_NAMESPACE, SERVICE_NAME

logger = Logger(service=SERVICE_NAME)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)
tracer = Tracer(service=SERVICE_NAME)
