"""Usage aggregation: one set-based SQL statement over usage_records, for all accounts or one.

Storage (``storage_bytes`` per bucket, ``sftp_storage_bytes`` per account) is time-weighted:
each hourly sample holds until the next sample of the same bucket and metric; the last one
until the end of the period (or the bucket's deletion, if earlier). Missing hours carry the last
value forward and nothing is billed before the first sample. GiB-months = sum(bytes x seconds
held) / 2^30 / seconds in the month. Traffic and requests are summed. All of it is one SQL
statement over all accounts (or one); rows never come into Python (see _AGGREGATE_SQL).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import Numeric, String, TextualSelect, Uuid, column, select, text
from sqlalchemy.orm import Session, aliased

from primecloud.models.billing import (
    PricingConfig,
)
from primecloud.models.iam import Account
from primecloud.money import as_decimal
from primecloud.services.billing.pricing import (
    COUNTER_METRICS,
    STORAGE_METRICS,
    prices_in_force,
)
from primecloud.services.billing.rating import Price


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
