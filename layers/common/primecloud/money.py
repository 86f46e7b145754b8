"""Money arithmetic: Decimal only, rounded half-up to the currency's minor unit.

Line amounts are rounded one by one; tax is computed on the (rounded) subtotal and rounded
once; the total is subtotal + tax. Floats are refused outright so none can sneak in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

# ISO 4217 minor units that differ from 2; everything else has cents.
_MINOR_UNITS = {"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0, "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3}


def minor_units(currency: str) -> int:
    return _MINOR_UNITS.get(currency.upper(), 2)


def as_decimal(value: Decimal | int | str) -> Decimal:
    """A Decimal from an exact value; a float is a bug in a money path and raises TypeError."""
    if isinstance(value, float):
        raise TypeError("money and quantities are never float")
    return value if isinstance(value, Decimal) else Decimal(value)


def round_money(amount: Decimal | int | str, currency: str) -> Decimal:
    """Half-up to the currency's minor unit: 0.125 EUR -> 0.13, -0.125 -> -0.13."""
    exponent = Decimal(1).scaleb(-minor_units(currency))
    return as_decimal(amount).quantize(exponent, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Totals:
    subtotal: Decimal
    tax: Decimal
    total: Decimal


def invoice_totals(line_amounts: Iterable[Decimal], tax_rate: Decimal, currency: str) -> Totals:
    """Subtotal of already-rounded line amounts, tax on it rounded once, total = subtotal + tax."""
    subtotal = round_money(sum((as_decimal(amount) for amount in line_amounts), Decimal(0)), currency)
    tax = round_money(subtotal * as_decimal(tax_rate), currency)
    return Totals(subtotal=subtotal, tax=tax, total=subtotal + tax)
