"""Job-run bookkeeping, advisory locks and fan-out helpers for the scheduled jobs.

Every run is a ``job_runs`` row (status, counts, error). A Postgres advisory lock, held on
a dedicated connection for the whole run, keeps two runs of the same job from overlapping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import Connection, Engine, bindparam, case, func, insert, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from primecloud import clock
from primecloud.db import advisory_lock_key
from primecloud.errors import Conflict
from primecloud.observability import logger, publish_count

T = TypeVar("T")

JOBS = ("collect_usage", "run_billing", "check_overdue", "purge_retention")

# Each job function's Timeout in template.yaml (tests/unit/test_template.py keeps them equal):
# Lambda has stopped a run by then, whatever became of its lock's connection.
JOB_TIMEOUTS: dict[str, timedelta] = {
    "collect_usage": timedelta(seconds=300),
    "run_billing": timedelta(seconds=900),
    "check_overdue": timedelta(seconds=900),
    "purge_retention": timedelta(seconds=900),
}
ABANDONED = "Abandoned: it did not finish within its function's timeout and no process holds the job's lock."
JOB_LOCK = "job"  # the advisory-lock namespace of job runs: the key is the job's name


@contextmanager
def advisory_lock(connection: Connection, job: str) -> Iterator[None]:
    """Hold the job's lock on ``connection`` or raise Conflict when another run holds it."""
    key = advisory_lock_key(JOB_LOCK, job)
    acquired = connection.execute(select(func.pg_try_advisory_lock(key))).scalar()
    connection.commit()
    if not acquired:
        raise Conflict(f"The {job} job is already running.")
    try:
        yield
    finally:
        connection.execute(select(func.pg_advisory_unlock(key)))
        connection.commit()


