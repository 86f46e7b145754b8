"""Usage billing: set-based aggregation of usage_records, rating, the monthly usage invoice, the upcoming one.

Storage (``storage_bytes`` per bucket, ``sftp_storage_bytes`` per account) is time-weighted:
each hourly sample holds until the next sample of the same bucket and metric; the last one
until the end of the period (or the bucket's deletion, if earlier). Missing hours carry the last
value forward and nothing is billed before the first sample. GiB-months = sum(bytes x seconds
held) / 2^30 / seconds in the month. Traffic and requests are summed. All of it is one SQL
statement over all accounts (or one); rows never come into Python (see _AGGREGATE_SQL).

Prices: per metric the version in force at the end of the period (latest effective_from before
period_end), in the account's currency; a metric without one is not billed and is reported as
unpriced. Quantities are shown and rated at 6 decimal places; line amounts are rounded half-up
one by one; tax once on the subtotal (primecloud.money).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any
from uuid import UUID

from sqlalchemy import Numeric, String, TextualSelect, Uuid, column, select, text, update
from sqlalchemy.orm import Session, aliased

from primecloud.errors import Invalid
from primecloud.models.billing import (
    Invoice,
    InvoiceLine,
    Order,
    PricingConfig,
    Subscription,
    UsageRecord,
    VpsConfig,
)
from primecloud.models.enums import InvoiceKind, InvoiceStatus, SubscriptionStatus
from primecloud.models.iam import Account
from primecloud.money import Totals, as_decimal, invoice_totals, round_money
from primecloud.schemas.billing import DraftLineOut, DraftOut, UpcomingInvoiceOut
from primecloud.services.pricing import (
    COUNTER_METRICS,
    PRICED_METRICS,
    STORAGE_METRICS,
    prices_at,
    prices_in_force,
)
from primecloud.services.rating import Price, Rated, plain, quantize_quantity, rate

METRIC_LABELS = {
    "storage_bytes": "Object storage",
    "sftp_storage_bytes": "SFTP storage",
    "egress_bytes": "Egress traffic",
    "ingress_bytes": "Ingress traffic",
    "api_requests": "API requests",
}
RAW_UNITS = {
    "storage_bytes": "bytes",
    "sftp_storage_bytes": "bytes",
    "egress_bytes": "bytes",
    "ingress_bytes": "bytes",
    "api_requests": "requests",
}
PRODUCT_LABELS = {"vps": "VPS", "backup": "Backup", "storage_plan": "Storage plan"}
BILLED_SUBSCRIPTION_STATUSES = (SubscriptionStatus.ACTIVE.value, SubscriptionStatus.PAST_DUE.value)
_DESCRIPTION_MAX = 500


# --------------------------------------------------------------------------- periods


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


def _seconds(start: datetime, end: datetime) -> Decimal:
    delta = end - start
    return Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds) / Decimal(1_000_000)


# --------------------------------------------------------------------------- aggregation


@dataclass(frozen=True)
class MetricUsage:
    """One account's metric over a period, as the aggregation query returns it.

    Storage: ``quantity`` is byte-seconds held up to the cut-off (``as_of``), ``to_period_end``
    the same with the last sample carried to the end of the period (the projection). Counters:
    both are the sum. ``samples`` is the number of usage rows.
    """

    metric: str
    quantity: Decimal
    to_period_end: Decimal
    samples: int


def _in_list(values: Iterable[str]) -> str:
    # Literal metric names from the code's own enum (never input), inlined so the planner sees them.
    return ", ".join(f"'{value}'" for value in values)


# Only the enum's metric names are inlined (S608 is about input; there is none here).
#
# One pass over the period's rows (a parallel hash aggregate, like a bare GROUP BY) summarizes each
# series (account, bucket, metric): sum, count, first and last sample, all on the hour or not.
# Storage: in an evenly hourly series every sample but the last holds exactly one hour, so its
# byte-seconds are 3600 x (sum - last); only a series with a gap (or off-the-hour samples) is
# walked sample by sample with LEAD, through the index, inside a LATERAL that is skipped for the
# others. The last sample holds until the cut-off (or the bucket's deletion, if earlier).
_AGGREGATE_SQL = f"""
WITH series AS (
    SELECT u.account_id, u.bucket_id, u.metric,
           SUM(u.quantity) AS total, COUNT(*) AS samples,
           MIN(u.period_start) AS first_start, MAX(u.period_start) AS last_start,
           BOOL_AND(u.period_start = date_bin('1 hour', u.period_start, TIMESTAMPTZ '2000-01-01 00:00:00+00'))
               AS on_the_hour
    FROM usage_records u
    WHERE u.metric IN ({_in_list(STORAGE_METRICS + COUNTER_METRICS)})
      AND u.period_start >= :period_start AND u.period_start < :as_of {{filters_u}}
    GROUP BY u.account_id, u.bucket_id, u.metric
), storage AS (
    SELECT s.account_id, s.metric, s.samples, s.last_start, b.deleted_at, last.quantity AS last_quantity,
           CASE WHEN s.on_the_hour AND s.last_start - s.first_start = make_interval(hours => (s.samples - 1)::int)
                THEN 3600 * (s.total - last.quantity)
                ELSE gaps.byte_seconds
           END AS before_last
    FROM series s
    CROSS JOIN LATERAL (
        SELECT l.quantity FROM usage_records l
        WHERE l.account_id = s.account_id AND l.metric = s.metric AND l.period_start = s.last_start
          AND l.bucket_id IS NOT DISTINCT FROM s.bucket_id
    ) last
    CROSS JOIN LATERAL (
        SELECT SUM(w.quantity * EXTRACT(EPOCH FROM (w.next_start - w.period_start))) AS byte_seconds
        FROM (
            SELECT l.quantity, l.period_start, LEAD(l.period_start) OVER (ORDER BY l.period_start) AS next_start
            FROM usage_records l
            WHERE l.account_id = s.account_id AND l.metric = s.metric AND l.bucket_id IS NOT DISTINCT FROM s.bucket_id
              AND l.period_start >= :period_start AND l.period_start < :as_of {{filters_l}}
        ) w
        WHERE w.next_start IS NOT NULL
          AND NOT (s.on_the_hour AND s.last_start - s.first_start = make_interval(hours => (s.samples - 1)::int))
    ) gaps
    LEFT JOIN buckets b ON b.id = s.bucket_id
    WHERE s.metric IN ({_in_list(STORAGE_METRICS)})
)
SELECT account_id, metric,
       SUM(before_last + last_quantity * GREATEST(
           EXTRACT(EPOCH FROM (LEAST(:as_of, COALESCE(deleted_at, :as_of)) - last_start)), 0)) AS quantity,
       SUM(before_last + last_quantity * GREATEST(
           EXTRACT(EPOCH FROM (LEAST(:period_end, COALESCE(deleted_at, :period_end)) - last_start)), 0))
           AS to_period_end,
       SUM(samples) AS samples
