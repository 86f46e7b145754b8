"""Job-run bookkeeping, advisory locks and fan-out helpers for the scheduled jobs.

Every run is a ``job_runs`` row (status, counts, error). A Postgres advisory lock, held on
a dedicated connection for the whole run, keeps two runs of the same job from overlapping.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import Connection, insert, text, update

from primecloud.errors import Conflict
from primecloud.observability import logger

T = TypeVar("T")

JOBS = ("collect_usage", "run_billing", "check_overdue", "purge_retention")


def lock_key(job: str) -> int:
    """A stable signed 64-bit advisory-lock key per job name."""
    return zlib.crc32(f"primecloud:job:{job}".encode()) - 2**31


@contextmanager
def advisory_lock(connection: Connection, job: str) -> Iterator[None]:
    """Hold the job's lock on ``connection`` or raise Conflict when another run holds it."""
    acquired = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": lock_key(job)}).scalar()
    connection.commit()
    if not acquired:
        raise Conflict(f"The {job} job is already running.")
    try:
        yield
    finally:
        connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": lock_key(job)})
        connection.commit()


@dataclass
class JobStats:
    """Counters a job fills in; stored as the run's ``stats``."""

    counts: dict[str, int] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

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
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    params: dict[str, Any] | None = None,
) -> JobRunResult:
    """Run ``work`` under the job's lock, recording the run in job_runs.

    ``work`` opens its own transactions (bounded batches); the status is ``succeeded``,
    ``partial`` (some subjects failed) or ``failed`` (it raised).
    """
    from primecloud.db import get_engine
    from primecloud.models.system import JobRun

    engine = get_engine()
    with engine.connect() as lock_connection, advisory_lock(lock_connection, job):
        with engine.begin() as connection:
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
        stats = JobStats(details={"params": params or {}})
        error: str | None = None
        try:
            work(stats)
            status = "partial" if stats.failures else "succeeded"
        except Exception as exc:
            logger.exception("job failed", extra={"job": job})
            status, error = "failed", f"{type(exc).__name__}: {exc}"[:2000]
        with engine.begin() as connection:
            connection.execute(
                update(JobRun)
                .where(JobRun.id == run_id)
                .values(status=status, finished_at=now(), stats=stats.as_json(), error=error)
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
    already running is skipped (logged, not retried).
    """

    @logger.inject_lambda_context(clear_state=True)
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        scheduled = event.get("detail-type") == "Scheduled Event" or event.get("source") == "aws.scheduler"
        trigger = "schedule" if scheduled else str(event.get("trigger", "manual"))
        params = dict(event.get("params") or event.get("detail") or {})
        try:
            result = run_job(job, trigger, work_for(params), params=params)
        except Conflict as exc:
            logger.warning("job skipped", extra={"job": job, "reason": exc.detail})
            return {"job": job, "status": "skipped", "reason": exc.detail}
        return {"job": job, "run_id": str(result.run_id), "status": result.status, "stats": result.stats}

    return lambda_handler
