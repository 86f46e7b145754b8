"""Job runs: recorded in job_runs, locked against overlap, failures reported."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from primecloud.errors import Conflict
from primecloud.jobs import JobStats, advisory_lock, run_job


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
