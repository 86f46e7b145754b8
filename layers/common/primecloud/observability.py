"""The Logger and the metrics every function shares (Powertools).

Metrics are CloudWatch embedded metric format (EMF): one JSON line on stdout per count, which
CloudWatch Logs turns into a metric in the ``POWERTOOLS_METRICS_NAMESPACE`` namespace (``PrimeCloud``
when unset). What is counted: each API response by route and status class (``api.app``) and each
scheduled job's result (``jobs``). No metric has an account dimension: every dimension combination is
a custom metric of its own, and the number of accounts has no bound.
"""

from __future__ import annotations

import logging
import os

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

SERVICE = "primecloud"

logger = Logger(service=SERVICE)


def publish_count(name: str, **dimensions: str) -> None:
    """Publish one count of ``name`` with ``dimensions`` (and ``service``) now, as one EMF line.

    A fresh ``EphemeralMetrics`` per count, not Powertools' ``Metrics``, whose metric and dimension
    sets live on the class: the local runtime answers requests on several threads of one process, and
    their dimensions would mix. ``POWERTOOLS_METRICS_DISABLED`` silences it as it does ``Metrics``.
    """
    try:
        metrics = EphemeralMetrics(
            namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "PrimeCloud", service=SERVICE
        )
        for dimension, value in dimensions.items():
            metrics.add_dimension(name=dimension, value=value)
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
        metrics.flush_metrics()
    except Exception as exc:  # counted after the work is done (and committed): the answer stands
        logger.warning("metric not published", extra={"metric": name, "error": type(exc).__name__})


# The AWS SDK's DEBUG lines carry request parameters: mail bodies with tokens, generated
# secrets. Whatever the function's log level, they stay quiet.
for _sdk_logger in ("boto3", "botocore", "s3transfer", "urllib3"):
    logging.getLogger(_sdk_logger).setLevel(logging.WARNING)
