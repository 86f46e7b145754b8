"""Job administration: what starting a job takes (its params, per job) and what a run looks like."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import Field, StrictBool

from primecloud.enums import JobRunStatus, JobTrigger
from primecloud.schemas.common import Schema


class JobName(StrEnum):
    """The jobs (primecloud.jobs.JOBS)."""

    COLLECT_USAGE = "collect_usage"
    RUN_BILLING = "run_billing"
    CHECK_OVERDUE = "check_overdue"
    PURGE_RETENTION = "purge_retention"


class CollectUsageParams(Schema):
    """collect_usage takes no parameters: it always collects the current hour."""


class RunBillingParams(Schema):
    period: str | None = Field(
        None,
        pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
        description="The month to bill, YYYY-MM; default the previous month",
    )


class CheckOverdueParams(Schema):
    """check_overdue takes no parameters: it checks as of now."""


class PurgeRetentionParams(Schema):
    dry_run: StrictBool = Field(False, description="Count what would be purged, delete nothing")


# The parameters each job accepts; unknown fields are refused (422).
JOB_PARAMS: dict[str, type[Schema]] = {
    "collect_usage": CollectUsageParams,
    "run_billing": RunBillingParams,
    "check_overdue": CheckOverdueParams,
    "purge_retention": PurgeRetentionParams,
}


class JobRunStart(Schema):
    params: dict[str, Any] = Field(
        default_factory=dict,
        max_length=20,
        description=(
            'The job\'s parameters, e.g. {"period": "2026-10"} for run_billing, {"dry_run": true} for purge_retention'
        ),
    )


class JobRunOut(Schema):
    id: UUID
    job: str
    trigger: JobTrigger
    status: JobRunStatus
    started_at: datetime
    finished_at: datetime | None
    params: dict[str, Any] = Field(default_factory=dict)
    counts: dict[str, int] = Field(default_factory=dict)
    failures: list[dict[str, str]] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict, description="Other figures the job reported")
    error: str | None