FROM storage
GROUP BY account_id, metric
UNION ALL
SELECT account_id, metric, SUM(total), SUM(total), SUM(samples)
FROM series
WHERE metric IN ({_in_list(COUNTER_METRICS)})
GROUP BY account_id, metric
"""  # noqa: S608


# What the aggregation returns, typed for SQLAlchemy (NUMERIC arrives as Decimal).
_USAGE_COLUMNS = (
    column("account_id", Uuid),
    column("metric", String),
    column("quantity", Numeric),
    column("to_period_end", Numeric),
    column("samples", Numeric),
)


def _usage_statement(
    period_start: datetime,
    period_end: datetime,
    *,
    as_of: datetime | None = None,
    account_id: UUID | None = None,
    invoice_id: UUID | None = None,
) -> TextualSelect:
    cutoff = min(as_of or period_end, period_end)
    filters_u = filters_l = ""
    params: dict[str, Any] = {"period_start": period_start, "period_end": period_end, "as_of": cutoff}
    if account_id is not None:
        filters_u += " AND u.account_id = :account_id"
        params["account_id"] = account_id
    if invoice_id is not None:
        filters_u += " AND u.invoice_id = :invoice_id"
        filters_l += " AND l.invoice_id = :invoice_id"
        params["invoice_id"] = invoice_id
    sql = _AGGREGATE_SQL.format(filters_u=filters_u, filters_l=filters_l)
    return text(sql).bindparams(**params).columns(*_USAGE_COLUMNS)


def _metric_usage(row: Any) -> MetricUsage:
    return MetricUsage(
        metric=row.metric,
        quantity=as_decimal(row.quantity),
        to_period_end=as_decimal(row.to_period_end),
        samples=int(row.samples),
    )


def aggregate_usage(
    session: Session,
    period_start: datetime,
    period_end: datetime,
    *,
    as_of: datetime | None = None,
    account_id: UUID | None = None,
    invoice_id: UUID | None = None,
) -> dict[UUID, dict[str, MetricUsage]]:
    """Per account and metric, the period's usage, in ONE statement (all accounts unless one is named).

    ``as_of`` (default: the period end) cuts the period short for the upcoming invoice: only
    samples before it count and they hold until it at most (``to_period_end`` carries them on).
    ``invoice_id`` restricts to the rows marked as billed by that invoice.
    """
    statement = _usage_statement(period_start, period_end, as_of=as_of, account_id=account_id, invoice_id=invoice_id)
    usage: dict[UUID, dict[str, MetricUsage]] = {}
    for row in session.execute(statement):
        usage.setdefault(row.account_id, {})[row.metric] = _metric_usage(row)
    return usage


def priced_usage(
    session: Session, account: Account, period_start: datetime, period_end: datetime, *, as_of: datetime
) -> tuple[dict[str, MetricUsage], dict[str, Price]]:
    """One account's usage up to ``as_of`` (as ``aggregate_usage``) and the prices of the metrics it used.

    ONE statement: the aggregation joined on the metric to the prices in force at the period end
    in the account's currency (``prices_in_force``). Rating needs no price of an unused metric;
    a used metric without one is left out of the prices, so it is reported as unpriced.
    """
    usage = _usage_statement(period_start, period_end, as_of=as_of, account_id=account.id).subquery("usage")
    version = aliased(PricingConfig, prices_in_force(account.currency, period_end).subquery("price"), name="price")
    rows = session.execute(
        select(usage.c.metric, usage.c.quantity, usage.c.to_period_end, usage.c.samples, version).outerjoin(
            version, version.metric == usage.c.metric
        )
    )
    used: dict[str, MetricUsage] = {}
    prices: dict[str, Price] = {}
    for row in rows:
        used[row.metric] = _metric_usage(row)
        if row.price is not None:
            prices[row.metric] = Price.from_row(row.price)
    return used, prices


# --------------------------------------------------------------------------- lines


@dataclass(frozen=True)
class DraftLine:
    description: str
    metric: str | None
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal


@dataclass
class Draft:
    """An invoice before it exists: its lines, totals and what could not be priced."""

    currency: str
    lines: list[DraftLine]
    totals: Totals
    unpriced_metrics: list[str] = field(default_factory=list)
    billed_metrics: list[str] = field(default_factory=list)


def _units(usage: MetricUsage, price: Price, period_seconds: Decimal, *, projected: bool, elapsed: Decimal) -> Decimal:
    """Priced units: storage byte-seconds -> GiB-months; counters / unit_size (extrapolated when projected)."""
    with localcontext() as context:
        context.prec = 60
        if usage.metric in STORAGE_METRICS:
            byte_seconds = usage.to_period_end if projected else usage.quantity
            return quantize_quantity(byte_seconds / price.unit_size / period_seconds)
        total = usage.quantity
        if projected:
            total = total * period_seconds / elapsed if elapsed > 0 else Decimal(0)
        return quantize_quantity(total / price.unit_size)


def _describe(
    usage: MetricUsage,
    price: Price,
    rated: Rated,
    *,
    period_hours: Decimal,
    projected: bool,
    elapsed_hours: Decimal,
) -> str:
    label = METRIC_LABELS[usage.metric]
    units = plain(rated.units)
    if usage.metric in STORAGE_METRICS:
        how = (
            f"{units} {price.unit}s = time-weighted average of {usage.samples} hourly samples"
            f" over {plain(period_hours)} h"
        )
        if projected:
            how += ", the last carried to the end of the month"
    else:
        raw = plain(quantize_quantity(usage.quantity))
        how = f"{units} x {price.unit} = sum of {usage.samples} hourly records ({raw} {RAW_UNITS[usage.metric]})"
        if projected:
            how += f" over {plain(elapsed_hours)} of {plain(period_hours)} h, extrapolated to the month"
    breakdown = rated.breakdown(price.unit)
    text_ = f"{label}: {how}; {breakdown}; price of {price.effective_from:%Y-%m-%d}"
    return text_[:_DESCRIPTION_MAX]


def rate_usage(
    usage: dict[str, MetricUsage],
    prices: dict[str, Price],
    period_start: datetime,
    period_end: datetime,
    *,
    projected: bool = False,
    as_of: datetime | None = None,
) -> tuple[list[DraftLine], list[str]]:
    """A line per priced metric with usage; the metrics that have usage but no price."""
    period_seconds = _seconds(period_start, period_end)
    elapsed = _seconds(period_start, min(as_of or period_end, period_end))
    lines: list[DraftLine] = []
    unpriced: list[str] = []
    for metric in PRICED_METRICS:
        metric_usage = usage.get(metric)
        if metric_usage is None:
            continue
        price = prices.get(metric)
        if price is None:
            unpriced.append(metric)
            continue
        units = _units(metric_usage, price, period_seconds, projected=projected, elapsed=elapsed)
        rated = rate(units, price)
        lines.append(
            DraftLine(
                description=_describe(
                    metric_usage,
                    price,
                    rated,
                    period_hours=period_seconds / 3600,
                    projected=projected,
                    elapsed_hours=(elapsed / 3600).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP).normalize(),
                ),
                metric=metric,
                quantity=rated.units,
                unit_price=rated.average_unit_price if price.tiers or rated.included else price.unit_price,
                amount=rated.amount,
            )
        )
    return lines, unpriced


def subscription_lines(
    session: Session, account_id: UUID, period_start: datetime, period_end: datetime, currency: str
) -> list[DraftLine]:
    """One line per subscription chargeable in the period, prorated by time (services/subscription_terms.py)."""
    from primecloud.services.subscription_terms import charged_part

    rows = session.execute(
        select(Subscription, VpsConfig.name)
        .outerjoin(Order, Order.id == Subscription.order_id)
        .outerjoin(VpsConfig, VpsConfig.id == Order.vps_config_id)
        .where(
            Subscription.account_id == account_id,
            Subscription.status.in_(BILLED_SUBSCRIPTION_STATUSES),
            Subscription.current_period_start < period_end,
        )
        .order_by(Subscription.created_at, Subscription.id)
    ).all()
    lines = []
    for subscription, plan in rows:
        if subscription.currency != currency:
            raise Invalid(f"Subscription {subscription.id} is in {subscription.currency}, the account in {currency}.")
        part = charged_part(subscription, period_start, period_end)
        if part is None:
            continue
        price = as_decimal(subscription.price)
        product = PRODUCT_LABELS.get(subscription.product, subscription.product)
        total_days = Decimal(int((period_end - period_start).total_seconds())) / Decimal(86400)
        how = (
            "the whole month"
            if part.whole
            else f"{part.days.normalize():f} of {total_days.normalize():f} days = {part.fraction:.6f} month"
        )
        lines.append(
            DraftLine(
                description=f"Subscription: {product}{f' {plan}' if plan else ''}, {price} a month; "
                f"{part.start:%Y-%m-%d %H:%M} to {part.end:%Y-%m-%d %H:%M} UTC: {how}",
                metric=None,
                quantity=part.fraction.quantize(Decimal("0.000001")),
                unit_price=price,
                amount=round_money(price * part.fraction, currency),
            )
        )
    return lines


def end_cancelled_subscriptions(session: Session, account_id: UUID, period_end: datetime) -> int:
    """Subscriptions cancelled at period end whose end this invoice reached are cancelled now."""
    result = session.execute(
        update(Subscription)
        .where(
            Subscription.account_id == account_id,
            Subscription.status.in_(BILLED_SUBSCRIPTION_STATUSES),
            Subscription.cancel_at_period_end.is_(True),
            Subscription.current_period_end <= period_end,
        )
        .values(status=SubscriptionStatus.CANCELLED.value)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def draft_invoice(
    session: Session,
    account: Account,
    period_start: datetime,
    period_end: datetime,
    *,
    usage: dict[str, MetricUsage] | None = None,
    prices: dict[str, Price] | None = None,
    as_of: datetime | None = None,
    projected: bool = False,
) -> Draft:
    """The invoice the period produces (up to ``as_of``, or projected to its end): nothing is written."""
    if usage is None:
        usage = aggregate_usage(session, period_start, period_end, as_of=as_of, account_id=account.id).get(
            account.id, {}
        )
    if prices is None:
        prices = prices_at(session, account.currency, period_end)
    lines, unpriced = rate_usage(usage, prices, period_start, period_end, projected=projected, as_of=as_of)
    billed = [line.metric for line in lines if line.metric is not None]
    lines += subscription_lines(session, account.id, period_start, period_end, account.currency)
    totals = invoice_totals((line.amount for line in lines), as_decimal(account.tax_rate), account.currency)
    return Draft(account.currency, lines, totals, unpriced, billed)


def usage_lines(
    session: Session, account: Account, period_start: datetime, period_end: datetime, *, as_of: datetime | None = None
) -> list[DraftLine]:
    """The usage lines (no subscriptions) of an account's period, up to ``as_of``."""
    usage = aggregate_usage(session, period_start, period_end, as_of=as_of, account_id=account.id).get(account.id, {})
    lines, _unpriced = rate_usage(
        usage, prices_at(session, account.currency, period_end), period_start, period_end, as_of=as_of
    )
    return lines


