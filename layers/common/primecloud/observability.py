"""Logger, Tracer and Metrics defined once for every function (Powertools)."""

from __future__ import annotations

import logging

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="primecloud")
tracer = Tracer(service="primecloud")
metrics = Metrics(namespace="PrimeCloud", service="primecloud")

# The AWS SDK's DEBUG lines carry request parameters: mail bodies with tokens, generated
# secrets. Whatever the function's log level, they stay quiet.
for _sdk_logger in ("boto3", "botocore", "s3transfer", "urllib3"):
    logging.getLogger(_sdk_logger).setLevel(logging.WARNING)
