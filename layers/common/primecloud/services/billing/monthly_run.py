"""The monthly usage invoice of an account (``bill_account``) and the run over every account (``run_billing``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from primecloud.db import xact_lock
from primecloud.errors import Invalid
from primecloud.models.billing import (
    Invoice,
    InvoiceLine,
    Subscription,
    UsageRecord,
)
from primecloud.models.enums import InvoiceKind, InvoiceStatus
from primecloud.models.iam import Account
from primecloud.money import as_decimal
from primecloud.services.billing.aggregation import MetricUsage, aggregate_usage
from primecloud.services.billing.drafts import BILLED_SUBSCRIPTION_STATUSES, draft_invoice, end_cancelled_subscriptions
from primecloud.services.billing.pricing import (
    PRICED_METRICS,
    prices_at,
)
from primecloud.services.billing.rating import Price

if TYPE_CHECKING:
    from primecloud.adapters.documents import DocumentStore
    from primecloud.adapters.email import Mailer
    from primecloud.config import Settings
    from primecloud.db import Sessions
    from primecloud.jobs import JobStats


def existing_usage_invoice(
    session: Session, account_id: UUID, period_start: datetime, period_end: datetime
) -> Invoice | None:
    return session.scalar(
        select(Invoice).where(
            Invoice.account_id == account_id,
            Invoice.kind == InvoiceKind.USAGE.value,
            Invoice.period_start == period_start,
            Invoice.period_end == period_end,
        )
    )


def _mark_billed(
    session: Session, invoice_id: UUID, *, account_id: UUID, metrics: Sequence[str], start: datetime, end: datetime
) -> int:
    if not metrics:
        return 0
    result = session.execute(
        update(UsageRecord)
        .where(
            UsageRecord.account_id == account_id,
            UsageRecord.metric.in_(metrics),
            UsageRecord.period_start >= start,
            UsageRecord.period_start < end,
            UsageRecord.invoice_id.is_(None),
        )
        .values(invoice_id=invoice_id)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def bill_account(
    session: Session,
    account_id: UUID,
    period_start: datetime,
    period_end: datetime,
    *,
    now: datetime,
    usage: dict[str, MetricUsage] | None = None,
    prices: dict[str, Price] | None = None,
    storage: DocumentStore,
    mailer: Mailer,
    settings: Settings,
) -> Invoice | None:
    """Build, record and issue the account's usage invoice for the period, in the caller's transaction.

    None when the period is already invoiced or there is nothing to bill. Safe to run twice at
    once: a per-account transaction lock serializes them and the second finds the first's invoice.
    ``usage`` may come from the all-accounts aggregation; rows that arrived since are caught by
    comparing the rows marked as billed with the rows aggregated.
    """
    from primecloud.services.billing import invoicing

    xact_lock(session, "billing", f"{account_id}:{period_start.isoformat()}")
    if existing_usage_invoice(session, account_id, period_start, period_end) is not None:
        return None
    account = session.get_one(Account, account_id)
    if prices is None:
        prices = prices_at(session, account.currency, period_end)
    if usage is None:
        usage = aggregate_usage(session, period_start, period_end, account_id=account.id).get(account.id, {})
    draft = draft_invoice(session, account, period_start, period_end, usage=usage, prices=prices)
    if not draft.lines:
        end_cancelled_subscriptions(session, account.id, period_end)
        return None
    invoice = Invoice(
        account_id=account.id,
        kind=InvoiceKind.USAGE.value,
        period_start=period_start,
        period_end=period_end,
        status=InvoiceStatus.DRAFT.value,
        currency=account.currency,
    )
    session.add(invoice)
    session.flush()
    aggregated_rows = sum(usage[metric].samples for metric in draft.billed_metrics)
    marked = _mark_billed(
        session, invoice.id, account_id=account.id, metrics=draft.billed_metrics, start=period_start, end=period_end
    )
    if marked != aggregated_rows:
        # Usage arrived after the all-accounts aggregation: bill exactly the rows now marked.
        marked_usage = aggregate_usage(session, period_start, period_end, account_id=account.id, invoice_id=invoice.id)
        draft = draft_invoice(
            session, account, period_start, period_end, usage=marked_usage.get(account.id, {}), prices=prices
        )
    for position, line in enumerate(draft.lines, start=1):
        invoice.lines.append(
            InvoiceLine(
                position=position,
                description=line.description,
                metric=line.metric,
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount=line.amount,
            )
        )
    invoice.subtotal, invoice.tax, invoice.total = draft.totals.subtotal, draft.totals.tax, draft.totals.total
    session.flush()
    end_cancelled_subscriptions(session, account.id, period_end)
    return invoicing.issue(session, invoice, now=now, storage=storage, mailer=mailer, settings=settings)


def accounts_to_bill(session: Session, period_end: datetime, usage: dict[UUID, dict[str, MetricUsage]]) -> list[UUID]:
    """The accounts with billed usage in the period (from the aggregation) or a subscription to charge."""
    subscribed = session.scalars(
        select(Subscription.account_id)
        .where(
            Subscription.status.in_(BILLED_SUBSCRIPTION_STATUSES),
            Subscription.current_period_start < period_end,
        )
        .distinct()
    )
    return sorted(set(usage) | set(subscribed))


def aggregate_period(
    session: Session, period_start: datetime, period_end: datetime
) -> dict[UUID, dict[str, MetricUsage]]:
    """The all-accounts aggregation of a period (what run_billing does before invoicing).

    Planned as a parallel hash aggregate, like a bare GROUP BY, once the planner knows how few
    series (account x bucket x metric) there are: the extended statistics st_usage_records_series
    (migration 0002) tell it. Should they be stale, the room to hash given here keeps it from
    walking the whole unique index serially instead (2-3x slower in bench/billing.py).
    """
    session.execute(text("SET LOCAL work_mem = '64MB'"))
    return aggregate_usage(session, period_start, period_end)


def run_billing(
    stats: JobStats,
    period_start: datetime,
    period_end: datetime,
    *,
    now: datetime,
    sessions: Sessions,
    storage: DocumentStore,
    mailer: Mailer,
    settings: Settings,
) -> None:
    """Invoice every account with usage or subscriptions in the period, each in its own transaction.

    ``stats`` gets the accounts billed, skipped and failed, the invoice lines, each failed account,
    the total per currency (``total_amount``, decimal strings) and the metrics used but without a
    price (``unpriced_metrics``, not billed; only when there are any).
    """
    from primecloud.db import system_scope_throughout

    # Every account's usage and invoices: the system scope, also when called outside run_job.
    with system_scope_throughout("run_billing: the period's accounts"):
        _bill_period(
            stats,
            period_start,
            period_end,
            now=now,
            sessions=sessions,
            storage=storage,
            mailer=mailer,
            settings=settings,
        )


def _bill_period(
    stats: JobStats,
    period_start: datetime,
    period_end: datetime,
    *,
    now: datetime,
    sessions: Sessions,
    storage: DocumentStore,
    mailer: Mailer,
    settings: Settings,
) -> None:
    from primecloud.observability import logger

    if period_end > now:
        # An invoice for a month still running would be final (one per period) and short.
        raise Invalid(f"The period {period_start:%Y-%m} has not ended yet.")
    with sessions() as session:
        usage = aggregate_period(session, period_start, period_end)
        account_ids = accounts_to_bill(session, period_end, usage)
    totals: dict[str, Decimal] = {}
    unpriced: set[str] = set()
    prices_by_currency: dict[str, dict[str, Price]] = {}
    for account_id in account_ids:
        try:
            with sessions() as session:
                currency = session.get_one(Account, account_id).currency
                if currency not in prices_by_currency:
                    prices_by_currency[currency] = prices_at(session, currency, period_end)
                prices = prices_by_currency[currency]
                account_usage = usage.get(account_id, {})
                unpriced.update(metric for metric in account_usage if metric in PRICED_METRICS and metric not in prices)
                invoice = bill_account(
                    session,
                    account_id,
                    period_start,
                    period_end,
                    now=now,
                    usage=account_usage,
                    prices=prices,
                    storage=storage,
                    mailer=mailer,
                    settings=settings,
                )
                if invoice is None:
                    stats.add("accounts_skipped")
                    continue
                totals[invoice.currency] = totals.get(invoice.currency, Decimal(0)) + as_decimal(invoice.total)
                stats.add("accounts_billed")
                stats.add("invoice_lines", len(invoice.lines))
        except Exception as exc:
            logger.exception("billing an account failed", extra={"account_id": str(account_id)})
            stats.add("accounts_failed")
            stats.fail(str(account_id), f"{type(exc).__name__}: {exc}")
    for name in ("accounts_billed", "accounts_skipped", "accounts_failed"):  # reported even when none
        stats.counts.setdefault(name, 0)
    stats.details["total_amount"] = {currency: str(amount) for currency, amount in sorted(totals.items())}
    if unpriced:
        stats.details["unpriced_metrics"] = sorted(unpriced)
