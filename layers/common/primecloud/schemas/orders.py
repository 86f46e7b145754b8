"""VPS plans, orders and subscriptions."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from primecloud.enums import OrderStatus, Product, SubscriptionStatus
from primecloud.schemas.common import DecimalString, Schema


class VpsPlanOut(Schema):
    """A server package that can be ordered; prices in ``currency``, before tax."""

    id: UUID
    name: str
    cpu_cores: int
    memory_mb: int
    disk_gb: int
    bandwidth_gb: int
    price_monthly: DecimalString
    price_hourly: DecimalString
    currency: str


class VpsPlanList(Schema):
    items: list[VpsPlanOut]


class OrderCreate(Schema):
    product: Literal["vps"] = Field(description="What is ordered; only VPS plans can be ordered so far")
    vps_config_id: UUID = Field(description="An active plan from GET /v1/vps-plans")


class OrderOut(Schema):
    id: UUID
    product: Product
    vps_config_id: UUID | None
    plan_name: str | None
    status: OrderStatus
    amount: DecimalString = Field(description="The first month's price before tax")
    currency: str
    invoice_id: UUID | None = Field(description="The order invoice; paying it starts the subscription")
    invoice_number: str | None
    created_at: datetime


class SubscriptionOut(Schema):
    id: UUID
    order_id: UUID | None
    product: Product
    status: SubscriptionStatus
    price: DecimalString = Field(description="Monthly price before tax, added to the usage invoice")
    currency: str
    current_period_start: datetime
    current_period_end: datetime
    cancel_at_period_end: bool
    created_at: datetime