# --------------------------------------------------------------------------- the monthly invoice


def _account_lock_key(account_id: UUID, period_start: datetime) -> int:
    return zlib.crc32(f"primecloud:billing:{account_id}:{period_start.isoformat()}".encode()) - 2**31


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
    storage: Any = None,
    mailer: Any = None,
    settings: Any = None,
) -> Invoice | None:
    """Build, record and issue the account's usage invoice for the period, in the caller's transaction.

    None when the period is already invoiced or there is nothing to bill. Safe to run twice at
    once: a per-account transaction lock serializes them and the second finds the first's invoice.
    ``usage`` may come from the all-accounts aggregation; rows that arrived since are caught by
    comparing the rows marked as billed with the rows aggregated.
    """
    from primecloud.services import invoicing

    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _account_lock_key(account_id, period_start)})
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


# --------------------------------------------------------------------------- the upcoming invoice


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


# --------------------------------------------------------------------------- the monthly run


@dataclass
class BillingRun:
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[tuple[str, str]] = field(default_factory=list)
    total_amounts: dict[str, str] = field(default_factory=dict)  # per currency, a decimal string
    unpriced: list[str] = field(default_factory=list)  # metrics used but without a price: not billed

    def add(self, name: str, amount: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + amount


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
    period_start: datetime,
    period_end: datetime,
    *,
    now: datetime,
    storage: Any = None,
    mailer: Any = None,
) -> BillingRun:
    """Invoice every account with usage or subscriptions in the period, each in its own transaction."""
    from primecloud.db import system_scope_throughout

    # Every account's usage and invoices: the system scope, also when called outside run_job.
    with system_scope_throughout("run_billing: the period's accounts"):
        return _bill_period(period_start, period_end, now=now, storage=storage, mailer=mailer)


