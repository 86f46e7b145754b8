"""The usage report: metered quantities per period (GET /v1/accounts/{account_id}/usage)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from primecloud.schemas.common import DecimalString, Schema

Granularity = Literal["hour", "day", "month"]
Unit = Literal["bytes", "objects", "requests"]


class UsagePoint(Schema):
    """One metric over one period, summed over the account's buckets."""

    metric: str = Field(description="storage_bytes, object_count, egress_bytes, ingress_bytes, api_requests, ...")
    unit: Unit
    period_start: datetime = Field(description="Start of the period (UTC), clipped to the report's start")
    period_end: datetime = Field(description="End of the period (UTC), clipped to the report's end")
    aggregation: Literal["time_weighted_average", "sum"] = Field(
        description=(
            "time_weighted_average for stored amounts (storage_bytes, object_count, sftp_storage_bytes): "
            "each hourly sample holds until the next one, averaged over the period's elapsed time; "
            "sum for traffic and requests (egress_bytes, ingress_bytes, api_requests)"
        )
    )
    quantity: DecimalString = Field(
        description=("The time-weighted average over the period (hours before the first sample count as 0), or the sum")
    )
    last_value: DecimalString | None = Field(
        description="Stored amounts: the value at the end of the period (now, for the current one); null for sums"
    )
    samples: int = Field(description="How many hourly records fell in the period")


class UsageReport(Schema):
    account_id: UUID
    start: datetime = Field(description="The report's start (the `from` parameter, UTC)")
    end: datetime = Field(description="The report's end, exclusive (the `to` parameter, UTC)")
    granularity: Granularity
    metrics: list[str] = Field(description="The metrics asked for")
    items: list[UsagePoint] = Field(description="Ordered by period, then metric; periods without records are left out")
