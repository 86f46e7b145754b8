"""Versioned prices: a new version per change (never an edit), the list in force, the history.

A version is in force from its ``effective_from`` until the next version of the same metric and
currency. Billing a period uses, per metric, the version in force at the period's end (the
latest ``effective_from`` before ``period_end``). A metric with no version in force is not billed
(its usage is reported as unpriced).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from primecloud.actor import Actor
from primecloud.db import xact_lock
from primecloud.errors import Conflict, Invalid, NotFound
from primecloud.models.billing import PricingConfig, PricingHistory
from primecloud.models.enums import PricingAction, UsageMetric
from primecloud.pagination import paginate
from primecloud.schemas.common import Page
from primecloud.schemas.pricing import (
    MetricPriceOut,
    PriceList,
    PriceVersionIn,
    PriceVersionOut,
    PricingHistoryOut,
    TierOut,
)
from primecloud.services import audit
from primecloud.services.billing.rating import Price, plain

GIB = Decimal(2**30)
# Billed metrics and their default unit; object_count is informational and never priced.
DEFAULT_UNITS: dict[str, tuple[str, Decimal]] = {
    UsageMetric.STORAGE_BYTES.value: ("GiB-month", GIB),
    UsageMetric.SFTP_STORAGE_BYTES.value: ("GiB-month", GIB),
    UsageMetric.EGRESS_BYTES.value: ("GiB", GIB),
    UsageMetric.INGRESS_BYTES.value: ("GiB", GIB),
    UsageMetric.API_REQUESTS.value: ("1,000 requests", Decimal(1000)),
}
PRICED_METRICS = tuple(DEFAULT_UNITS)
STORAGE_METRICS = (UsageMetric.STORAGE_BYTES.value, UsageMetric.SFTP_STORAGE_BYTES.value)
COUNTER_METRICS = (UsageMetric.EGRESS_BYTES.value, UsageMetric.INGRESS_BYTES.value, UsageMetric.API_REQUESTS.value)
# A client clock a little behind ours still means "now", not a retroactive price.
_PAST_TOLERANCE = timedelta(minutes=5)


def snapshot(version: PricingConfig) -> dict[str, Any]:
    """A version as JSON (decimal strings), for the history and the audit log."""
    return {
        "id": str(version.id),
        "metric": version.metric,
        "unit": version.unit,
        "unit_size": plain(version.unit_size),
        "unit_price": plain(version.unit_price),
        "currency": version.currency,
        "included_quantity": plain(version.included_quantity),
        "tiers": version.tiers,
        "effective_from": version.effective_from.isoformat(),
    }


def version_out(version: PricingConfig) -> PriceVersionOut:
    def tidy(value: Decimal) -> Decimal:  # 0.07000000 as stored -> 0.07, as it was entered
        return Decimal(plain(value))

    return PriceVersionOut(
        id=version.id,
        metric=version.metric,
        unit=version.unit,
        unit_size=tidy(version.unit_size),
        unit_price=tidy(version.unit_price),
        currency=version.currency,
        included_quantity=tidy(version.included_quantity),
        tiers=[
            TierOut(up_to=None if tier.up_to is None else tidy(tier.up_to), unit_price=tidy(tier.unit_price))
            for tier in Price.from_row(version).tiers
        ],
        effective_from=version.effective_from,
    )


def _priced_metric(metric: str) -> str:
    if metric not in {m.value for m in UsageMetric}:
        raise NotFound("No such metric.")
    if metric not in DEFAULT_UNITS:
        raise Invalid(
            f"{metric} is informational and is not billed.",
            errors=[{"field": "path.metric", "message": "not a billed metric", "type": "metric"}],
        )
    return metric


def create_version(
    session: Session, actor: Actor, metric: str, body: PriceVersionIn, *, now: datetime
) -> PriceVersionOut:
    """Append a price version; it takes over at ``effective_from`` (now when not given)."""
    metric = _priced_metric(metric)
    effective_from = (body.effective_from or now).astimezone(UTC)
    if effective_from < now - _PAST_TOLERANCE:
        raise Invalid(
            "effective_from is in the past: a price never changes retroactively.",
            errors=[{"field": "body.effective_from", "message": "must not be in the past", "type": "past"}],
        )
    # Two admins changing the same price at once append one after the other.
    xact_lock(session, "pricing", f"{metric}:{body.currency}")
    latest = session.scalar(
        select(PricingConfig)
        .where(PricingConfig.metric == metric, PricingConfig.currency == body.currency)
        .order_by(PricingConfig.effective_from.desc())
        .limit(1)
    )
    if latest is not None and effective_from <= latest.effective_from:
        raise Conflict(
            f"A version effective from {latest.effective_from.isoformat()} exists; "
            "a new version must take effect after the latest one."
        )
    default_unit, default_size = DEFAULT_UNITS[metric]
    version = PricingConfig(
        metric=metric,
        unit=body.unit or default_unit,
        unit_size=body.unit_size or default_size,
        unit_price=body.unit_price,
        currency=body.currency,
        included_quantity=body.included_quantity,
        tiers=[
            {"up_to": None if tier.up_to is None else plain(tier.up_to), "unit_price": plain(tier.unit_price)}
            for tier in body.tiers
        ],
        effective_from=effective_from,
        created_by=actor.user_id,
    )
    session.add(version)
    session.flush()
    old = snapshot(latest) if latest is not None else None
    new = snapshot(version)
    session.add(
        PricingHistory(
            pricing_config_id=version.id,
            metric=metric,
            action=PricingAction.CREATED.value,
            old_value=old,
            new_value=new,
            changed_by=actor.user_id,
            changed_at=now,
        )
    )
    audit.record(session, actor, "pricing.update", target_type="pricing_config", target_id=version.id, old=old, new=new)
    return version_out(version)


def prices_in_force(currency: str, at: datetime) -> Select[PricingConfig]:
    """Per metric, the version in force just before ``at`` (latest effective_from < at): the statement."""
    return (
        select(PricingConfig)
        .where(PricingConfig.currency == currency, PricingConfig.effective_from < at)
        .order_by(PricingConfig.metric, PricingConfig.effective_from.desc())
        .ext(distinct_on(PricingConfig.metric))
    )


def prices_at(session: Session, currency: str, at: datetime) -> dict[str, Price]:
    """Per metric, the version in force just before ``at`` (latest effective_from < at)."""
    return {row.metric: Price.from_row(row) for row in session.scalars(prices_in_force(currency, at))}


def price_list(session: Session, *, now: datetime, currency: str | None = None) -> PriceList:
    """The versions in force now, each with the versions already scheduled after it (one query)."""
    in_force_ids = (
        select(PricingConfig.id)
        .where(PricingConfig.effective_from <= now)
        .order_by(PricingConfig.metric, PricingConfig.currency, PricingConfig.effective_from.desc())
        .ext(distinct_on(PricingConfig.metric, PricingConfig.currency))
    )
    statement = select(PricingConfig).where(
        or_(PricingConfig.effective_from > now, PricingConfig.id.in_(in_force_ids.scalar_subquery()))
    )
    if currency is not None:
        statement = statement.where(PricingConfig.currency == currency)
    versions = session.scalars(
        statement.order_by(PricingConfig.metric, PricingConfig.currency, PricingConfig.effective_from)
    ).all()
    items: dict[tuple[str, str], MetricPriceOut] = {}
    for version in versions:
        key = (version.metric, version.currency)
        if version.effective_from <= now:
            items[key] = MetricPriceOut(**version_out(version).model_dump())
        elif key in items:
            items[key].upcoming.append(version_out(version))
    priced = {metric for metric, _currency in items}
    return PriceList(
        items=list(items.values()), unpriced_metrics=[metric for metric in PRICED_METRICS if metric not in priced]
    )


def history(session: Session, *, limit: int, cursor: str | None, metric: str | None = None) -> Page[PricingHistoryOut]:
    statement = select(PricingHistory)
    if metric is not None:
        statement = statement.where(PricingHistory.metric == metric)
    return paginate(
        session,
        statement,
        keys=[PricingHistory.changed_at, PricingHistory.id],
        limit=limit,
        cursor=cursor,
        to_item=lambda row: PricingHistoryOut.model_validate(row, from_attributes=True),
    )


def seed_defaults(session: Session, versions: Iterable[dict[str, Any]], *, effective_from: datetime) -> int:
    """Demo prices ({metric, unit_price, included_quantity?, tiers?}) for metrics without any version yet."""
    existing = set(session.scalars(select(func.distinct(PricingConfig.metric))))
    added = 0
    for version in versions:
        metric = version["metric"]
        if metric in existing:
            continue
        unit, unit_size = DEFAULT_UNITS[metric]
        session.add(
            PricingConfig(
                metric=metric,
                unit=unit,
                unit_size=unit_size,
                unit_price=Decimal(version["unit_price"]),
                currency="EUR",
                included_quantity=Decimal(version.get("included_quantity", "0")),
                tiers=version.get("tiers", []),
                effective_from=effective_from,
            )
        )
        added += 1
    session.flush()
    return added
