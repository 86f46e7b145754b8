"""Invitations to join an account: what an admin sends, what the invitee accepts."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from primecloud.enums import AccountRole
from primecloud.schemas.common import Schema
from primecloud.schemas.iam import EmailAddress

InvitationStatus = Literal["pending", "accepted", "revoked", "expired"]


class InvitationCreate(Schema):
    email: EmailAddress
    role: AccountRole


class InvitationOut(Schema):
    """An invitation as admins see it; never its token or the token's hash."""

    id: UUID
    account_id: UUID
    email: str
    role: str
    status: InvitationStatus
    invited_by: UUID | None
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


class InvitationAccept(Schema):
    token: str = Field(min_length=1, max_length=256)


class InvitationAccepted(Schema):
    account_id: UUID
    role: str
