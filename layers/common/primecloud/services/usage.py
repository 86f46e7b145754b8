"""The usage report of an account: usage_records aggregated per hour, day or month, in one SQL statement.

Stored amounts (``storage_bytes``, ``object_count``, ``sftp_storage_bytes``) are time-weighted
the way billing weights them: each hourly sample holds until the next sample of the same bucket
(or the bucket's deletion, or now), and a period's quantity is the bytes-times-seconds held in
it divided by its elapsed seconds, summed over buckets; hours before the first sample in the
report count as 0 (nothing is carried in from before ``start``). ``last_value`` is what was held
at the end of the period. Traffic and requests are summed over the records whose hour starts in
the period. Periods are UTC calendar hours, days and months, clipped to [start, end).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import text

from primecloud.enums import UsageMetric
from primecloud.errors import Invalid
from primecloud.schemas.usage import Granularity, Unit, UsagePoint, UsageReport

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from primecloud.models.iam import Account

STORED = (UsageMetric.STORAGE_BYTES.value, UsageMetric.OBJECT_COUNT.value, UsageMetric.SFTP_STORAGE_BYTES.value)
SUMMED = (UsageMetric.EGRESS_BYTES.value, UsageMetric.INGRESS_BYTES.value, UsageMetric.API_REQUESTS.value)
ALL_METRICS = STORED + SUMMED
UNITS: dict[str, Unit] = {UsageMetric.OBJECT_COUNT.value: "objects", UsageMetric.API_REQUESTS.value: "requests"}
# The most periods one report may have: 31 days of hours, a leap year of days, 3 years of months.
MAX_PERIODS: dict[str, int] = {"hour": 31 * 24, "day": 366, "month": 36}
_SPAN = {"hour": "31 days", "day": "366 days", "month": "36 months"}

_REPORT = text(
    """
    WITH periods AS (
        SELECT * FROM unnest(
            CAST(:period_starts AS timestamptz[]), CAST(:window_starts AS timestamptz[]),
            CAST(:window_ends AS timestamptz[])) AS p(period_start, window_start, window_end)
    ), samples AS (
        SELECT u.metric, u.quantity, u.period_start AS held_from,
               LEAST(COALESCE(LEAD(u.period_start) OVER (PARTITION BY u.bucket_id, u.metric ORDER BY u.period_start),
                              CAST(:until AS timestamptz)),
                     COALESCE(b.deleted_at, CAST(:until AS timestamptz)),
                     CAST(:until AS timestamptz)) AS held_until
        FROM usage_records u LEFT JOIN buckets b ON b.id = u.bucket_id
        WHERE u.account_id = :account_id AND u.metric = ANY(CAST(:stored AS text[]))
          AND u.period_start >= CAST(:start AS timestamptz) AND u.period_start < CAST(:until AS timestamptz)
    ), elapsed AS (
        SELECT period_start, window_start, LEAST(window_end, CAST(:until AS timestamptz)) AS window_end
        FROM periods WHERE window_start < CAST(:until AS timestamptz)
    ), stored AS (
        SELECT p.period_start, s.metric,
               round(sum(s.quantity * EXTRACT(EPOCH FROM LEAST(s.held_until, p.window_end)
                                                         - GREATEST(s.held_from, p.window_start)))
                     / EXTRACT(EPOCH FROM p.window_end - p.window_start), 6) AS quantity,
               sum(s.quantity) FILTER (WHERE s.held_until >= p.window_end) AS last_value,
               count(*) FILTER (WHERE s.held_from >= p.window_start) AS samples
        FROM elapsed p JOIN samples s ON s.held_from < p.window_end AND s.held_until > p.window_start
        GROUP BY p.period_start, p.window_start, p.window_end, s.metric
    ), summed AS (
        SELECT p.period_start, u.metric, sum(u.quantity) AS quantity, CAST(NULL AS numeric) AS last_value,
               count(*) AS samples
        FROM periods p JOIN usage_records u
          ON u.account_id = :account_id AND u.metric = ANY(CAST(:summed AS text[]))
         AND u.period_start >= p.window_start AND u.period_start < p.window_end
        GROUP BY p.period_start, u.metric
    )
    SELECT * FROM stored UNION ALL SELECT * FROM summed ORDER BY period_start, metric
    """
)


def parse_metrics(raw: str | None) -> list[str]:
    """``metric=storage_bytes,egress_bytes``; none given means all of them."""
    if raw is None or not raw.strip():
        return list(ALL_METRICS)
    names = list(dict.fromkeys(name.strip() for name in raw.split(",") if name.strip()))
    unknown = [name for name in names if name not in ALL_METRICS]
    if unknown:
        shown = ", ".join(name[:40] for name in unknown[:3])
        raise Invalid(
            f"Unknown metric: {shown}. Known metrics: {', '.join(ALL_METRICS)}.",
            errors=[{"field": "query.metric", "message": f"unknown metric: {shown}", "type": "unknown_metric"}],
        )
    return names


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _truncate(moment: datetime, granularity: Granularity) -> datetime:
    moment = moment.replace(minute=0, second=0, microsecond=0)
    if granularity == "hour":
        return moment
    moment = moment.replace(hour=0)
    return moment if granularity == "day" else moment.replace(day=1)


def _next(moment: datetime, granularity: Granularity) -> datetime:
    if granularity == "hour":
        return moment + timedelta(hours=1)
    if granularity == "day":
        return moment + timedelta(days=1)
    return moment.replace(year=moment.year + moment.month // 12, month=moment.month % 12 + 1)


def periods_of(start: datetime, end: datetime, granularity: Granularity) -> list[tuple[datetime, datetime]]:
    """The calendar periods (UTC) meeting [start, end); 422 when there are more than the granularity allows."""
    periods: list[tuple[datetime, datetime]] = []
    period_start = _truncate(start, granularity)
    while period_start < end:
        if len(periods) == MAX_PERIODS[granularity]:
            raise Invalid(
                f"A report by {granularity} covers at most {_SPAN[granularity]}; narrow from/to or use a coarser "
                "granularity.",
                errors=[{"field": "query.from", "message": "range too long for the granularity", "type": "too_long"}],
            )
        period_end = _next(period_start, granularity)
        periods.append((period_start, period_end))
        period_start = period_end
    return periods


def default_range(now: datetime) -> tuple[datetime, datetime]:
    """From the start of the current UTC month up to the end of the current hour."""
    now = _utc(now)
    return _truncate(now, "month"), _truncate(now, "hour") + timedelta(hours=1)


def report(
    session: Session,
    account: Account,
    *,
    start: datetime | None,
    end: datetime | None,
    granularity: Granularity,
    metric: str | None,
    now: datetime,
) -> UsageReport:
    metrics = parse_metrics(metric)
    default_start, default_end = default_range(now)
    start = _utc(start) if start is not None else default_start
    end = _utc(end) if end is not None else default_end
    if start >= end:
        raise Invalid(
            "`from` must be before `to`.",
            errors=[{"field": "query.from", "message": "must be before to", "type": "range"}],
        )
    periods = periods_of(start, end, granularity)
    windows = [(period_start, max(period_start, start), min(period_end, end)) for period_start, period_end in periods]
    rows = session.execute(
        _REPORT,
        {
            "account_id": account.id,
            "period_starts": [window[0] for window in windows],
            "window_starts": [window[1] for window in windows],
            "window_ends": [window[2] for window in windows],
            "start": start,
            "until": min(end, _utc(now)),
            "stored": [name for name in metrics if name in STORED],
            "summed": [name for name in metrics if name in SUMMED],
        },
    )
    bounds = {window[0]: (window[1], window[2]) for window in windows}
    items = [
        UsagePoint(
            metric=row.metric,
            unit=UNITS.get(row.metric, "bytes"),
            period_start=bounds[row.period_start][0],
            period_end=bounds[row.period_start][1],
            aggregation="time_weighted_average" if row.metric in STORED else "sum",
            quantity=row.quantity,
            last_value=row.last_value,
            samples=row.samples,
        )
        for row in rows
    ]
    return UsageReport(
        account_id=account.id, start=start, end=end, granularity=granularity, metrics=metrics, items=items
    )
