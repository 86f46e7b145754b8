"""Scheduled job check_overdue: bookkeeping and locking are live; its work lands with the Dunning/retention issue."""

from __future__ import annotations

from typing import Any

from primecloud.jobs import JobStats, scheduled_job_handler


def work_for(params: dict[str, Any]):  # type: ignore[no-untyped-def]
    def work(stats: JobStats) -> None:
        stats.details["pending"] = (
            "check_overdue logic lands with the Dunning, notifications, audit log and retention issue"
        )

    return work


lambda_handler = scheduled_job_handler("check_overdue", work_for)
