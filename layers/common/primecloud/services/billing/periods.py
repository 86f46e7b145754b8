"""Billing periods: calendar months in UTC, as half-open ranges [start, end)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from primecloud.errors import Invalid


def month_period(period: str) -> tuple[datetime, datetime]:
    """ "2026-10" -> [2026-10-01T00:00Z, 2026-11-01T00:00Z)."""
    try:
        year_text, month_text = period.split("-")
        year, month = int(year_text), int(month_text)
        start = datetime(year, month, 1, tzinfo=UTC)
    except ValueError as exc:
        raise Invalid(f"period {period[:20]!r} is not a month like 2026-10") from exc
    return start, next_month(start)


def next_month(start: datetime) -> datetime:
    return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)


def month_containing(moment: datetime) -> tuple[datetime, datetime]:
    start = moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return start, next_month(start)


def previous_month(moment: datetime) -> tuple[datetime, datetime]:
    this_start, _ = month_containing(moment)
    start = (
        this_start.replace(year=this_start.year - 1, month=12)
        if this_start.month == 1
        else this_start.replace(month=this_start.month - 1)
    )
    return start, this_start


def seconds_between(start: datetime, end: datetime) -> Decimal:
    delta = end - start
    return Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds) / Decimal(1_000_000)
