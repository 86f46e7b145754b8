"""Scheduled job purge_retention (daily): delete or anonymize what is past its retention.

``{"params": {"dry_run": true}}`` counts what would go and deletes nothing. The rules are in
``primecloud.services.retention``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from primecloud.jobs import JobStats, scheduled_job_handler


def work_for(params: dict[str, Any]) -> Callable[[JobStats], None]:
    from primecloud.schemas.jobs import PurgeRetentionParams

    options = PurgeRetentionParams.model_validate(params)

    def work(stats: JobStats) -> None:
        from primecloud import clock
        from primecloud.adapters import registry
        from primecloud.config import get_settings
        from primecloud.db import unit_of_work
        from primecloud.services.retention import purge

        backends = purge.Backends(
            storage=registry.storage, credentials=registry.tenant_credentials, sftpgo=registry.sftpgo
        )
        purge.run(unit_of_work, backends, stats, now=clock.now(), settings=get_settings(), dry_run=options.dry_run)

    return work


lambda_handler = scheduled_job_handler("purge_retention", work_for)
