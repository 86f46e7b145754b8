"""Notifications to users (in-app), created in the caller's transaction."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy.orm import Session

from primecloud.models.system import Notification


def notify(
    session: Session,
    *,
    type: str,
    title: str,
    body: str = "",
    account_id: UUID | None = None,
    user_id: UUID | None = None,
    data: dict[str, Any] | None = None,
) -> Notification:
    """One notification; ``user_id=None`` addresses every member of ``account_id``."""
    if account_id is None and user_id is None:
        raise ValueError("a notification needs an account or a user")
    notification = Notification(
        account_id=account_id, user_id=user_id, type=type, title=title, body=body, data=data or {}
    )
    session.add(notification)
    return notification
