"""Notifications to users (in-app), created in the caller's transaction, and the caller's own inbox.

Every row belongs to one user, so ``read_at`` is that user's alone. A notification for a whole
account (or for some of its roles) is fanned out when it is created: one row per current member,
each keeping the ``account_id`` (members who join later do not get the account's past news, and
someone who leaves keeps what they were sent). ``notify`` is the only way rows are made; a row
with ``user_id`` NULL is never written.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import func, insert, literal, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from primecloud.access import Principal
from primecloud.adapters.email import Email, Mailer
from primecloud.enums import AccountRole, UserStatus
from primecloud.errors import NotFound, Unavailable
from primecloud.models.iam import Account, AccountMember, User
from primecloud.models.system import Notification
from primecloud.observability import logger
from primecloud.pagination import paginate
from primecloud.schemas.common import Page
from primecloud.schemas.notifications import NotificationOut, ReadAllResult

TITLE_MAX = 200
# Who sees invoices (docs/domain.md section 2), so who is told about money.
BILLING_ROLES = (AccountRole.OWNER.value, AccountRole.ADMIN.value)


def notify(
    session: Session,
    *,
    type: str,
    title: str,
    body: str = "",
    account_id: UUID | None = None,
    user_id: UUID | None = None,
    roles: Iterable[str] | None = None,
    data: dict[str, Any] | None = None,
) -> list[UUID]:
    """Notify ``user_id``, or (``user_id=None``) every member of ``account_id`` (only ``roles`` when given).

    Returns the ids of the rows made, one per recipient (none when the account has nobody to tell).
    Members whose user is deleted or anonymized are skipped.
    """
    if account_id is None and user_id is None:
        raise ValueError("a notification needs an account or a user")
    payload = data or {}
    title = title[:TITLE_MAX]  # account names are up to 200 characters themselves
    if user_id is not None:
        notification_id = uuid4()  # known now, without a flush in the middle of the caller's work
        session.add(
            Notification(
                id=notification_id,
                account_id=account_id,
                user_id=user_id,
                type=type,
                title=title,
                body=body,
                data=payload,
            )
        )
        return [notification_id]
    recipients = (
        select(
            literal(account_id).label("account_id"),
            AccountMember.user_id,
            literal(type).label("type"),
            literal(title).label("title"),
            literal(body).label("body"),
            literal(payload, JSONB).label("data"),
        )
        .join(User, User.id == AccountMember.user_id)
        .where(AccountMember.account_id == account_id, User.deleted_at.is_(None))
        .order_by(AccountMember.created_at, AccountMember.id)
    )
    if roles is not None:
        recipients = recipients.where(AccountMember.role.in_(list(roles)))
    columns = ["account_id", "user_id", "type", "title", "body", "data"]
    made = session.scalars(
        insert(Notification).from_select(columns, recipients).returning(Notification.id),
        execution_options={"synchronize_session": False},
    )
    return list(made)


def mark_emailed(session: Session, notification_ids: Iterable[UUID], now: datetime) -> None:
    """Record that the email behind these notifications went out."""
    ids = list(notification_ids)
    if ids:
        session.execute(
            update(Notification).where(Notification.id.in_(ids)).values(emailed_at=now),
            execution_options={"synchronize_session": False},
        )


def billing_recipients(session: Session, account: Account) -> list[str]:
    """Where billing mail goes: the account's billing email; without one, its owners' and admins' emails
    (owners first)."""
    if account.billing_email:
        return [account.billing_email]
    rows: Any = session.scalars(
        select(User.email)
        .join(AccountMember, AccountMember.user_id == User.id)
        .where(
            AccountMember.account_id == account.id,
            AccountMember.role.in_(BILLING_ROLES),
            User.deleted_at.is_(None),
            User.status == UserStatus.ACTIVE.value,
        )
        .order_by(AccountMember.role != AccountRole.OWNER.value, AccountMember.created_at, AccountMember.id)
    )
    return list(rows)


def mail_billing_contacts(
    session: Session,
    account: Account,
    mailer: Mailer,
    *,
    subject: str,
    text: str,
    notification_ids: Iterable[UUID],
    now: datetime,
) -> bool:
    """Best-effort email of news the notifications already carry: a failed send is logged and the
    notifications stay unmarked (the news stands); True when every recipient was sent it."""
    try:
        for recipient in billing_recipients(session, account):
            mailer.send(Email(to=recipient, subject=subject, text=text))
    except Unavailable:
        logger.warning("billing email not sent", extra={"account_id": str(account.id), "subject": subject})
        return False
    mark_emailed(session, notification_ids, now)
    return True


# --------------------------------------------------------------------------- the caller's inbox


def _mine(principal: Principal) -> list[Any]:
    """The caller's rows; an API key sees only its own account's (never personal ones such as invitations)."""
    conditions: list[Any] = [Notification.user_id == principal.user_id]
    if principal.api_key_id is not None:
        conditions.append(Notification.account_id == principal.api_key_account_id)
    return conditions


def list_mine(
    session: Session, principal: Principal, *, unread: bool | None, limit: int, cursor: str | None
) -> Page[NotificationOut]:
    """Newest first; ``unread=True`` only the unread ones, ``unread=False`` only the read ones."""
    statement = select(Notification).where(*_mine(principal))
    if unread is True:
        statement = statement.where(Notification.read_at.is_(None))
    elif unread is False:
        statement = statement.where(Notification.read_at.is_not(None))
    return paginate(
        session,
        statement,
        keys=[Notification.created_at, Notification.id],
        limit=limit,
        cursor=cursor,
        to_item=NotificationOut.model_validate,
    )


def mark_read(session: Session, principal: Principal, notification_id: UUID, now: datetime) -> NotificationOut:
    """Mark one of the caller's notifications read (reading it again keeps the first time); another's is 404."""
    notification = session.scalar(
        select(Notification).where(Notification.id == notification_id, *_mine(principal)).with_for_update()
    )
    if notification is None:
        raise NotFound("No such notification.")
    if notification.read_at is None:
        notification.read_at = now
        session.flush()
    return NotificationOut.model_validate(notification)


def mark_all_read(session: Session, principal: Principal, now: datetime) -> ReadAllResult:
    """Mark every unread notification of the caller read; returns how many changed."""
    result = session.execute(
        update(Notification)
        .where(*_mine(principal), Notification.read_at.is_(None))
        .values(read_at=now, updated_at=func.now()),
        execution_options={"synchronize_session": False},
    )
    return ReadAllResult(count=int(getattr(result, "rowcount", 0) or 0))
