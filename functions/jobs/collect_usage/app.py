"""Scheduled job collect_usage (hourly): fan out the metered accounts to the usage queue in batches.

Each message names the run (its job_runs row), so the workers add their counts and failures to
it. Suspended accounts are metered too: they still store data and are still billed for it.
"""

from __future__ import annotations

from typing import Any

from primecloud.jobs import JobStats, batched, scheduled_job_handler

ACCOUNTS_PER_MESSAGE = 25


def work_for(params: dict[str, Any]):  # type: ignore[no-untyped-def]
    def work(stats: JobStats) -> None:
        from primecloud import clock
        from primecloud.adapters.queue import Queue
        from primecloud.config import get_settings
        from primecloud.db import unit_of_work
        from primecloud.services.metering import hour_of, metered_account_ids

        settings = get_settings()
        if not settings.usage_queue_url:
            raise RuntimeError("USAGE_QUEUE_URL is not set")
        period_start = hour_of(clock.now())
        with unit_of_work() as session:
            account_ids = [str(account_id) for account_id in metered_account_ids(session)]
        run_id = str(stats.run_id) if stats.run_id else None
        messages = [
            {"account_ids": list(chunk), "period_start": period_start.isoformat(), "run_id": run_id}
            for chunk in batched(account_ids, ACCOUNTS_PER_MESSAGE)
        ]
        stats.details["period_start"] = period_start.isoformat()
        stats.add("accounts", len(account_ids))
        stats.add("messages", Queue(settings.usage_queue_url).send_all(messages))

    return work


lambda_handler = scheduled_job_handler("collect_usage", work_for)
