"""Starting a job's function on demand, without waiting for it to finish.

- ``LambdaJobInvoker``: an asynchronous Lambda invoke (``InvocationType=Event``) of the job's
  function, named in ``JOB_FUNCTIONS`` (``"run_billing=<name or ARN>,purge_retention=..."``; the
  template passes each job function's name and allows ``lambda:InvokeFunction`` on those only).
- Locally there is no Lambda service: the local runtime installs its own invoker in the registry
  (``registry.install_local_job_invoker``), which runs the function in a thread of the process.
  ``registry.job_invoker()`` picks one of the two.

The event is what ``primecloud.jobs.scheduled_job_handler`` reads for a manual run:
``{"trigger": "manual", "params": {...}, "run_id": "<the job_runs row made up front>"}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Protocol

from primecloud.errors import Unavailable
from primecloud.observability import logger


class JobInvoker(Protocol):
    def start(self, job: str, event: Mapping[str, Any]) -> None:
        """Hand ``event`` to the job's function; return once it is accepted, not when it ends."""
        ...


def parse_function_names(value: str) -> dict[str, str]:
    """``"job=function,job2=function2"`` -> ``{"job": "function", ...}`` (blanks ignored)."""
    names: dict[str, str] = {}
    for item in value.split(","):
        job, _, function = item.strip().partition("=")
        if job.strip() and function.strip():
            names[job.strip()] = function.strip()
    return names


class LambdaJobInvoker:
    def __init__(self, function_names: Mapping[str, str], *, region: str | None = None, timeout_seconds: float = 5.0):
        self.function_names = dict(function_names)
        self.region = region
        self.timeout_seconds = timeout_seconds

    @property
    def client(self) -> Any:
        return _lambda_client(self.region, self.timeout_seconds)

    def start(self, job: str, event: Mapping[str, Any]) -> None:
        function = self.function_names.get(job)
        if function is None:
            raise Unavailable(f"No function is configured for the {job} job (JOB_FUNCTIONS).")
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.invoke(
                FunctionName=function, InvocationType="Event", Payload=json.dumps(dict(event)).encode()
            )
        except (BotoCoreError, ClientError) as exc:
            logger.warning("job invoke failed", extra={"job": job, "error": type(exc).__name__})
            raise Unavailable(f"Lambda did not accept the {job} run ({type(exc).__name__}).") from exc
        if response.get("StatusCode") != 202:
            raise Unavailable(f"Lambda did not accept the {job} run (status {response.get('StatusCode')}).")


@lru_cache(maxsize=4)
def _lambda_client(region: str | None, timeout_seconds: float) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=timeout_seconds, read_timeout=timeout_seconds, retries={"max_attempts": 2})
    return boto3.client("lambda", region_name=region, config=config)
