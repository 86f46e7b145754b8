"""Starting a job's function on demand, without waiting for it to finish.

- ``LambdaJobInvoker``: an asynchronous Lambda invoke (``InvocationType=Event``) of the job's
  function, named in ``JOB_FUNCTIONS`` (``"run_billing=<name or ARN>,purge_retention=..."``; the
  template passes each job function's name and allows ``lambda:InvokeFunction`` on those only).
- ``LocalJobInvoker``: no Lambda service locally, so the function runs in a thread of this
  process through the local runtime (``localrun``), exactly as the local gateway runs it.

The event is what ``primecloud.jobs.scheduled_job_handler`` reads for a manual run:
``{"trigger": "manual", "params": {...}, "run_id": "<the job_runs row made up front>"}``.
"""

from __future__ import annotations

import json
import threading
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


def local_function_id(job: str) -> str:
    """The template's logical id of a job's function: purge_retention -> PurgeRetentionFunction."""
    return "".join(part.capitalize() for part in job.split("_")) + "Function"


class LocalJobInvoker:
    """Runs the job's handler in a background thread through the local runtime (development, tests)."""

    def start(self, job: str, event: Mapping[str, Any]) -> None:
        runtime = _local_runtime()
        function_id = local_function_id(job)

        def run() -> None:
            try:
                result = runtime.invoke(function_id, dict(event))
                logger.info("local job finished", extra={"job": job, "result": result})
            except Exception:
                logger.exception("local job failed", extra={"job": job})

        threading.Thread(target=run, name=f"job-{job}", daemon=True).start()


@lru_cache(maxsize=1)
def _local_runtime() -> Any:
    try:
        from localrun.invoke import LocalLambda
        from localrun.template import DEFAULT_TEMPLATE, load_template
    except ImportError as exc:  # the local runtime is not deployed
        raise Unavailable("The local job runner is not available here; set JOB_INVOKER=lambda.") from exc
    return LocalLambda(load_template(DEFAULT_TEMPLATE))


def default_job_invoker() -> JobInvoker:
    """The invoker the settings choose (JOB_INVOKER; unset: local for local/test, else Lambda)."""
    from primecloud.config import get_settings

    settings = get_settings()
    kind = settings.job_invoker or ("local" if settings.environment in ("local", "test") else "lambda")
    if kind == "local":
        return LocalJobInvoker()
    return LambdaJobInvoker(
        parse_function_names(settings.job_functions),
        region=None,
        timeout_seconds=settings.outbound_timeout_seconds,
    )
