"""Jobs started on demand, locally: the job's function runs in a thread of this process.

There is no Lambda service to invoke here. Every ``LocalLambda`` calls ``install()``, which puts
``LocalJobInvoker`` into the layer's registry for ``JOB_INVOKER=local`` (the default of the local and
test environments); the layer itself never imports localrun.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localrun.invoke import LocalLambda


def local_function_id(job: str) -> str:
    """The template's logical id of a job's function: purge_retention -> PurgeRetentionFunction."""
    return "".join(part.capitalize() for part in job.split("_")) + "Function"


class LocalJobInvoker:
    """Runs the job's handler in a background thread through the local runtime (development, tests)."""

    def start(self, job: str, event: Mapping[str, Any]) -> None:
        from primecloud.observability import logger

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
def _local_runtime() -> LocalLambda:
    from localrun.invoke import LocalLambda
    from localrun.template import DEFAULT_TEMPLATE, load_template

    return LocalLambda(load_template(DEFAULT_TEMPLATE))


def install() -> None:
    """Make ``registry.job_invoker()`` run jobs here when JOB_INVOKER is local (idempotent)."""
    try:
        from primecloud.adapters import registry
    except ImportError:  # a template without the primecloud layer (the gateway's own test fixtures)
        return
    registry.install_local_job_invoker(LocalJobInvoker)
