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
        from primecloud.services.billing import monthly_run, periods

        now = clock.now()
        period = params.get("period")
        if period:
            period_start, period_end = periods.month_period(str(period))
        else:
            period_start, period_end = periods.previous_month(now)
        stats.details["period"] = f"{period_start:%Y-%m}"
        result = monthly_run.run_billing(period_start, period_end, now=now)
        for name, count in result.counts.items():
            stats.add(name, count)
        for subject, error in result.failures:
            stats.fail(subject, error)
        stats.details["total_amount"] = result.total_amounts
        if result.unpriced:
            stats.details["unpriced_metrics"] = result.unpriced

    return work


lambda_handler = scheduled_job_handler("run_billing", work_for)
