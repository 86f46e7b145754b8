"""The caller's notifications: what was sent, and whether it has been read."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import Field

from primecloud.schemas.common import Schema


class NotificationOut(Schema):
    id: UUID
    account_id: UUID | None = Field(description="The account it is about; null for personal ones (invitations)")
    type: str = Field(description='e.g. "invitation.received", "invoice.issued", "invoice.reminder"')
    title: str
    body: str
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None
    emailed_at: datetime | None = Field(description="When an email with the same news went out, if one did")


class ReadAllResult(Schema):
    count: int = Field(description="How many unread notifications were marked read")
