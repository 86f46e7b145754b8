"""Identity and tenancy schemas: users, accounts."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from primecloud.schemas.common import DecimalString, Schema


class UserOut(Schema):
    id: UUID
    email: str
    name: str
    status: str
    is_platform_admin: bool
    email_verified_at: datetime | None
    last_login_at: datetime | None
    created_at: datetime


class AccountOut(Schema):
    id: UUID
    name: str
    slug: str
    status: str
    owner_user_id: UUID
    billing_email: str | None
    currency: str
    tax_rate: DecimalString
    created_at: datetime
    updated_at: datetime


class AccountDetails(AccountOut):
    """An account as its members see it: with its size and the caller's role."""

    my_role: str
    member_count: int
    bucket_count: int
