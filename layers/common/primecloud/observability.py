"""Logger, Tracer and Metrics defined once for every function (Powertools)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="primecloud")
tracer = Tracer(service="primecloud")
metrics = Metrics(namespace="PrimeCloud", service="primecloud")
