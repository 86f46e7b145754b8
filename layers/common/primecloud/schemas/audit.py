"""The audit log as the API shows it: entries and the filters of a listing."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from primecloud.enums import AuditOutcome, AuditSeverity
from primecloud.schemas.common import Schema


class AuditLogOut(Schema):
    id: UUID
    created_at: datetime
    account_id: UUID | None
    actor_user_id: UUID | None
    actor_api_key_id: UUID | None
    action: str
    target_type: str | None
    target_id: str | None
    severity: AuditSeverity
    outcome: AuditOutcome
    old_value: dict[str, Any] | None
    new_value: dict[str, Any] | None
    ip: str | None
    user_agent: str | None
    request_id: str | None
