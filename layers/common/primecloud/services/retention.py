"""Retention: hard-delete or anonymize what is past its time (the purge_retention job).

What goes, and when (every period is a setting, see ``primecloud.config``):

- Spent credentials, ``retention_spent_token_days`` after they died: expired or revoked sessions,
  expired or used password-reset tokens, expired/accepted/revoked invitations, expired/revoked/
  exhausted share links, old login rate-limit windows; idempotency keys once expired.
- Read notifications older than ``retention_notification_days``; audit entries older than
  ``retention_audit_days`` (critical ones after ``retention_audit_critical_days``); invoiced
  usage records older than ``retention_usage_months``; job runs older than ``retention_job_run_days``.
- Soft-deleted accounts after ``retention_deleted_account_days``: their access keys and SFTP users,
  then their buckets (objects first) are removed from the backends, then the rows. An account with
  financial records (invoices, transactions, orders, subscriptions: RESTRICT foreign keys) is
  not deleted but anonymized and stripped of everything else; its uninvoiced usage goes too.
  Members whose only account it was are anonymized as DELETE /v1/me does.
- Soft-deleted buckets after ``retention_deleted_bucket_days``: once no access key's policy names
  the bucket any more (re-synced first; a failure keeps it), objects and the bucket are removed
  from the backend, their permissions, tags, favorites and share links deleted, and the row is
  marked ``deleted``. The row itself stays while usage records name it (``usage_records.bucket_id``
  is NO ACTION on purpose: an uninvoiced record is still billed next month, an invoiced one is
  evidence until the usage retention ends); the final sweep deletes it once nothing names it.

How: row kinds are deleted in ranges of table pages (``ctid`` range scans), so each batch is one
short transaction whatever the table's size, the whole table is read once, and a batch adapts its
range to stay near ``TARGET_BATCH_SECONDS``. Accounts and buckets go one per transaction, the
backend first (each backend call tolerates "already gone", so a re-run after a failure finishes
the job). Row kinds run before the accounts, so a dry run (counts only, nothing deleted) reports
exactly what a real run deletes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.orm import Session

from primecloud.actor import Actor
from primecloud.db import as_purge_role
from primecloud.errors import PrimeCloudError
from primecloud.observability import logger

if TYPE_CHECKING:
    from primecloud.adapters.sftpgo import SftpGoClient
    from primecloud.adapters.storage import ObjectStorage, TenantCredentials
    from primecloud.config import Settings
    from primecloud.jobs import JobStats

JOB = "purge_retention"
TARGET_BATCH_SECONDS = 0.25
FIRST_BATCH_PAGES = 256  # ~10,000 small rows: well under the target on any table
MAX_BATCH_PAGES = 1 << 20
MAX_PAGE = (1 << 32) - 1  # the highest block number a tid can hold
ROW_BATCH = 1000  # rows per statement where the work is keyed by a parent (bucket sweep)
MAX_OBJECT_VERSIONS_PER_BUCKET = 200_000  # per run; a larger bucket is finished by the next runs


@dataclass(frozen=True)
class RowRule:
    """One kind of row that expires on its own: ``condition`` over the table's columns."""

    kind: str
    table: str
    condition: str

    @property
    def parameters(self) -> set[str]:
        return set(re.findall(r"(?<!:):(\w+)", self.condition))


