"""Logger, Tracer and Metrics defined once for every function (Powertools)."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

logger = Logger(service="primecloud")
metrics = Metrics(namespace="PrimeCloud", service="primecloud")


@lru_cache(maxsize=1)
def get_tracer() -> Tracer:
    """The Powertools Tracer, built on first use.

    Creating it imports the X-Ray SDK and botocore (~0.3 s), so it is not on every handler's
    cold start: Lambda's active tracing (template Globals) already traces each invocation;
    code that wants its own subsegments calls this.
    """
    from aws_lambda_powertools import Tracer

    return Tracer(service="primecloud")


# The AWS SDK's DEBUG lines carry request parameters: mail bodies with tokens, generated
# secrets. Whatever the function's log level, they stay quiet.
for _sdk_logger in ("boto3", "botocore", "s3transfer", "urllib3"):
    logging.getLogger(_sdk_logger).setLevel(logging.WARNING)
