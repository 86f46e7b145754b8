"""When a subscription is charged on the monthly usage invoice, so every day is paid exactly once.

- An ordered subscription's first month is paid by its order invoice (it starts when that
  invoice is paid: ``current_period_start``); the usage invoices charge it from the end of that
  month on. A subscription without an order is charged from ``current_period_start``.
- A usage invoice charges the part of its calendar month the subscription was chargeable,
  prorated by time: a full month costs the monthly price, 27 of 31 days 27/31 of it.
- Cancelling ends it at the end of the current period: the prepaid month when cancelled within
  it, else the end of the calendar month in which it was cancelled (already accruing, billed in
  arrears). ``current_period_end`` then holds that end, and the run that bills it marks the
  subscription cancelled.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from primecloud.models.billing import Subscription


def add_month(moment: datetime) -> datetime:
    """The same day and time a month later, clamped to the month's end (Jan 31 -> Feb 28/29)."""
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def next_month_start(moment: datetime) -> datetime:
    start = moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return add_month(start)


def chargeable_from(subscription: Subscription) -> datetime:
    if subscription.order_id is not None:
        return add_month(subscription.current_period_start)  # the order invoice paid the first month
    return subscription.current_period_start


def cancellation_end(subscription: Subscription, now: datetime) -> datetime:
    """Where a cancellation requested ``now`` takes effect."""
    prepaid_end = chargeable_from(subscription)  # for one without an order: its start, long past
    if now < prepaid_end:
        return prepaid_end
    return next_month_start(now)


@dataclass(frozen=True)
class ChargedPart:
    start: datetime
    end: datetime
    fraction: Decimal  # of the period: 1 for a whole month

    @property
    def whole(self) -> bool:
        return self.fraction == 1

    @property
    def days(self) -> Decimal:
        return (Decimal(int((self.end - self.start).total_seconds())) / Decimal(86400)).quantize(Decimal("0.01"))


def charged_part(subscription: Subscription, period_start: datetime, period_end: datetime) -> ChargedPart | None:
    """The part of [period_start, period_end) this subscription is charged for, or None."""
    start = max(period_start, chargeable_from(subscription))
    end = period_end
    if subscription.cancel_at_period_end:
        end = min(end, subscription.current_period_end)
    if start >= end:
        return None
    fraction = Decimal(int((end - start).total_seconds())) / Decimal(int((period_end - period_start).total_seconds()))
    return ChargedPart(start=start, end=end, fraction=fraction)