ROW_RULES: tuple[RowRule, ...] = (
    RowRule("sessions", "sessions", "expires_at < :spent OR revoked_at < :spent"),
    RowRule("password_reset_tokens", "password_reset_tokens", "expires_at < :spent OR used_at < :spent"),
    RowRule("invitations", "invitations", "expires_at < :spent OR accepted_at < :spent OR revoked_at < :spent"),
    RowRule(
        "share_links",
        "object_shares",
        "expires_at < :spent OR revoked_at < :spent"
        " OR (max_downloads IS NOT NULL AND download_count >= max_downloads AND updated_at < :spent)",
    ),
    RowRule("rate_limits", "rate_limits", "window_start < :spent"),
    RowRule("idempotency_keys", "idempotency_keys", "expires_at < :now"),
    RowRule("notifications", "notifications", "read_at IS NOT NULL AND created_at < :notifications"),
    RowRule(
        "audit_logs",
        "audit_logs",
        "created_at < :audit_critical OR (created_at < :audit AND severity <> 'critical')",
    ),
    RowRule("usage_records", "usage_records", "invoice_id IS NOT NULL AND period_start < :usage"),
    RowRule("job_runs", "job_runs", "started_at < :job_runs"),
)

# What accounts and buckets report (row kinds report under their RowRule.kind).
ENTITY_KINDS = (
    "accounts_deleted",
    "accounts_anonymized",
    "users_anonymized",
    "account_buckets",
    "access_keys",
    "sftp_users",
    "buckets",
    "bucket_rows",
)