@dataclass
class JobStats:
    """Counters a job fills in; stored as the run's ``stats``."""

    counts: dict[str, int] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    run_id: UUID | None = None  # the job_runs row, for work that hands the run on (collect_usage's workers)

    def add(self, name: str, amount: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + amount

    def fail(self, subject: str, error: str) -> None:
        self.failures.append({"subject": subject, "error": error[:500]})

    def as_json(self) -> dict[str, Any]:
        return {"counts": self.counts, "failures": self.failures, **self.details}


@dataclass
class JobRunResult:
    run_id: UUID
    job: str
    status: str
    stats: dict[str, Any]


def run_job(
    job: str,
    trigger: str,
    work: Callable[[JobStats], None],
    *,
    now: Callable[[], datetime] = lambda: clock.now(),  # noqa: PLW0108 - looked up per call: tests move the clock
    params: dict[str, Any] | None = None,
    run_id: UUID | None = None,
) -> JobRunResult:
    """Run ``work`` under the job's lock, recording the run in job_runs.

    ``work`` opens its own transactions (bounded batches); the status is ``succeeded``,
    ``partial`` (some subjects failed) or ``failed`` (it raised).

    ``run_id`` names a ``running`` row made up front by whoever started the run (the job
    administration API answers with it before the job starts); the run fills in that row. If the
    lock is taken, that row is closed as ``failed`` and Conflict is raised as usual. Under the lock,
    earlier runs that died are closed first (``close_abandoned_runs``).
    """
    from primecloud.db import get_engine, system_scope_throughout

    engine = get_engine()
    try:
        # A job works across tenants: every transaction of the run is in the system scope (logged once).
        with (
            system_scope_throughout(f"job {job}"),
            engine.connect() as lock_connection,
            advisory_lock(lock_connection, job),
        ):
            return _run_locked(engine, job, trigger, work, now=now, params=params, run_id=run_id)
    except Conflict as exc:
        if run_id is not None:
            close_unstarted_run(engine, run_id, f"Not started: {exc.detail}", now=now())
        raise


def close_abandoned_runs(connection: Connection | Session, job: str, *, now: datetime) -> list[UUID]:
    """Close the job's dead runs as failed; call it only while holding the job's lock.

    A ``running`` row is dead when no process holds the job's lock (the caller does) and it is older
    than its function's timeout (Lambda has stopped it). A younger one may still be a run created
    up front whose function has not started it yet: it is left alone. The one rule for every start
    (scheduled, fired, or by staff).
    """
    from primecloud.models.system import JobRun

    closed = list(
        connection.execute(
            update(JobRun)
            .where(JobRun.job == job, JobRun.status == "running", JobRun.finished_at.is_(None))
            .where(JobRun.started_at <= now - JOB_TIMEOUTS[job])
            .values(status="failed", finished_at=now, error=ABANDONED)
            .returning(JobRun.id)
            .execution_options(synchronize_session=False)
        ).scalars()
    )
    if closed:
        logger.warning("abandoned job runs closed", extra={"job": job, "run_ids": [str(run) for run in closed]})
    return closed


def close_unstarted_run(engine: Engine, run_id: UUID, error: str, *, now: datetime) -> None:
    """Mark a run that was created up front but never started as failed (no-op once it ran)."""
    from primecloud.models.system import JobRun

    with engine.begin() as connection:
        connection.execute(
            update(JobRun)
            .where(JobRun.id == run_id, JobRun.status == "running", JobRun.finished_at.is_(None))
            .values(status="failed", finished_at=now, error=error[:2000])
        )


def _run_locked(
    engine: Engine,
    job: str,
    trigger: str,
    work: Callable[[JobStats], None],
    *,
    now: Callable[[], datetime],
    params: dict[str, Any] | None,
    run_id: UUID | None,
) -> JobRunResult:
    from primecloud.models.system import JobRun

    with engine.begin() as connection:
        close_abandoned_runs(connection, job, now=now())
        if run_id is None:
            run_id = connection.execute(
                insert(JobRun)
                .values(
                    job=job,
                    trigger=trigger,
                    status="running",
                    started_at=now(),
                    stats={"params": params or {}},
                )
                .returning(JobRun.id)
            ).scalar_one()
        elif (
            connection.execute(
                update(JobRun)
                .where(JobRun.id == run_id, JobRun.job == job, JobRun.status == "running")
                .where(JobRun.finished_at.is_(None))
                .values(stats={"params": params or {}})
                .returning(JobRun.id)
            ).scalar_one_or_none()
            is None
        ):
            raise Conflict(f"Run {run_id} of {job} is not waiting to start.")
    stats = JobStats(details={"params": params or {}}, run_id=run_id)
    error: str | None = None
    try:
        work(stats)
        status = "partial" if stats.failures else "succeeded"
    except Exception as exc:
        logger.exception("job failed", extra={"job": job})
        status, error = "failed", f"{type(exc).__name__}: {exc}"[:2000]
    # Queue workers of this run (collect_usage) may already have added their own stats keys
    # and marked the run partial: merge the stats, and never turn "partial" into "succeeded".
    final_status = case((JobRun.status == "partial", "partial"), else_=status) if status == "succeeded" else status
    final_stats = JobRun.stats.op("||", return_type=JSONB)(bindparam("final_stats", stats.as_json(), JSONB))
    with engine.begin() as connection:
        connection.execute(
            update(JobRun)
            .where(JobRun.id == run_id)
            .values(status=final_status, finished_at=now(), stats=final_stats, error=error)
        )
    logger.info("job finished", extra={"job": job, "status": status, "counts": stats.counts})
    return JobRunResult(run_id=run_id, job=job, status=status, stats=stats.as_json())


def batched(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def scheduled_job_handler(
    job: str, work_for: Callable[[dict[str, Any]], Callable[[JobStats], None]]
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The Lambda entry point of a scheduled job.

    An EventBridge scheduled event runs it with trigger ``schedule``; a direct invoke
    (``{"trigger": "manual", "params": {...}}``) runs it by hand. A run that finds the job
    already running is skipped (logged, not retried). Each result is counted: the ``JobRuns`` metric
    by job and status (``succeeded``, ``partial``, ``failed``, ``skipped``).
    """

    @logger.inject_lambda_context(clear_state=True)
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        scheduled = event.get("detail-type") == "Scheduled Event" or event.get("source") == "aws.scheduler"
        trigger = "schedule" if scheduled else str(event.get("trigger", "manual"))
        params = dict(event.get("params") or event.get("detail") or {})
        run_id = UUID(str(event["run_id"])) if event.get("run_id") else None
        try:
            result = run_job(job, trigger, work_for(params), params=params, run_id=run_id)
        except Conflict as exc:
            logger.warning("job skipped", extra={"job": job, "reason": exc.detail})
            publish_count("JobRuns", job=job, status="skipped")
            return {"job": job, "status": "skipped", "reason": exc.detail}
        except Exception:  # the run could not even be recorded (the database is down, ...)
            publish_count("JobRuns", job=job, status="failed")
            raise
        publish_count("JobRuns", job=job, status=result.status)
        return {"job": job, "run_id": str(result.run_id), "status": result.status, "stats": result.stats}

    return lambda_handler
