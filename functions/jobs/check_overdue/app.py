"""Scheduled job check_overdue (daily): overdue invoices, payment reminders, suspension after the grace period."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from primecloud.jobs import JobStats, scheduled_job_handler


def work_for(params: dict[str, Any]) -> Callable[[JobStats], None]:
    def work(stats: JobStats) -> None:
        from primecloud import clock
        from primecloud.adapters import registry
        from primecloud.adapters.email import default_mailer
        from primecloud.config import get_settings
        from primecloud.db import unit_of_work
        from primecloud.services.billing import dunning

        dunning.check_overdue(
            stats,
            sessions=unit_of_work,
            now=clock.now(),
            settings=get_settings(),
            mailer=default_mailer(),
            credentials=registry.tenant_credentials,
            sftpgo=registry.sftpgo,
        )

    return work


lambda_handler = scheduled_job_handler("check_overdue", work_for)
