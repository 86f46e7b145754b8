"""The upcoming invoice: this month so far, and projected to its end."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from sqlalchemy.orm import Session

from primecloud.models.iam import Account
from primecloud.money import as_decimal, invoice_totals
from primecloud.schemas.billing import DraftLineOut, DraftOut, UpcomingInvoiceOut
from primecloud.services.billing.aggregation import priced_usage
from primecloud.services.billing.drafts import Draft, draft_invoice, rate_usage
from primecloud.services.billing.periods import month_containing


@dataclass
class Upcoming:
    account_id: UUID
    period_start: datetime
    period_end: datetime
    as_of: datetime
    currency: str
    tax_rate: Decimal
    so_far: Draft
    projection: Draft


def upcoming_invoice(session: Session, account: Account, *, now: datetime) -> Upcoming:
    """This month's invoice so far, and projected to the month end (storage carried, counters extrapolated)."""
    period_start, period_end = month_containing(now)
    usage, prices = priced_usage(session, account, period_start, period_end, as_of=now)
    so_far = draft_invoice(session, account, period_start, period_end, usage=usage, prices=prices, as_of=now)
    projection_lines, _ = rate_usage(usage, prices, period_start, period_end, projected=True, as_of=now)
    projection_lines += [line for line in so_far.lines if line.metric is None]  # subscriptions: the full price
    projection = Draft(
        account.currency,
        projection_lines,
        invoice_totals((line.amount for line in projection_lines), as_decimal(account.tax_rate), account.currency),
        so_far.unpriced_metrics,
        so_far.billed_metrics,
    )
    return Upcoming(
        account.id, period_start, period_end, now, account.currency, as_decimal(account.tax_rate), so_far, projection
    )


def _draft_out(draft: Draft) -> DraftOut:
    return DraftOut(
        lines=[
            DraftLineOut(
                description=line.description,
                metric=line.metric,
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount=line.amount,
            )
            for line in draft.lines
        ],
        subtotal=draft.totals.subtotal,
        tax=draft.totals.tax,
        total=draft.totals.total,
    )


def upcoming_invoice_out(session: Session, account: Account, *, now: datetime) -> UpcomingInvoiceOut:
    upcoming = upcoming_invoice(session, account, now=now)
    return UpcomingInvoiceOut(
        account_id=upcoming.account_id,
        currency=upcoming.currency,
        tax_rate=upcoming.tax_rate,
        period_start=upcoming.period_start,
        period_end=upcoming.period_end,
        as_of=upcoming.as_of,
        so_far=_draft_out(upcoming.so_far),
        projection=_draft_out(upcoming.projection),
        unpriced_metrics=upcoming.so_far.unpriced_metrics,
    )
