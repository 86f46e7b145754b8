"""Price versions: the admin's new version, the public price list, the change history."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, BeforeValidator, Field, field_validator

from primecloud.schemas.common import DecimalString, Schema


def _exact_decimal(value: Any) -> Any:
    """Money and quantities arrive as decimal strings; a JSON float is refused, never rounded."""
    if isinstance(value, float):
        raise ValueError('must be a decimal string such as "0.023", not a JSON number')
    if isinstance(value, bool):
        raise ValueError("must be a decimal string")
    return value


UnitPrice = Annotated[
    Decimal, BeforeValidator(_exact_decimal), Field(ge=0, max_digits=18, decimal_places=8, allow_inf_nan=False)
]
Quantity = Annotated[
    Decimal, BeforeValidator(_exact_decimal), Field(ge=0, max_digits=24, decimal_places=6, allow_inf_nan=False)
]
PositiveQuantity = Annotated[
    Decimal, BeforeValidator(_exact_decimal), Field(gt=0, max_digits=24, decimal_places=6, allow_inf_nan=False)
]


class TierIn(Schema):
    up_to: PositiveQuantity | None = Field(
        None, description="Billable units (after the included quantity) this tier reaches; null = no upper end"
    )
    unit_price: UnitPrice


class PriceVersionIn(Schema):
    """A new price version of a metric. Versions are appended, never edited."""

    unit_price: UnitPrice = Field(
        description="Per priced unit; with tiers, the price of units above the last tier's up_to"
    )
    unit: str | None = Field(None, min_length=1, max_length=32, description="Shown to people, e.g. GiB-month")
    unit_size: PositiveQuantity | None = Field(
        None, description="Metric quantity per priced unit (bytes per GiB: 1073741824; requests: 1000)"
    )
    currency: str = Field("EUR", pattern=r"^[A-Z]{3}$")
    included_quantity: Quantity = Field(Decimal(0), description="Free priced units per month")
    tiers: list[TierIn] = Field(default_factory=list, max_length=20, description="Graduated, ascending up_to")
    effective_from: AwareDatetime | None = Field(
        None, description="When the version takes over (default now); never before the latest version"
    )

    @field_validator("tiers")
    @classmethod
    def _graduated(cls, tiers: list[TierIn]) -> list[TierIn]:
        previous = Decimal(0)
        for index, tier in enumerate(tiers):
            if tier.up_to is None:
                if index != len(tiers) - 1:
                    raise ValueError("only the last tier may have no up_to")
                continue
            if tier.up_to <= previous:
                raise ValueError("up_to must be ascending")
            previous = tier.up_to
        return tiers


class TierOut(BaseModel):
    up_to: DecimalString | None
    unit_price: DecimalString


class PriceVersionOut(BaseModel):
    id: UUID
    metric: str
    unit: str
    unit_size: DecimalString
    unit_price: DecimalString
    currency: str
    included_quantity: DecimalString
    tiers: list[TierOut]
    effective_from: datetime


class MetricPriceOut(PriceVersionOut):
    """The version in force now, and any versions already scheduled after it."""

    upcoming: list[PriceVersionOut] = Field(default_factory=list)


class PriceList(BaseModel):
    items: list[MetricPriceOut]
    unpriced_metrics: list[str] = Field(
        default_factory=list, description="Metered but without a price in force: not billed"
    )


class PricingHistoryOut(BaseModel):
    id: UUID
    pricing_config_id: UUID | None
    metric: str
    action: str
    old_value: dict[str, Any] | None
    new_value: dict[str, Any] | None
    changed_by: UUID | None
    changed_at: datetime
