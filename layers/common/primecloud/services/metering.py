"""Metering: hourly usage samples of every account's buckets and SFTP users, into usage_records.

What a row means (billing and the usage API read them this way):

- ``storage_bytes`` and ``object_count`` (per live bucket): a point sample taken in the hour that
  starts at ``period_start``; ``period_end`` = ``period_start`` + 1 hour. One row per bucket per
  hour. Bytes count every stored version (as billed); the object count is informational.
- ``egress_bytes``, ``ingress_bytes``, ``api_requests`` (per live bucket): the amount during
  [``period_start``, ``period_end``). The run of hour H collects the hour before it, [H-1h, H):
  a window backend (CloudWatch) reports that sum; a cumulative one (MinIO's Prometheus counters)
  is diffed against the bucket's previous stored sample, whose raw counter is kept in ``source``
  (``backend:counter=<n>``). A decrease is a counter reset (the new value is what was counted
  since); a bucket's first sample is a baseline of 0; after missed hours the row holds everything
  since the previous sample (looked up at most ``COUNTER_LOOKBACK`` back); when a later hour is
  already stored (a late redelivery) the counters are skipped, the later row counted them. A
  metric the backend does not know gives no row.
- ``sftp_storage_bytes`` (per account, ``bucket_id`` NULL): a point sample like storage_bytes,
  the bytes SftpGo counts for the account's live SFTP users with a local home. Users homed in a
  bucket are not counted: their files are in the bucket, already in its storage_bytes.

``source`` says where a figure came from: ``backend`` (the usage API / metrics), ``listing``
(objects listed because the backend knew no storage figure, ``listing_fallback``),
``backend:counter=<n>`` (cumulative counters), ``sftpgo``.

Idempotent: rows go in with ``INSERT ... ON CONFLICT DO NOTHING`` on (account, bucket, metric,
period_start), so a redelivered message or a re-run adds nothing; the first sample of an hour wins.

Failures: each account is collected and written in its own transaction; one that fails leaves
no rows and does not stop the others. A failure is *retryable* when a dependency was unavailable
(backend, SftpGo or database unreachable): the worker then has SQS redeliver the message, which
collects the missing accounts again and skips the rows already stored. Other failures (a bucket
or SFTP user missing in the backend, a bug) would fail the same way again: they are only
recorded. Either way the run's ``job_runs`` row records them (``record_run``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from sqlalchemy import CursorResult, bindparam, select, text
from sqlalchemy.dialects.postgresql import JSONB, distinct_on
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from primecloud import clock
from primecloud.enums import AccountStatus, UsageMetric
from primecloud.errors import PrimeCloudError, Unavailable
from primecloud.observability import logger

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from primecloud.adapters.sftpgo import SftpGoClient
    from primecloud.adapters.storage import BucketMetrics, ObjectStorage, TenantCredentials
    from primecloud.db import Sessions

HOUR = timedelta(hours=1)
COUNTER_LOOKBACK = timedelta(days=31)
COUNTER_SOURCE_PREFIX = "backend:counter="
INSERT_BATCH_ROWS = 5000
MAX_RECORDED_FAILURES = 200  # per run; the failure count keeps counting past it
# usage metric -> BucketMetrics field
COUNTERS = {
    UsageMetric.EGRESS_BYTES.value: "egress_bytes",
    UsageMetric.INGRESS_BYTES.value: "ingress_bytes",
    UsageMetric.API_REQUESTS.value: "requests",
}
_COUNTER_SOURCE = re.compile(r"^" + re.escape(COUNTER_SOURCE_PREFIX) + r"(\d+)$")


@dataclass(frozen=True)
class UsageRow:
    account_id: UUID
    bucket_id: UUID | None
    metric: str
    quantity: Decimal
    period_start: datetime
    period_end: datetime
    source: str


@dataclass(frozen=True)
class AccountFailure:
    account_id: UUID
    error: str
    retryable: bool


@dataclass
class CollectionReport:
    """What one batch of accounts gave: counts for the run's job_runs row."""

    accounts_collected: int = 0
    accounts_skipped: int = 0  # closed or deleted since the dispatcher listed them
    rows_inserted: int = 0
    rows_skipped: int = 0  # already stored (a redelivery or a re-run)
    failures: list[AccountFailure] = field(default_factory=list)

    @property
    def retry(self) -> bool:
        return any(failure.retryable for failure in self.failures)


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


# --------------------------------------------------------------------------- write path

