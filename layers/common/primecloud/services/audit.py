"""Audit entries, written in the caller's transaction right beside the change they record."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy.orm import Session

from primecloud.actor import Actor
from primecloud.models.system import AuditLog

# Keys whose values never reach the audit log, whatever a caller passes in old/new.
_SECRET_KEYS = frozenset({"password", "new_password", "token", "secret", "secret_access_key", "key", "refresh_token"})


def _scrub(value: Any) -> Any:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        return {key: "***" if key in _SECRET_KEYS else _scrub(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    if isinstance(value, UUID):
        return str(value)
    return value


def record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    account_id: UUID | None = None,
    target_type: str | None = None,
    target_id: UUID | str | None = None,
    old: Any = None,
    new: Any = None,
    severity: str = "info",
    outcome: str = "success",
) -> AuditLog:
    entry = AuditLog(
        account_id=account_id,
        actor_user_id=actor.user_id,
        actor_api_key_id=actor.api_key_id,
        action=action,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        severity=severity,
        outcome=outcome,
        old_value=_scrub(old),
        new_value=_scrub(new),
        ip=actor.ip,
        user_agent=actor.user_agent,
        request_id=actor.request_id,
    )
    session.add(entry)
    return entry
