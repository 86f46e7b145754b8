"""Scheduled job collect_usage (hourly): fan out active accounts to the usage queue in batches."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from primecloud.jobs import JobStats, batched, scheduled_job_handler

ACCOUNTS_PER_MESSAGE = 25


def work_for(params: dict[str, Any]):  # type: ignore[no-untyped-def]
    def work(stats: JobStats) -> None:
        from sqlalchemy import select

        from primecloud.adapters.queue import Queue
        from primecloud.config import get_settings
        from primecloud.db import unit_of_work
        from primecloud.models.iam import Account

        settings = get_settings()
        if not settings.usage_queue_url:
            raise RuntimeError("USAGE_QUEUE_URL is not set")
        period_start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        with unit_of_work() as session:
            account_ids = [
                str(account_id)
                for account_id in session.scalars(
                    select(Account.id)
                    .where(Account.status == "active", Account.deleted_at.is_(None))
                    .order_by(Account.id)
                )
            ]
        messages = [
            {"account_ids": list(chunk), "period_start": period_start.isoformat()}
            for chunk in batched(account_ids, ACCOUNTS_PER_MESSAGE)
        ]
        stats.add("accounts", len(account_ids))
        stats.add("messages", Queue(settings.usage_queue_url).send_all(messages))

    return work


lambda_handler = scheduled_job_handler("collect_usage", work_for)