_INSERT = text(
    """
    INSERT INTO usage_records (account_id, bucket_id, metric, quantity, period_start, period_end, source)
    SELECT * FROM unnest(
        CAST(:account_ids AS uuid[]), CAST(:bucket_ids AS uuid[]), CAST(:metrics AS text[]),
        CAST(:quantities AS numeric[]), CAST(:period_starts AS timestamptz[]),
        CAST(:period_ends AS timestamptz[]), CAST(:sources AS text[]))
    ON CONFLICT (account_id, bucket_id, metric, period_start) DO NOTHING
    """
)


def _chunks(rows: Sequence[UsageRow], size: int) -> Iterator[Sequence[UsageRow]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def insert_usage(session: Session, rows: Sequence[UsageRow]) -> int:
    """Insert the rows not stored yet (one statement per 5,000 rows, from arrays); returns how many."""
    inserted = 0
    for chunk in _chunks(rows, INSERT_BATCH_ROWS):
        result = session.execute(
            _INSERT,
            {
                "account_ids": [str(row.account_id) for row in chunk],
                "bucket_ids": [str(row.bucket_id) if row.bucket_id else None for row in chunk],
                "metrics": [row.metric for row in chunk],
                "quantities": [str(row.quantity) for row in chunk],
                "period_starts": [row.period_start for row in chunk],
                "period_ends": [row.period_end for row in chunk],
                "sources": [row.source for row in chunk],
            },
        )
        inserted += cast("CursorResult[Any]", result).rowcount
    return inserted


# --------------------------------------------------------------------------- collection


@dataclass(frozen=True)
class _Bucket:
    id: UUID
    name: str


@dataclass
class _Account:
    id: UUID
    buckets: list[_Bucket] = field(default_factory=list)
    sftp_usernames: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Observed:
    """What the outside world said about one account (gathered before its transaction opens)."""

    storage: dict[UUID, tuple[int, int | None, str]]  # bucket -> (bytes, objects, source)
    metrics: dict[UUID, BucketMetrics]
    sftp_bytes: int | None


def metered_account_ids(session: Session) -> list[UUID]:
    """The accounts collect_usage sends to its workers: every one not closed (suspended ones still store data)."""
    from primecloud.models.iam import Account

    return list(
        session.scalars(
            select(Account.id)
            .where(Account.status != AccountStatus.CLOSED.value, Account.deleted_at.is_(None))
            .order_by(Account.id)
        )
    )


def _targets(session: Session, account_ids: Sequence[UUID]) -> list[_Account]:
    """The accounts still metered (not closed or deleted), their live buckets and local-home SFTP users."""
    from primecloud.models.iam import Account
    from primecloud.models.storage import Bucket, SftpUser

    accounts = {
        account_id: _Account(account_id)
        for account_id in session.scalars(
            select(Account.id)
            .where(
                Account.id.in_(account_ids),
                Account.deleted_at.is_(None),
                Account.status != AccountStatus.CLOSED.value,
            )
            .order_by(Account.id)
        )
    }
    if not accounts:
        return []
    for account_id, bucket_id, name in session.execute(
        select(Bucket.account_id, Bucket.id, Bucket.name)
        .where(Bucket.account_id.in_(accounts), Bucket.deleted_at.is_(None))
        .order_by(Bucket.name)
    ):
        accounts[account_id].buckets.append(_Bucket(bucket_id, name))
    for account_id, username in session.execute(
        select(SftpUser.account_id, SftpUser.username)
        .where(
            SftpUser.account_id.in_(accounts),
            SftpUser.deleted_at.is_(None),
            SftpUser.bucket_id.is_(None),
            SftpUser.home_dir.is_not(None),
        )
        .order_by(SftpUser.username)
    ):
        accounts[account_id].sftp_usernames.append(username)
    return list(accounts.values())


def _fetch_metrics(
    credentials: TenantCredentials, buckets: Sequence[_Bucket], hour: datetime
) -> dict[str, BucketMetrics]:
    if not buckets:
        return {}
    return credentials.bucket_metrics_many([bucket.name for bucket in buckets], hour - HOUR, hour)


def _observe(
    account: _Account,
    metrics: dict[str, BucketMetrics],
    storage: ObjectStorage,
    sftpgo: Callable[[], SftpGoClient],
    listing_fallback: bool,
) -> _Observed:
    observed_storage: dict[UUID, tuple[int, int | None, str]] = {}
    observed_metrics: dict[UUID, BucketMetrics] = {}
    for bucket in account.buckets:
        bucket_metrics = metrics.get(bucket.name)
        if bucket_metrics is not None:
            observed_metrics[bucket.id] = bucket_metrics
        if bucket_metrics is not None and bucket_metrics.storage_bytes is not None:
            observed_storage[bucket.id] = (bucket_metrics.storage_bytes, bucket_metrics.object_count, "backend")
        elif listing_fallback:
            usage = storage.bucket_usage(bucket.name)
            observed_storage[bucket.id] = (usage.bytes, usage.objects, "listing")
    sftp_bytes: int | None = None
    if account.sftp_usernames:
        client = sftpgo()
        sftp_bytes = sum(client.user_usage(username).used_bytes for username in account.sftp_usernames)
    return _Observed(observed_storage, observed_metrics, sftp_bytes)


def _previous_counters(
    session: Session, account_id: UUID, bucket_ids: Sequence[UUID], window_start: datetime
) -> dict[tuple[UUID, str], tuple[datetime, str]]:
    """The latest counter sample of each (bucket, metric) other than ``window_start``'s."""
    from primecloud.models.billing import UsageRecord

    rows = session.execute(
        select(UsageRecord.bucket_id, UsageRecord.metric, UsageRecord.period_start, UsageRecord.source)
        .where(
            UsageRecord.account_id == account_id,
            UsageRecord.bucket_id.in_(bucket_ids),
            UsageRecord.metric.in_(list(COUNTERS)),
            UsageRecord.period_start >= window_start - COUNTER_LOOKBACK,
            UsageRecord.period_start != window_start,
        )
        .ext(distinct_on(UsageRecord.bucket_id, UsageRecord.metric))
        .order_by(UsageRecord.bucket_id, UsageRecord.metric, UsageRecord.period_start.desc())
    )
    return {
        (bucket_id, metric): (period_start, source) for bucket_id, metric, period_start, source in rows if bucket_id
    }


def _rows(session: Session, account: _Account, observed: _Observed, hour: datetime) -> list[UsageRow]:
    def row(bucket_id: UUID | None, metric: str, quantity: int, start: datetime, source: str) -> UsageRow:
        return UsageRow(account.id, bucket_id, metric, Decimal(quantity), start, start + HOUR, source)

    rows: list[UsageRow] = []
    for bucket_id, (size, objects, source) in observed.storage.items():
        rows.append(row(bucket_id, UsageMetric.STORAGE_BYTES.value, size, hour, source))
        if objects is not None:
            rows.append(row(bucket_id, UsageMetric.OBJECT_COUNT.value, objects, hour, source))
    window_start = hour - HOUR
    cumulative = [bucket_id for bucket_id, m in observed.metrics.items() if m.traffic_mode == "cumulative"]
    previous = _previous_counters(session, account.id, cumulative, window_start) if cumulative else {}
    for bucket_id, bucket_metrics in observed.metrics.items():
        for metric, attribute in COUNTERS.items():
            value: int | None = getattr(bucket_metrics, attribute)
            if value is None:
                continue
            if bucket_metrics.traffic_mode == "window":
                rows.append(row(bucket_id, metric, value, window_start, "backend"))
                continue
            earlier = previous.get((bucket_id, metric))
            if earlier is not None and earlier[0] > window_start:
                continue  # a later hour is stored already and counted this traffic
            match = _COUNTER_SOURCE.match(earlier[1]) if earlier is not None else None
            if match is None:
                amount = 0  # the first sample: a baseline
            elif value >= int(match.group(1)):
                amount = value - int(match.group(1))
            else:
                amount = value  # the counter reset: what it counted since
            rows.append(row(bucket_id, metric, amount, window_start, f"{COUNTER_SOURCE_PREFIX}{value}"))
    if observed.sftp_bytes is not None:
        rows.append(row(None, UsageMetric.SFTP_STORAGE_BYTES.value, observed.sftp_bytes, hour, "sftpgo"))
    return rows


def _describe(exc: Exception) -> str:
    if isinstance(exc, PrimeCloudError):
        return f"{type(exc).__name__}: {exc.detail}"[:500]
    if isinstance(exc, DBAPIError):  # the driver's message, without the statement and its parameters
        return f"{type(exc).__name__}: {exc.orig}"[:500]
    return f"{type(exc).__name__}: {exc}"[:500]


def _retryable(exc: Exception) -> bool:
    return isinstance(exc, Unavailable | OperationalError | InterfaceError)


def collect_usage(
    account_ids: Sequence[UUID],
    period_start: datetime,
    *,
    credentials: TenantCredentials,
    storage: ObjectStorage,
    sftpgo: Callable[[], SftpGoClient],
    sessions: Sessions,
    listing_fallback: bool = True,
) -> CollectionReport:
    """Sample the accounts' usage for the hour of ``period_start``; each account in its own transaction.

    Bucket metrics are asked for once for all the accounts' buckets; when that fails, each
    account asks for its own, so an error tied to one account's buckets stays with it.
    """
    hour = hour_of(period_start)
    with sessions() as session:
        accounts = _targets(session, account_ids)
    report = CollectionReport(accounts_skipped=len(set(account_ids)) - len(accounts))
    shared_metrics: dict[str, BucketMetrics] | None
    try:
        shared_metrics = _fetch_metrics(credentials, [b for account in accounts for b in account.buckets], hour)
    except Exception as exc:  # each account asks again below and records its own failure
        logger.warning("bucket metrics failed for the batch; asking per account", extra={"error": _describe(exc)})
        shared_metrics = None
    for account in accounts:
        try:
            metrics = (
                shared_metrics if shared_metrics is not None else _fetch_metrics(credentials, account.buckets, hour)
            )
            observed = _observe(account, metrics, storage, sftpgo, listing_fallback)
            with sessions() as session:
                rows = _rows(session, account, observed, hour)
                inserted = insert_usage(session, rows)
        except Exception as exc:
            retryable = _retryable(exc)
            if isinstance(exc, PrimeCloudError) or retryable:
                logger.warning(
                    "usage collection failed", extra={"account_id": str(account.id), "error": _describe(exc)}
                )
            else:
                logger.exception("usage collection failed", extra={"account_id": str(account.id)})
            report.failures.append(AccountFailure(account.id, _describe(exc), retryable))
            continue
        report.accounts_collected += 1
        report.rows_inserted += inserted
        report.rows_skipped += len(rows) - inserted
    return report


# --------------------------------------------------------------------------- job_runs

_RECORD_RUN = text(
    """
    UPDATE job_runs SET
        status = CASE WHEN :failed AND status IN ('running', 'succeeded') THEN 'partial' ELSE status END,
        updated_at = now(),
        stats = stats || jsonb_build_object('collection', jsonb_build_object(
            'messages', COALESCE((stats #>> '{collection,messages}')::bigint, 0) + 1,
            'accounts_collected', COALESCE((stats #>> '{collection,accounts_collected}')::bigint, 0) + :collected,
            'accounts_failed', COALESCE((stats #>> '{collection,accounts_failed}')::bigint, 0) + :failed_count,
            'accounts_skipped', COALESCE((stats #>> '{collection,accounts_skipped}')::bigint, 0) + :skipped,
            'rows_inserted', COALESCE((stats #>> '{collection,rows_inserted}')::bigint, 0) + :inserted,
            'rows_skipped', COALESCE((stats #>> '{collection,rows_skipped}')::bigint, 0) + :duplicates,
            'failures', CASE
                WHEN jsonb_array_length(COALESCE(stats #> '{collection,failures}', '[]')) >= :max_failures
                THEN stats #> '{collection,failures}'
                ELSE COALESCE(stats #> '{collection,failures}', '[]') || :failures END,
            'last_message_at', now()))
    WHERE id = :run_id AND job = 'collect_usage'
    """
).bindparams(bindparam("failures", type_=JSONB))


def record_run(session: Session, run_id: UUID | None, report: CollectionReport, *, attempt: int = 1) -> UUID:
    """Add the batch's counts and failures to the run's job_runs row (``stats.collection``), atomically.

    The update adds to what other workers recorded (a row lock orders them) and marks the run
    ``partial`` when an account failed. Counts add up over deliveries: a redelivered message
    counts its accounts again, its already-stored rows under ``rows_skipped``, and its failures
    with their ``attempt``. A message that names no run (or a run since purged) gets a job_runs
    row of its own. Returns the row's id.
    """
    from sqlalchemy import insert

    from primecloud.models.system import JobRun

    failures = [
        {"subject": str(failure.account_id), "error": failure.error, "retryable": failure.retryable, "attempt": attempt}
        for failure in report.failures
    ]
    parameters = {
        "failed": bool(report.failures),
        "collected": report.accounts_collected,
        "failed_count": len(report.failures),
        "skipped": report.accounts_skipped,
        "inserted": report.rows_inserted,
        "duplicates": report.rows_skipped,
        "failures": failures,
        "max_failures": MAX_RECORDED_FAILURES,
    }
    if run_id is not None:
        updated = cast("CursorResult[Any]", session.execute(_RECORD_RUN, {**parameters, "run_id": run_id}))
        if updated.rowcount:
            return run_id
    now = clock.now()
    new_id = session.execute(
        insert(JobRun)
        .values(job="collect_usage", trigger="manual", status="running", started_at=now, stats={"params": {}})
        .returning(JobRun.id)
    ).scalar_one()
    session.execute(_RECORD_RUN, {**parameters, "run_id": new_id})
    session.execute(
        text(
            "UPDATE job_runs SET finished_at = now(), status = CASE WHEN status = 'partial' THEN 'partial'"
            " ELSE 'succeeded' END WHERE id = :run_id"
        ),
        {"run_id": new_id},
    )
    return UUID(str(new_id))