def _bill_period(
    period_start: datetime,
    period_end: datetime,
    *,
    now: datetime,
    storage: Any,
    mailer: Any,
) -> BillingRun:
    from primecloud.db import unit_of_work
    from primecloud.observability import logger

    if period_end > now:
        # An invoice for a month still running would be final (one per period) and short.
        raise Invalid(f"The period {period_start:%Y-%m} has not ended yet.")
    run = BillingRun()
    with unit_of_work() as session:
        usage = aggregate_period(session, period_start, period_end)
        account_ids = accounts_to_bill(session, period_end, usage)
    totals: dict[str, Decimal] = {}
    unpriced: set[str] = set()
    prices_by_currency: dict[str, dict[str, Price]] = {}
    for account_id in account_ids:
        try:
            with unit_of_work() as session:
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
                )
                if invoice is None:
                    run.add("accounts_skipped")
                    continue
                totals[invoice.currency] = totals.get(invoice.currency, Decimal(0)) + as_decimal(invoice.total)
                run.add("accounts_billed")
                run.add("invoice_lines", len(invoice.lines))
        except Exception as exc:
            logger.exception("billing an account failed", extra={"account_id": str(account_id)})
            run.add("accounts_failed")
            run.failures.append((str(account_id), f"{type(exc).__name__}: {exc}"))
    run.counts.setdefault("accounts_billed", 0)
    run.counts.setdefault("accounts_skipped", 0)
    run.counts.setdefault("accounts_failed", 0)
    run.total_amounts = {currency: str(amount) for currency, amount in sorted(totals.items())}
    run.unpriced = sorted(unpriced)
    return run
