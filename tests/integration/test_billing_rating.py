"""Rating (no database): included quantity first, then graduated tiers, one half-up rounding per line."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from primecloud.services.billing.rating import Price, Tier, rate, to_units

D = Decimal


def price(unit_price: str, *, included: str = "0", tiers: tuple[tuple[str | None, str], ...] = ()) -> Price:
    return Price(
        metric="egress_bytes",
        unit="GiB",
        unit_size=D(2**30),
        unit_price=D(unit_price),
        currency="EUR",
        included_quantity=D(included),
        tiers=tuple(Tier(None if up_to is None else D(up_to), D(tier_price)) for up_to, tier_price in tiers),
        effective_from=datetime(2026, 1, 1, tzinfo=UTC),
    )


EGRESS = price("0.07", included="100", tiers=(("1000", "0.09"), (None, "0.07")))


@pytest.mark.parametrize(
    ("units", "charges", "amount"),
    [
        ("0", [], "0.00"),
        ("99.5", [], "0.00"),  # all included
        ("100", [], "0.00"),
        ("100.000001", [("0.000001", "0.09")], "0.00"),
        ("1100", [("1000", "0.09")], "90.00"),  # exactly at the tier boundary
        ("1116", [("1000", "0.09"), ("16", "0.07")], "91.12"),
        ("1100.05", [("1000", "0.09"), ("0.05", "0.07")], "90.00"),  # 90.0035 -> 90.00
        ("1100.08", [("1000", "0.09"), ("0.08", "0.07")], "90.01"),  # 90.0056 -> 90.01
    ],
)
def test_included_then_graduated_tiers(units: str, charges: list[tuple[str, str]], amount: str) -> None:
    rated = rate(D(units), EGRESS)
    assert [(c.units, c.unit_price) for c in rated.charges] == [(D(u), D(p)) for u, p in charges]
    assert rated.amount == D(amount)
    assert rated.included == min(D(units), D(100)) and rated.billable == D(units) - rated.included


def test_above_a_finite_last_tier_the_unit_price_applies() -> None:
    capped = price("0.05", tiers=(("10", "0.20"), ("20", "0.10")))
    rated = rate(D(25), capped)
    assert [(c.units, c.unit_price) for c in rated.charges] == [
        (D(10), D("0.20")),
        (D(10), D("0.10")),
        (D(5), D("0.05")),
    ]
    assert rated.amount == D("3.25")
    assert rated.breakdown("GiB") == "10 x 0.2 + 10 x 0.1 + 5 x 0.05"


def test_flat_price_rounds_half_up_once_per_line() -> None:
    assert rate(D("0.125"), price("1")).amount == D("0.13")
    assert rate(D("2.5"), price("0.09")).amount == D("0.23")  # 0.225
    assert rate(D("994.728"), price("0.004")).amount == D("3.98")  # 3.978912


def test_units_are_quantized_to_the_stored_scale() -> None:
    assert to_units(D(3 * 2**29), D(2**30)) == D("1.5")
    assert to_units(D(1), D(3)) == D("0.333333")
    assert to_units(D(2), D(3)) == D("0.666667")  # half-up


def test_a_negative_quantity_is_a_bug() -> None:
    with pytest.raises(ValueError, match="never negative"):
        rate(D(-1), EGRESS)
