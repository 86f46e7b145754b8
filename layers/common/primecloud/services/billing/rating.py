"""Rating: a quantity in priced units and a price version -> the charge, with its breakdown.

Pure Decimal arithmetic, no I/O. The included (free) quantity is taken off first; graduated
tiers then price the rest, each tier's ``up_to`` counting billable units (after the included
quantity); units above a last tier with a finite ``up_to`` are charged at the version's
``unit_price``; without tiers every billable unit is. The line amount is rounded half-up once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

from primecloud.money import as_decimal, round_money

QUANTITY_EXPONENT = Decimal("0.000001")  # usage_records / invoice_lines quantity scale (NUMERIC(24, 6))
UNIT_PRICE_EXPONENT = Decimal("0.00000001")  # invoice_lines.unit_price scale (NUMERIC(18, 8))
ZERO = Decimal(0)


def quantize_quantity(value: Decimal) -> Decimal:
    return as_decimal(value).quantize(QUANTITY_EXPONENT, rounding=ROUND_HALF_UP)


def plain(value: Decimal) -> str:
    """A Decimal as people write it: 10.500000 -> "10.5", 1E+3 -> "1000"."""
    return format(as_decimal(value).normalize(), "f")


@dataclass(frozen=True)
class Tier:
    up_to: Decimal | None  # billable units (after the included quantity) this tier reaches; None = no end
    unit_price: Decimal


@dataclass(frozen=True)
class Price:
    """One price version of a metric, as rating needs it."""

    metric: str
    unit: str
    unit_size: Decimal
    unit_price: Decimal
    currency: str
    included_quantity: Decimal
    tiers: tuple[Tier, ...]
    effective_from: datetime
    id: UUID | None = None

    @classmethod
    def from_row(cls, row: Any) -> Price:
        """From a PricingConfig (tiers stored as JSON with decimal strings)."""
        return cls(
            metric=row.metric,
            unit=row.unit,
            unit_size=as_decimal(row.unit_size),
            unit_price=as_decimal(row.unit_price),
            currency=row.currency,
            included_quantity=as_decimal(row.included_quantity),
            tiers=tiers_from_json(row.tiers),
            effective_from=row.effective_from,
            id=row.id,
        )


def tiers_from_json(raw: list[dict[str, Any]] | None) -> tuple[Tier, ...]:
    return tuple(
        Tier(
            up_to=None if tier.get("up_to") is None else as_decimal(str(tier["up_to"])),
            unit_price=as_decimal(str(tier["unit_price"])),
        )
        for tier in raw or []
    )


@dataclass(frozen=True)
class TierCharge:
    units: Decimal
    unit_price: Decimal
    amount: Decimal  # unrounded: only the line total is rounded


@dataclass(frozen=True)
class Rated:
    units: Decimal  # the whole quantity in priced units
    included: Decimal  # the part of it that was free
    billable: Decimal
    charges: tuple[TierCharge, ...]
    amount: Decimal  # rounded half-up to the currency's minor unit

    @property
    def average_unit_price(self) -> Decimal:
        """What one unit cost on average (the line's unit price): amount / units, 8 places."""
        if self.units == ZERO:
            return ZERO
        return (self.amount / self.units).quantize(UNIT_PRICE_EXPONENT, rounding=ROUND_HALF_UP)

    def breakdown(self, unit: str) -> str:
        """'100 GiB included; 924 x 0.09 + 76 x 0.07' for the line description."""
        parts = []
        if self.included > ZERO:
            parts.append(f"{plain(self.included)} {unit} included")
        if self.charges:
            parts.append(" + ".join(f"{plain(c.units)} x {plain(c.unit_price)}" for c in self.charges))
        elif self.billable == ZERO:
            parts.append("nothing billable")
        return "; ".join(parts)


def to_units(quantity: Decimal, unit_size: Decimal) -> Decimal:
    """A metric quantity (bytes, requests) in priced units (GiB, 1,000 requests), 6 places."""
    return quantize_quantity(as_decimal(quantity) / as_decimal(unit_size))


def rate(units: Decimal, price: Price) -> Rated:
    """The charge for ``units`` priced units under ``price`` (included first, then graduated tiers)."""
    units = as_decimal(units)
    if units < ZERO:
        raise ValueError("a usage quantity is never negative")
    included = min(units, as_decimal(price.included_quantity))
    billable = units - included
    charges: list[TierCharge] = []
    remaining = billable
    floor = ZERO
    for tier in price.tiers:
        if remaining <= ZERO:
            break
        width = remaining if tier.up_to is None else min(remaining, as_decimal(tier.up_to) - floor)
        if width > ZERO:
            charges.append(TierCharge(width, as_decimal(tier.unit_price), width * as_decimal(tier.unit_price)))
            remaining -= width
        if tier.up_to is None:
            break
        floor = as_decimal(tier.up_to)
    if remaining > ZERO:
        charges.append(TierCharge(remaining, as_decimal(price.unit_price), remaining * as_decimal(price.unit_price)))
    amount = round_money(sum((charge.amount for charge in charges), ZERO), price.currency)
    return Rated(units=units, included=included, billable=billable, charges=tuple(charges), amount=amount)
