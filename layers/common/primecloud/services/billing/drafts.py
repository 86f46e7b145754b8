"""Invoice drafts: usage rated per metric, subscriptions prorated, totals; nothing is written.

Prices: per metric the version in force at the end of the period (latest effective_from before
period_end), in the account's currency; a metric without one is not billed and is reported as
unpriced. Quantities are shown and rated at 6 decimal places; line amounts are rounded half-up
one by one; tax once on the subtotal (primecloud.money).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from primecloud.errors import Invalid
from primecloud.models.billing import (
    Order,
    Subscription,
    VpsConfig,
)
from primecloud.models.enums import SubscriptionStatus
from primecloud.models.iam import Account
from primecloud.money import Totals, as_decimal, invoice_totals, round_money
from primecloud.services.billing.aggregation import MetricUsage, aggregate_usage
from primecloud.services.billing.periods import seconds_between
from primecloud.services.billing.pricing import (
    PRICED_METRICS,
    STORAGE_METRICS,
    prices_at,
)
from primecloud.services.billing.rating import Price, Rated, plain, quantize_quantity, rate

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
    period_seconds = seconds_between(period_start, period_end)
    elapsed = seconds_between(period_start, min(as_of or period_end, period_end))
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
    """One line per subscription chargeable in the period, prorated by time (services/billing/subscription_terms.py)."""
    from primecloud.services.billing.subscription_terms import charged_part

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
