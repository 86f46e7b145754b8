"""The upcoming invoice: this month so far and projected to its end, computed like the real one."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field

from primecloud.schemas.common import DecimalString


class DraftLineOut(BaseModel):
    description: str
    metric: str | None = Field(description="null for a subscription")
    quantity: DecimalString
    unit_price: DecimalString
    amount: DecimalString


class DraftOut(BaseModel):
    lines: list[DraftLineOut]
    subtotal: DecimalString
    tax: DecimalString
    total: DecimalString


class UpcomingInvoiceOut(BaseModel):
    account_id: UUID
    currency: str
    tax_rate: DecimalString
    period_start: datetime
    period_end: datetime
    as_of: datetime
    so_far: DraftOut = Field(description="What the month's usage so far costs (nothing is written)")
    projection: DraftOut = Field(
        description="At the month end: storage keeps its last sample, traffic and requests grow at the rate so far"
    )
    unpriced_metrics: list[str] = Field(description="Metered but without a price in force: not billed")
