"""System tables: audit log, notifications, job runs, idempotency keys, login rate limits."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, event, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

import primecloud.models.iam  # noqa: F401 - loads the tables its foreign keys name
from primecloud.models.base import Base, Timestamps, UUIDPrimaryKey
from primecloud.models.enums import AuditOutcome, AuditSeverity, JobRunStatus, JobTrigger, one_of


class AccountlessRows:
    """Rows that may belong to no account (a sign-in, a personal notification).

    Inserted without RETURNING (the id is made here, timestamps load on first access): under
    row-level security a transaction narrowed to one account may write such a row for another
    user (an invitee's notification) but not read it back, and RETURNING is a read.
    """

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=func.gen_random_uuid())
    __mapper_args__ = {"eager_defaults": False}


@event.listens_for(AccountlessRows, "before_insert", propagate=True)
def _id_made_here(_mapper: Any, _connection: Any, row: AccountlessRows) -> None:
    # ORM inserts only: a Core INSERT ... SELECT keeps the server default (one id per row).
    if row.id is None:
        row.id = uuid.uuid4()


class AuditLog(AccountlessRows, Base, Timestamps):
    """Who did what to which target, and how it went; it outlives the actors it names."""

    __tablename__ = "audit_logs"

    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    actor_api_key_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL"), index=True
    )
    action: Mapped[str] = mapped_column(String(64), index=True)  # "bucket.create", "auth.login"
    target_type: Mapped[str | None] = mapped_column(String(64))
    target_id: Mapped[str | None] = mapped_column(String(255))  # not a foreign key: targets get deleted
    severity: Mapped[str] = mapped_column(String(16), server_default=AuditSeverity.INFO.value)
    outcome: Mapped[str] = mapped_column(String(16), server_default=AuditOutcome.SUCCESS.value)
    old_value: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    new_value: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (
        Index(None, "account_id", "created_at"),  # an account's log, newest first; serves the FK too
        Index(None, "created_at"),  # the platform-wide log and retention
        one_of("severity", AuditSeverity),
        one_of("outcome", AuditOutcome),
    )


class Notification(AccountlessRows, Base, Timestamps):
    __tablename__ = "notifications"

    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    # The recipient: notify() writes one row per member for account-wide news, so read_at is per person.
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(64))  # "invoice.issued", "invoice.reminder", ...
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, server_default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    read_at: Mapped[datetime | None]
    emailed_at: Mapped[datetime | None]

    __table_args__ = (
        Index(None, "user_id", "read_at"),  # unread first; serves the user_id FK too
        CheckConstraint("account_id IS NOT NULL OR user_id IS NOT NULL", name="has_recipient"),
    )


class JobRun(Base, UUIDPrimaryKey, Timestamps):
    """One run of a scheduled job: when, how it was started, how it ended, its counters."""

    __tablename__ = "job_runs"

    job: Mapped[str] = mapped_column(String(64))
    trigger: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), server_default=JobRunStatus.RUNNING.value)
    started_at: Mapped[datetime] = mapped_column(server_default=func.now())
    finished_at: Mapped[datetime | None]
    stats: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index(None, "job", "started_at"),
        one_of("trigger", JobTrigger),
        one_of("status", JobRunStatus),
    )


class IdempotencyKey(AccountlessRows, Base, Timestamps):
    """A client's Idempotency-Key: the first request's outcome, replayed for retries."""

    __tablename__ = "idempotency_keys"

    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(1024))
    request_hash: Mapped[str] = mapped_column(String(64))  # a reused key with another body is refused
    status_code: Mapped[int | None]  # None: the first request is still running
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    locked_until: Mapped[datetime | None]
    expires_at: Mapped[datetime] = mapped_column(index=True)

    # The unique index leads with user_id, so it also serves the user_id foreign key.
    __table_args__ = (UniqueConstraint("user_id", "key"),)


class RateLimit(Base, UUIDPrimaryKey, Timestamps):
    """A fixed-window counter per key (e.g. login attempts per email and per IP)."""

    __tablename__ = "rate_limits"

    bucket_key: Mapped[str] = mapped_column(String(255), unique=True)
    window_start: Mapped[datetime]
    count: Mapped[int] = mapped_column(server_default=text("0"))


__all__ = ["AuditLog", "IdempotencyKey", "JobRun", "Notification", "RateLimit"]
