"""Job runs: recorded in job_runs, locked against overlap, failures reported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.errors import Conflict
from primecloud.jobs import ABANDONED, JOB_TIMEOUTS, JobStats, advisory_lock, run_job
from primecloud.models.system import JobRun


def _runs(engine: sa.Engine) -> list[sa.Row[tuple[str, str, str, dict[str, object], str | None]]]:
    with engine.connect() as connection:
        return list(
            connection.execute(sa.text("SELECT job, trigger, status, stats, error FROM job_runs ORDER BY started_at"))
        )


def test_a_run_is_recorded_with_its_counts(db: sa.Engine) -> None:
    def work(stats: JobStats) -> None:
        stats.add("accounts", 3)

    result = run_job("check_overdue", "manual", work, params={"dry_run": True})
    assert result.status == "succeeded"
    [run] = _runs(db)
    assert (run.job, run.trigger, run.status, run.error) == ("check_overdue", "manual", "succeeded", None)
    assert run.stats["counts"] == {"accounts": 3} and run.stats["params"] == {"dry_run": True}


def test_failures_make_a_partial_run_and_exceptions_a_failed_one(db: sa.Engine) -> None:
    def partial(stats: JobStats) -> None:
        stats.add("accounts", 2)
        stats.fail("account-1", "backend timed out")

    def broken(stats: JobStats) -> None:
        raise RuntimeError("boom")

    assert run_job("collect_usage", "schedule", partial).status == "partial"
    assert run_job("collect_usage", "schedule", broken).status == "failed"
    partial_run, failed_run = _runs(db)
    assert partial_run.stats["failures"] == [{"subject": "account-1", "error": "backend timed out"}]
    assert failed_run.status == "failed" and failed_run.error == "RuntimeError: boom"


def test_a_second_run_of_the_same_job_conflicts_while_the_first_holds_the_lock(db: sa.Engine) -> None:
    # another container's run holds purge_retention's lock on its own connection
    with db.connect() as other_container, advisory_lock(other_container, "purge_retention"):
        with pytest.raises(Conflict, match="already running"):
            run_job("purge_retention", "manual", lambda stats: None)
        # another job is not blocked
        assert run_job("check_overdue", "manual", lambda stats: None).status == "succeeded"
    # once released, the job runs again; the refused start left no job_runs row
    assert run_job("purge_retention", "manual", lambda stats: None).status == "succeeded"
    assert [run.status for run in _runs(db) if run.job == "purge_retention"] == ["succeeded"]


def test_the_next_run_closes_runs_that_died_and_spares_younger_ones(db: sa.Engine) -> None:
    # given a collect_usage run killed at its timeout, one younger than the timeout (perhaps a run
    # created up front whose function has not started yet), and a dead run of another job
    now = datetime.now(UTC)
    timeout = JOB_TIMEOUTS["collect_usage"]
    with Session(db) as session, session.begin():
        killed = JobRun(
            job="collect_usage", trigger="schedule", status="running", started_at=now - timeout - timedelta(seconds=5)
        )
        young = JobRun(
            job="collect_usage", trigger="manual", status="running", started_at=now - timeout + timedelta(seconds=60)
        )
        other = JobRun(job="run_billing", trigger="schedule", status="running", started_at=now - timedelta(days=1))
        session.add_all([killed, young, other])
        session.flush()
        ids = {"killed": killed.id, "young": young.id, "other": other.id}
    # when the job's next (scheduled) run starts
    assert run_job("collect_usage", "schedule", lambda stats: None).status == "succeeded"
    # then the killed run is failed as abandoned, the others are left alone
    with Session(db) as session:
        runs = {name: session.get_one(JobRun, run_id) for name, run_id in ids.items()}
    assert (runs["killed"].status, runs["killed"].error) == ("failed", ABANDONED)
    assert runs["killed"].finished_at is not None
    assert runs["young"].status == "running" and runs["young"].finished_at is None
    assert runs["other"].status == "running"
