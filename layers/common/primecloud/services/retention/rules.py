"""What the retention purge removes, and the moment before which each kind goes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from primecloud.config import Settings


ROW_BATCH = 1000  # rows per statement where the work is keyed by a parent (bucket sweep)


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
ACCOUNT_CANDIDATES = "a.deleted_at < :accounts AND a.settings->>'purged_at' IS NULL"
FINANCIAL = (
    "EXISTS (SELECT 1 FROM invoices f WHERE f.account_id = a.id)"
    " OR EXISTS (SELECT 1 FROM transactions f WHERE f.account_id = a.id)"
    " OR EXISTS (SELECT 1 FROM orders f WHERE f.account_id = a.id)"
    " OR EXISTS (SELECT 1 FROM subscriptions f WHERE f.account_id = a.id)"
)
BUCKET_CHILDREN = ("bucket_permissions", "object_tags", "object_favorites", "object_shares")


# Soft-deleted buckets past retention, not purged yet, outside the accounts being purged.
BUCKET_CANDIDATES = (
    "SELECT b.id, b.name FROM buckets b JOIN accounts a ON a.id = b.account_id"  # noqa: S608 - constants
    " WHERE b.deleted_at < :buckets AND b.status <> 'deleted'"
    f" AND NOT coalesce({ACCOUNT_CANDIDATES}, false)"
)


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
