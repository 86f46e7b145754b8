"""Subscriptions on the usage invoice: every day charged once (the order pays the first month),
prorated months, and cancellation at the end of the current period.

Months used below: September 2026 has 30 days, October 31, November 30.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.adapters.email import Email
from primecloud.models.billing import Invoice, Order, Subscription
from primecloud.money import round_money
from primecloud.services.billing.subscription_terms import cancellation_end, charged_part
from tests.factories import make_account, make_user
from tests.invoicing_factories import run_billing

SEP, OCT, NOV, DEC = (datetime(2026, month, 1, tzinfo=UTC) for month in (9, 10, 11, 12))


class _Mailer:
    def __init__(self) -> None:
        self.sent: list[Email] = []
        self.lock = threading.Lock()

    def send(self, email: Email) -> None:
        with self.lock:
            self.sent.append(email)


def _subscription(*, ordered: bool, start: datetime, price: str = "31.00") -> Subscription:
    from primecloud.services.billing.subscription_terms import add_month

    return Subscription(
        account_id=None,
        order_id=object() if ordered else None,  # only its presence matters to the terms
        product="vps",
        status="active",
        price=Decimal(price),
        currency="EUR",
        current_period_start=start,
        current_period_end=add_month(start),
        cancel_at_period_end=False,
    )


def test_an_ordered_subscription_is_charged_after_its_prepaid_first_month() -> None:
    subscription = _subscription(ordered=True, start=datetime(2026, 9, 5, tzinfo=UTC))
    assert charged_part(subscription, SEP, OCT) is None  # September: all within the prepaid month
    october = charged_part(subscription, OCT, NOV)
    assert october is not None
    assert (october.start, october.end) == (datetime(2026, 10, 5, tzinfo=UTC), NOV)
    assert october.fraction == Decimal(27) / Decimal(31) and october.days == Decimal("27.00")
    november = charged_part(subscription, NOV, DEC)
    assert november is not None and november.whole


def test_one_without_an_order_is_charged_from_its_start() -> None:
    subscription = _subscription(ordered=False, start=datetime(2026, 10, 10, 12, tzinfo=UTC))
    part = charged_part(subscription, OCT, NOV)
    assert part is not None and part.days == Decimal("21.50")
    assert part.fraction == Decimal("21.5") / Decimal(31)


def test_cancelling_within_the_prepaid_month_ends_it_there() -> None:
    subscription = _subscription(ordered=True, start=datetime(2026, 9, 5, tzinfo=UTC))
    end = cancellation_end(subscription, datetime(2026, 9, 20, tzinfo=UTC))
    assert end == datetime(2026, 10, 5, tzinfo=UTC)
    subscription.cancel_at_period_end, subscription.current_period_end = True, end
    assert charged_part(subscription, OCT, NOV) is None  # nothing after the prepaid month


def test_cancelling_later_ends_it_with_the_calendar_month() -> None:
    subscription = _subscription(ordered=True, start=datetime(2026, 9, 5, tzinfo=UTC))
    end = cancellation_end(subscription, datetime(2026, 11, 17, 9, 30, tzinfo=UTC))
    assert end == DEC
    subscription.cancel_at_period_end, subscription.current_period_end = True, end
    november = charged_part(subscription, NOV, DEC)
    assert november is not None and november.whole  # November is used in full
    assert charged_part(subscription, DEC, datetime(2027, 1, 1, tzinfo=UTC)) is None


def test_the_run_that_reaches_a_cancelled_subscriptions_end_bills_its_part_and_cancels_it(
    db: sa.Engine, aws_server: dict[str, str]
) -> None:
    with Session(db, expire_on_commit=False) as session, session.begin():
        owner = make_user(session)
        account = make_account(session, owner, name="Leaving")
        order = Order(account_id=account.id, product="vps", status="paid", amount=Decimal("31.00"), currency="EUR")
        session.add(order)
        session.flush()
        subscription = Subscription(
            account_id=account.id,
            order_id=order.id,
            product="vps",
            status="active",
            price=Decimal("31.00"),
            currency="EUR",
            current_period_start=datetime(2026, 9, 20, tzinfo=UTC),  # prepaid to Oct 20
            current_period_end=datetime(2026, 10, 20, tzinfo=UTC),
            cancel_at_period_end=True,  # cancelled on Oct 25: ends with October
        )
        subscription.current_period_end = cancellation_end(subscription, datetime(2026, 10, 25, tzinfo=UTC))
        session.add(subscription)
    assert subscription.current_period_end == NOV

    run_billing(OCT, NOV, now=datetime(2026, 11, 1, 2, tzinfo=UTC), mailer=_Mailer())
    run_billing(NOV, DEC, now=datetime(2026, 12, 1, 2, tzinfo=UTC), mailer=_Mailer())

    with Session(db) as session:
        invoices = session.scalars(sa.select(Invoice).where(Invoice.kind == "usage")).all()
        (october,) = invoices  # November has nothing to charge: no invoice
        (line,) = october.lines
        # Oct 20 00:00 to Nov 1 00:00 = 12 of 31 days: 31.00 x 12/31 = 12.00
        assert (line.quantity, line.amount) == (Decimal("0.387097"), Decimal("12.00"))
        assert "12 of 31 days" in line.description
        assert session.get_one(Subscription, subscription.id).status == "cancelled"


@pytest.mark.parametrize(
    ("price", "days", "expected"),
    [("12.99", 27, "11.31"), ("10.00", 15, "4.84"), ("0.05", 1, "0.00")],
)
def test_prorated_amounts_round_half_up_once(price: str, days: int, expected: str) -> None:
    subscription = _subscription(ordered=False, start=datetime(2026, 10, 32 - days, tzinfo=UTC), price=price)
    part = charged_part(subscription, OCT, NOV)
    assert part is not None and part.days == days
    assert round_money(Decimal(price) * part.fraction, "EUR") == Decimal(expected)
