"""Reading the audit log: an account's entries for its owners and admins, every entry for staff.

Entries are never changed or deleted through the API (there is no such route); only the
retention purge removes them, once past their retention.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from primecloud.errors import Invalid
from primecloud.models.system import AuditLog
from primecloud.pagination import paginate
from primecloud.schemas.audit import AuditLogOut
from primecloud.schemas.common import Page

PREFIX_MARKS = (".", "*")


@dataclass(frozen=True)
class AuditFilter:
    """``action`` is exact ("bucket.create") or a prefix when it ends with "." or "*" ("bucket.")."""

    action: str | None = None
    actor_user_id: UUID | None = None
    target_type: str | None = None
    target_id: str | None = None
    severity: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    account_id: UUID | None = None


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(statement: Select[Any], where: AuditFilter) -> Select[Any]:
    if where.since is not None and where.until is not None and where.since >= where.until:
        raise Invalid(
            "query.from: must be before query.to",
            errors=[{"field": "query.from", "message": "must be before query.to", "type": "range"}],
        )
    if where.action:
        if where.action.endswith(PREFIX_MARKS):
            prefix = where.action.rstrip("*")
            statement = statement.where(AuditLog.action.like(_escape_like(prefix) + "%", escape="\\"))
        else:
            statement = statement.where(AuditLog.action == where.action)
    if where.account_id is not None:
        statement = statement.where(AuditLog.account_id == where.account_id)
    if where.actor_user_id is not None:
        statement = statement.where(AuditLog.actor_user_id == where.actor_user_id)
    if where.target_type is not None:
        statement = statement.where(AuditLog.target_type == where.target_type)
    if where.target_id is not None:
        statement = statement.where(AuditLog.target_id == where.target_id)
    if where.severity is not None:
        statement = statement.where(AuditLog.severity == where.severity)
    if where.since is not None:
        statement = statement.where(AuditLog.created_at >= where.since)
    if where.until is not None:
        statement = statement.where(AuditLog.created_at < where.until)
    return statement


def _page(session: Session, statement: Select[Any], limit: int, cursor: str | None) -> Page[AuditLogOut]:
    return paginate(
        session,
        statement,
        keys=[AuditLog.created_at, AuditLog.id],
        limit=limit,
        cursor=cursor,
        to_item=AuditLogOut.model_validate,
    )


def list_for_account(
    session: Session, account_id: UUID, where: AuditFilter, *, limit: int, cursor: str | None
) -> Page[AuditLogOut]:
    """The account's entries, newest first (the index on (account_id, created_at) serves it)."""
    statement = _filtered(select(AuditLog).where(AuditLog.account_id == account_id), where)
    return _page(session, statement, limit, cursor)


def list_all(session: Session, where: AuditFilter, *, limit: int, cursor: str | None) -> Page[AuditLogOut]:
    """Every entry (platform staff), newest first; ``where.account_id`` narrows it to one account."""
    return _page(session, _filtered(select(AuditLog), where), limit, cursor)