# Soft-deleted accounts past retention that were not purged yet (an anonymized one carries purged_at).
_ACCOUNT_CANDIDATES = "a.deleted_at < :accounts AND a.settings->>'purged_at' IS NULL"
_FINANCIAL = (
    "EXISTS (SELECT 1 FROM invoices f WHERE f.account_id = a.id)"
    " OR EXISTS (SELECT 1 FROM transactions f WHERE f.account_id = a.id)"
    " OR EXISTS (SELECT 1 FROM orders f WHERE f.account_id = a.id)"
    " OR EXISTS (SELECT 1 FROM subscriptions f WHERE f.account_id = a.id)"
)
_BUCKET_CHILDREN = ("bucket_permissions", "object_tags", "object_favorites", "object_shares")


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months earlier (the day clamped to the month's end)."""
    month_index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(month_index, 12)
    month += 1
    next_month = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=moment.tzinfo)
    last_day = (next_month - timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


def cutoffs(now: datetime, settings: Settings) -> dict[str, datetime]:
    """Each retention period as the moment before which things go."""
    return {
        "now": now,
        "spent": now - timedelta(days=settings.retention_spent_token_days),
        "notifications": now - timedelta(days=settings.retention_notification_days),
        "audit": now - timedelta(days=settings.retention_audit_days),
        "audit_critical": now - timedelta(days=settings.retention_audit_critical_days),
        "usage": months_before(now, settings.retention_usage_months),
        "job_runs": now - timedelta(days=settings.retention_job_run_days),
        "buckets": now - timedelta(days=settings.retention_deleted_bucket_days),
        "accounts": now - timedelta(days=settings.retention_deleted_account_days),
    }


@dataclass(frozen=True)
class Backends:
    """Where purged things live outside the database; each built on first use."""

    storage: Callable[[], ObjectStorage]
    credentials: Callable[[], TenantCredentials]
    sftpgo: Callable[[], SftpGoClient]


@dataclass
class TransactionClock:
    """Measures every transaction the purge opens: how many, and the longest."""

    count: int = 0
    longest: float = 0.0
    _seen: list[float] = field(default_factory=list, repr=False)

    @contextmanager
    def transaction(self, engine: Engine) -> Iterator[Connection]:
        started = time.perf_counter()
        try:
            with engine.begin() as connection:
                yield connection
        finally:
            elapsed = time.perf_counter() - started
            self.count += 1
            self.longest = max(self.longest, elapsed)

    @contextmanager
    def session(self, engine: Engine) -> Iterator[Session]:
        started = time.perf_counter()
        try:
            with Session(engine, expire_on_commit=False) as session, session.begin():
                yield session
        finally:
            elapsed = time.perf_counter() - started
            self.count += 1
            self.longest = max(self.longest, elapsed)


@dataclass
class Purge:
    """One run of the purge over ``engine`` at ``now``; ``stats`` gets a count per kind."""

    engine: Engine
    backends: Backends
    stats: JobStats
    now: datetime
    settings: Settings
    dry_run: bool = False
    clock: TransactionClock = field(default_factory=TransactionClock)
    actor: Actor = field(default_factory=lambda: Actor.system(JOB))

    def __post_init__(self) -> None:
        self.cut = cutoffs(self.now, self.settings)

    def run(self) -> None:
        self.stats.details["dry_run"] = self.dry_run
        self.stats.details["cutoffs"] = {name: moment.isoformat() for name, moment in self.cut.items()}
        for rule in ROW_RULES:
            self.stats.add(rule.kind, self.count_rows(rule) if self.dry_run else self.delete_rows(rule))
        for kind in ENTITY_KINDS:  # reported even when nothing was due
            self.stats.add(kind, 0)
        if self.dry_run:
            self.count_accounts_buckets_and_rows()
        else:
            self.purge_accounts()
            self.purge_buckets()
            self.stats.add("bucket_rows", self.sweep_bucket_rows())
        self.stats.details["transactions"] = self.clock.count
        self.stats.details["longest_transaction_ms"] = round(self.clock.longest * 1000, 1)

    def _params(self, names: set[str]) -> dict[str, Any]:
        return {name: self.cut[name] for name in names}

    # ------------------------------------------------------------------ rows that expire on their own

    def count_rows(self, rule: RowRule) -> int:
        with self.clock.transaction(self.engine) as connection:
            return int(
                connection.execute(
                    text(f"SELECT count(*) FROM {rule.table} WHERE {rule.condition}"),  # noqa: S608 - constants
                    self._params(rule.parameters),
                ).scalar_one()
            )

    def delete_rows(self, rule: RowRule) -> int:
        """Delete in ranges of the table's pages, each range one transaction sized to the target time."""
        with self.clock.transaction(self.engine) as connection:
            pages = int(
                connection.execute(
                    text("SELECT pg_relation_size(CAST(:table AS regclass)) / current_setting('block_size')::int"),
                    {"table": rule.table},
                ).scalar_one()
            )
        statement = text(
            f"DELETE FROM {rule.table} WHERE ctid >= CAST(:low AS tid) AND ctid < CAST(:high AS tid)"  # noqa: S608
            f" AND ({rule.condition})"
        )
        params = self._params(rule.parameters)
        deleted, first, step = 0, 0, FIRST_BATCH_PAGES
        while first < pages:
            # The last range is open-ended: it also takes rows that landed on pages added meanwhile.
            last = first + step if first + step < pages else MAX_PAGE
            started = time.perf_counter()
            with self.clock.transaction(self.engine) as connection:
                if rule.table in _PURGE_ROLE_TABLES:
                    as_purge_role(connection)
                deleted += connection.execute(
                    statement, {**params, "low": f"({first},0)", "high": f"({last},0)"}
                ).rowcount
            elapsed = time.perf_counter() - started
            first = last
            # Size the next range for the target time, changing it at most twofold per batch.
            scale = min(2.0, max(0.5, TARGET_BATCH_SECONDS / max(elapsed, 0.001)))
            step = min(max(int(step * scale), 1), MAX_BATCH_PAGES)
        return deleted

    # ------------------------------------------------------------------ accounts

    def _account_ids(self) -> list[tuple[UUID, bool]]:
        with self.clock.transaction(self.engine) as connection:
            return [
                (row.id, bool(row.financial))
                for row in connection.execute(
                    text(
                        f"SELECT a.id, ({_FINANCIAL}) AS financial FROM accounts a"  # noqa: S608 - constants
                        f" WHERE {_ACCOUNT_CANDIDATES} ORDER BY a.deleted_at, a.id"
                    ),
                    {"accounts": self.cut["accounts"]},
                )
            ]

    def purge_accounts(self) -> None:
        for account_id, financial in self._account_ids():
            try:
                self._purge_account_backends(account_id)
                shed = self._shed_account_rows(account_id, financial)
                self._purge_account_rows(account_id, financial, shed)
            except PrimeCloudError as exc:
                logger.warning("account purge failed", extra={"account_id": str(account_id), "error": exc.detail})
                self.stats.fail(f"account:{account_id}", f"{type(exc).__name__}: {exc.detail}")

    def _purge_account_backends(self, account_id: UUID) -> None:
        with self.clock.transaction(self.engine) as connection:
            buckets = connection.execute(
                text("SELECT id, name FROM buckets WHERE account_id = :a AND status <> 'deleted' ORDER BY id"),
                {"a": account_id},
            ).all()
            key_ids = list(
                connection.execute(
                    text("SELECT access_key_id FROM access_keys WHERE account_id = :a AND status <> 'revoked'"),
                    {"a": account_id},
                ).scalars()
            )
            logins = list(
                connection.execute(
                    text("SELECT username FROM sftp_users WHERE account_id = :a AND deleted_at IS NULL"),
                    {"a": account_id},
                ).scalars()
            )
        # Credentials first: a bucket name is released only once no credential can name it.
        if key_ids:
            credentials = self.backends.credentials()
            for key_id in key_ids:
                credentials.delete(key_id)
        if logins:
            from primecloud.services.sftp_users import _s3_access_key_id as s3_access_key_id

            client = self.backends.sftpgo()
            for login in logins:
                sftp_key_id = s3_access_key_id(client, login)
                if sftp_key_id is not None:
                    self.backends.credentials().delete(sftp_key_id)
                client.delete_user(login)
        for bucket in buckets:
            self._remove_backend_bucket(bucket.id, bucket.name)

    def _shed_account_rows(self, account_id: UUID, financial: bool) -> int:
        """Before the account's own transaction, shed its bulk in bounded batches: its usage records
        (only the uninvoiced ones when the account stays) and, when it goes, its audit entries' link
        (audit_logs.account_id is SET NULL). Returns the usage records deleted."""
        usage = _UNINVOICED_USAGE_BATCH if financial else _USAGE_BATCH
        statements = [usage] if financial else [usage, _AUDIT_UNLINK_BATCH]
        usage_deleted = 0
        for statement in statements:
            while True:
                with self.clock.transaction(self.engine) as connection:
                    if statement is _AUDIT_UNLINK_BATCH:
                        as_purge_role(connection)
                    changed = connection.execute(text(statement), {"a": account_id, "n": ROW_BATCH * 10}).rowcount
                if statement is usage:
                    usage_deleted += changed
                if changed < ROW_BATCH * 10:
                    break
        return usage_deleted

    def _purge_account_rows(self, account_id: UUID, financial: bool, usage_shed: int) -> None:
        from primecloud.models.iam import Account, User
        from primecloud.services import audit, users

        with self.clock.session(self.engine) as session:
            account = session.scalar(
                select(Account)
                .where(
                    Account.id == account_id,
                    Account.deleted_at < self.cut["accounts"],
                    Account.settings["purged_at"].astext.is_(None),
                )
                .with_for_update()
            )
            if account is None:  # purged or restored meanwhile
                return
            params = {"a": account_id}
            counts = {
                "account_buckets": session.execute(
                    text("SELECT count(*) FROM buckets WHERE account_id = :a AND status <> 'deleted'"), params
                ).scalar_one(),
                "access_keys": session.execute(
                    text("SELECT count(*) FROM access_keys WHERE account_id = :a"), params
                ).scalar_one(),
                "sftp_users": session.execute(
                    text("SELECT count(*) FROM sftp_users WHERE account_id = :a AND deleted_at IS NULL"), params
                ).scalar_one(),
            }
            sole_members = list(
                session.scalars(
                    select(User)
                    .from_statement(text(_SOLE_MEMBERS + " AND m.account_id = :a ORDER BY u.id FOR UPDATE OF u"))
                    .params(a=account_id)
                )
            )
            if financial:
                counts["usage_records"] = usage_shed + self._strip_financial_account(session, account)
                counts["accounts_anonymized"] = 1
            else:
                session.execute(text("DELETE FROM accounts WHERE id = :a"), params)
                counts["accounts_deleted"] = 1
            for user in sole_members:
                users.anonymize_user(session, user, self.now)
            counts["users_anonymized"] = len(sole_members)
            audit.record(
                session,
                self.actor,
                "account.purge",
                account_id=account_id if financial else None,
                target_type="account",
                target_id=account_id,
                new={"anonymized" if financial else "deleted": True, **counts},
                severity="warning",
            )
        for kind, amount in counts.items():
            self.stats.add(kind, int(amount))

    def _strip_financial_account(self, session: Session, account: Any) -> int:
        """Keep the account row for its invoices, anonymized; everything else of it goes."""
        params = {"a": account.id}
        for table in _BUCKET_CHILDREN:
            session.execute(
                text(f"DELETE FROM {table} WHERE bucket_id IN (SELECT id FROM buckets WHERE account_id = :a)"),  # noqa: S608
                params,
            )
        for table in ("account_members", "invitations", "api_keys", "access_keys", "sftp_users", "notifications"):
            session.execute(text(f"DELETE FROM {table} WHERE account_id = :a"), params)  # noqa: S608 - constants
        session.execute(text("DELETE FROM idempotency_keys WHERE account_id = :a"), params)
        usage = (
            session.connection()
            .execute(text("DELETE FROM usage_records WHERE account_id = :a AND invoice_id IS NULL"), params)
            .rowcount
        )
        session.execute(
            text(
                "UPDATE buckets SET status = 'deleted', deleted_at = coalesce(deleted_at, :now)"
                " WHERE account_id = :a AND status <> 'deleted'"
            ),
            {**params, "now": self.now},
        )
        account.name = "Deleted account"
        account.slug = f"deleted-{account.id.hex}"
        account.billing_email = None
        account.status = "closed"
        account.settings = {"purged_at": self.now.isoformat()}
        return int(usage)

    # ------------------------------------------------------------------ buckets

    def _remove_backend_bucket(self, bucket_id: UUID, name: str) -> None:
        """Empty and delete the backend bucket; gone already is fine. A live bucket of the same name
        (the name was freed and taken again) is not this one's to delete."""
        from primecloud.adapters.storage import BucketNotFound

        with self.clock.transaction(self.engine) as connection:
            live_twin = connection.execute(
                text("SELECT 1 FROM buckets WHERE name = :n AND deleted_at IS NULL AND id <> :b"),
                {"n": name, "b": bucket_id},
            ).first()
        if live_twin is not None:
            return
        storage = self.backends.storage()
        try:
            removed = storage.empty_bucket(name, max_versions=MAX_OBJECT_VERSIONS_PER_BUCKET)
            if removed >= MAX_OBJECT_VERSIONS_PER_BUCKET:
                raise _BucketNotEmptyYet(name)
            storage.delete_bucket(name)
        except BucketNotFound:
            removed = 0
        self.stats.details["object_versions_deleted"] = self.stats.details.get("object_versions_deleted", 0) + removed

    def _withdraw_grants(self, bucket_id: UUID) -> None:
        """Before the name is released, every access key that could name the bucket is set to the
        account's live buckets again (under the keys' locks): a policy left naming it by a race or a
        lost compensation would reach whoever takes the name next. A failure keeps the bucket."""
        from primecloud.services import access_keys

        with self.clock.session(self.engine) as session:
            account_id = session.execute(
                text("SELECT account_id FROM buckets WHERE id = :b"), {"b": bucket_id}
            ).scalar_one()
            access_keys.refresh_account_policies(session, self.backends.credentials(), account_id, bucket_id=bucket_id)

    def _bucket_ids(self) -> list[tuple[UUID, str]]:
        with self.clock.transaction(self.engine) as connection:
            return [
                (row.id, row.name)
                for row in connection.execute(
                    text(f"{_BUCKET_CANDIDATES} ORDER BY b.deleted_at, b.id"),
                    {"buckets": self.cut["buckets"], "accounts": self.cut["accounts"]},
                )
            ]

    def purge_buckets(self) -> None:
        from primecloud.services import audit

        for bucket_id, name in self._bucket_ids():
            try:
                self._withdraw_grants(bucket_id)
                self._remove_backend_bucket(bucket_id, name)
            except _BucketNotEmptyYet:
                self.stats.details.setdefault("buckets_continued_next_run", []).append(str(bucket_id))
                continue
            except PrimeCloudError as exc:
                logger.warning("bucket purge failed", extra={"bucket_id": str(bucket_id), "error": exc.detail})
                self.stats.fail(f"bucket:{bucket_id}", f"{type(exc).__name__}: {exc.detail}")
                continue
            with self.clock.session(self.engine) as session:
                for table in _BUCKET_CHILDREN:
                    session.execute(text(f"DELETE FROM {table} WHERE bucket_id = :b"), {"b": bucket_id})  # noqa: S608
                account_id = session.execute(
                    text("UPDATE buckets SET status = 'deleted' WHERE id = :b RETURNING account_id"), {"b": bucket_id}
                ).scalar_one()
                audit.record(
                    session,
                    self.actor,
                    "bucket.purge",
                    account_id=account_id,
                    target_type="bucket",
                    target_id=bucket_id,
                    new={"name": name, "status": "deleted"},
                    severity="warning",
                )
            self.stats.add("buckets")

    def sweep_bucket_rows(self) -> int:
        """Delete purged bucket rows no usage record names any more, a bounded batch per transaction."""
        deleted = 0
        while True:
            with self.clock.transaction(self.engine) as connection:
                batch = connection.execute(
                    text(
                        "DELETE FROM buckets WHERE id IN (SELECT b.id FROM buckets b WHERE b.status = 'deleted'"
                        " AND NOT EXISTS (SELECT 1 FROM usage_records u WHERE u.bucket_id = b.id)"
                        " LIMIT :n FOR UPDATE SKIP LOCKED)"
                    ),
                    {"n": ROW_BATCH},
                ).rowcount
            deleted += batch
            if batch < ROW_BATCH:
                return deleted

    # ------------------------------------------------------------------ dry run

    def count_accounts_buckets_and_rows(self) -> None:
        """What purge_accounts, purge_buckets and the sweep would do, as the same counts."""
        params = {name: self.cut[name] for name in ("accounts", "buckets", "usage")}
        candidates = f"SELECT a.id, ({_FINANCIAL}) AS financial FROM accounts a WHERE {_ACCOUNT_CANDIDATES}"  # noqa: S608
        with self.clock.transaction(self.engine) as connection:
            row = connection.execute(
                text(
                    f"WITH c AS ({candidates}) SELECT"  # noqa: S608 - constants
                    " (SELECT count(*) FROM c WHERE NOT financial) AS deleted,"
                    " (SELECT count(*) FROM c WHERE financial) AS anonymized,"
                    " (SELECT count(*) FROM buckets b JOIN c ON c.id = b.account_id WHERE b.status <> 'deleted')"
                    "   AS account_buckets,"
                    " (SELECT count(*) FROM access_keys k JOIN c ON c.id = k.account_id) AS access_keys,"
                    " (SELECT count(*) FROM sftp_users s JOIN c ON c.id = s.account_id WHERE s.deleted_at IS NULL)"
                    "   AS sftp_users,"
                    " (SELECT count(*) FROM usage_records u JOIN c ON c.id = u.account_id"
                    "   WHERE c.financial AND u.invoice_id IS NULL) AS usage_records,"
                    " (SELECT count(DISTINCT u.id) FROM users u JOIN account_members m ON m.user_id = u.id"
                    "   JOIN c ON c.id = m.account_id"
                    "   WHERE u.status <> 'deleted' AND NOT u.is_platform_admin AND NOT EXISTS ("
                    "     SELECT 1 FROM account_members o WHERE o.user_id = u.id"
                    "     AND o.account_id NOT IN (SELECT id FROM c))) AS users_anonymized,"
                    f" (SELECT count(*) FROM ({_BUCKET_CANDIDATES}) x) AS buckets,"
                    " (SELECT count(*) FROM buckets b WHERE"
                    "   b.account_id NOT IN (SELECT id FROM c WHERE NOT financial)"
                    "   AND (b.status = 'deleted' OR b.deleted_at < :buckets OR b.account_id IN (SELECT id FROM c))"
                    "   AND NOT EXISTS (SELECT 1 FROM usage_records u WHERE u.bucket_id = b.id"
                    "     AND NOT (u.invoice_id IS NOT NULL AND u.period_start < :usage)"
                    "     AND NOT (u.invoice_id IS NULL AND u.account_id IN (SELECT id FROM c)))) AS bucket_rows"
                ),
                params,
            ).one()
        self.stats.add("usage_records", int(row.usage_records))
        for kind in ("account_buckets", "access_keys", "sftp_users", "users_anonymized"):
            self.stats.add(kind, int(getattr(row, kind)))
        self.stats.add("accounts_deleted", int(row.deleted))
        self.stats.add("accounts_anonymized", int(row.anonymized))
        self.stats.add("buckets", int(row.buckets))
        self.stats.add("bucket_rows", int(row.bucket_rows))


class _BucketNotEmptyYet(Exception):
    """A bucket with more object versions than one run deletes: the next run continues."""


# Bounded batches that shed an account's bulk before its own transaction.
_USAGE_BATCH = "DELETE FROM usage_records WHERE id IN (SELECT id FROM usage_records WHERE account_id = :a LIMIT :n)"
_UNINVOICED_USAGE_BATCH = (
    "DELETE FROM usage_records WHERE id IN"
    " (SELECT id FROM usage_records WHERE account_id = :a AND invoice_id IS NULL LIMIT :n)"
)
# The application role only inserts and reads audit entries; the purge deletes and unlinks them as
# primecloud_purge (SET LOCAL ROLE for that transaction, migration 0003).
_PURGE_ROLE_TABLES = frozenset({"audit_logs"})
_AUDIT_UNLINK_BATCH = (
    "UPDATE audit_logs SET account_id = NULL WHERE id IN (SELECT id FROM audit_logs WHERE account_id = :a LIMIT :n)"
)

# Members of an account who are members of no other account (their only account is being purged).
_SOLE_MEMBERS = (
    "SELECT u.* FROM users u JOIN account_members m ON m.user_id = u.id"
    " WHERE u.status <> 'deleted' AND NOT u.is_platform_admin"
    " AND NOT EXISTS (SELECT 1 FROM account_members o WHERE o.user_id = u.id AND o.account_id <> m.account_id)"
)

# Soft-deleted buckets past retention, not purged yet, outside the accounts being purged.
_BUCKET_CANDIDATES = (
    "SELECT b.id, b.name FROM buckets b JOIN accounts a ON a.id = b.account_id"  # noqa: S608 - constants
    " WHERE b.deleted_at < :buckets AND b.status <> 'deleted'"
    f" AND NOT coalesce({_ACCOUNT_CANDIDATES}, false)"
)


def run(
    engine: Engine, backends: Backends, stats: JobStats, *, now: datetime, settings: Settings, dry_run: bool
) -> None:
    Purge(engine, backends, stats, now, settings, dry_run=dry_run).run()
