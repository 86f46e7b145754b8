"""Job administration for platform staff: start a job on demand, list its runs.

Starting creates the ``job_runs`` row first (so the answer names the run), commits it, then hands
the run to the job's function (``adapters.job_invoker``); the function fills in that row.
Two starts never overlap: the job's advisory lock is tried inside the starting transaction (a
running job holds it for its whole run), and a ``running`` row younger than its function's timeout
(a run created moments ago that has not begun yet) blocks a second start too. An older one is a run
that died: ``primecloud.jobs.close_abandoned_runs`` closes it as failed, as every run of the job does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from primecloud.actor import Actor
from primecloud.adapters.job_invoker import JobInvoker
from primecloud.db import try_xact_lock
from primecloud.errors import Conflict, Invalid, NotFound, PrimeCloudError, Unavailable
from primecloud.jobs import JOB_LOCK, JOB_TIMEOUTS, JOBS, close_abandoned_runs
from primecloud.models.system import JobRun
from primecloud.pagination import paginate
from primecloud.schemas.common import Page
from primecloud.schemas.jobs import JOB_PARAMS, JobRunOut, JobRunStart
from primecloud.services import audit


def run_out(run: JobRun) -> JobRunOut:
    stats: dict[str, Any] = dict(run.stats or {})
    params = stats.pop("params", {}) or {}
    counts = stats.pop("counts", {}) or {}
    failures = stats.pop("failures", []) or []
    return JobRunOut(
        id=run.id,
        job=run.job,
        trigger=run.trigger,
        status=run.status,
        started_at=run.started_at,
        finished_at=run.finished_at,
        params=params,
        counts={name: int(value) for name, value in counts.items()},
        failures=failures,
        details=stats,
        error=run.error,
    )


def _known_job(job: str) -> str:
    if job not in JOBS:
        raise NotFound(f"No such job; the jobs are {', '.join(JOBS)}.")
    return job


def validate_params(job: str, params: dict[str, Any]) -> dict[str, Any]:
    """The job's parameters as its function reads them, or 422 naming each bad field."""
    try:
        parsed = JOB_PARAMS[job].model_validate(params)
    except ValidationError as exc:
        errors = [
            {
                "field": ".".join(["body", "params", *(str(part) for part in error["loc"])]),
                "message": error["msg"],
                "type": error["type"],
            }
            for error in exc.errors()
        ]
        detail = "; ".join(f"{error['field']}: {error['message']}" for error in errors)
        raise Invalid(detail, errors=errors) from None
    return parsed.model_dump(mode="json", exclude_unset=True)


def start(
    session: Session, actor: Actor, job: str, body: JobRunStart, invoker: JobInvoker, *, now: datetime
) -> JobRunOut:
    params = validate_params(_known_job(job), body.params)
    if not try_xact_lock(session, JOB_LOCK, job):
        raise Conflict(f"The {job} job is already running.")
    close_abandoned_runs(session, job, now=now)
    earlier = session.scalar(select(JobRun.id).where(JobRun.job == job, JobRun.status == "running").limit(1))
    if earlier is not None:
        raise Conflict(
            f"A {job} run (id {earlier}) was started less than {int(JOB_TIMEOUTS[job].total_seconds())} s ago "
            "(the job's timeout) and has not finished."
        )
    run = JobRun(job=job, trigger="manual", status="running", started_at=now, stats={"params": params})
    session.add(run)
    session.flush()
    audit.record(session, actor, "job.start", target_type="job_run", target_id=run.id, new={"job": job, **params})
    # The run must exist before its function looks it up; committing also frees the lock for the job.
    session.commit()
    try:
        invoker.start(job, {"trigger": "manual", "params": params, "run_id": str(run.id)})
    except PrimeCloudError as exc:
        run.status, run.finished_at, run.error = "failed", now, f"Not started: {exc.detail}"
        session.commit()
        raise Unavailable(f"The {job} job could not be started: {exc.detail}") from exc
    return run_out(run)


def list_runs(
    session: Session, *, job: str | None, status: str | None, limit: int, cursor: str | None
) -> Page[JobRunOut]:
    statement = select(JobRun)
    if job is not None:
        statement = statement.where(JobRun.job == job)
    if status is not None:
        statement = statement.where(JobRun.status == status)
    return paginate(
        session, statement, keys=[JobRun.started_at, JobRun.id], limit=limit, cursor=cursor, to_item=run_out
    )


def get_run(session: Session, run_id: UUID) -> JobRunOut:
    run = session.get(JobRun, run_id)
    if run is None:
        raise NotFound("No such job run.")
    return run_out(run)
