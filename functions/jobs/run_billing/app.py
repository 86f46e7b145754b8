"""Scheduled job run_billing (monthly, 1st 02:00 UTC): usage invoices for the previous month.

On demand: ``{"trigger": "manual", "params": {"period": "2026-10"}}``. Usage is aggregated for
all accounts in one statement; each account is then invoiced in its own transaction, so one
failing account never stops the others. Re-running a period changes nothing.
"""

from __future__ import annotations

from typing import Any

from primecloud.jobs import JobStats, scheduled_job_handler


def work_for(params: dict[str, Any]):  # type: ignore[no-untyped-def]
    def work(stats: JobStats) -> None:
        from primecloud import clock
        from primecloud.adapters.documents import default_documents
        from primecloud.adapters.email import default_mailer
        from primecloud.config import get_settings
        from primecloud.db import unit_of_work
        from primecloud.services.billing import monthly_run, periods

        now = clock.now()
        period = params.get("period")
        if period:
            period_start, period_end = periods.month_period(str(period))
        else:
            period_start, period_end = periods.previous_month(now)
        stats.details["period"] = f"{period_start:%Y-%m}"
        monthly_run.run_billing(
            stats,
            period_start,
            period_end,
            now=now,
            sessions=unit_of_work,
            storage=default_documents(),
            mailer=default_mailer(),
            settings=get_settings(),
        )

    return work


lambda_handler = scheduled_job_handler("run_billing", work_for)
