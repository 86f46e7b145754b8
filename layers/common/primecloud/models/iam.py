"""Identity and access: users, their sessions, accounts (tenants), members, invitations, API keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from primecloud.models.base import Base, SoftDelete, Timestamps, UUIDPrimaryKey
from primecloud.models.enums import AccountRole, AccountStatus, UserStatus, one_of


class User(Base, UUIDPrimaryKey, Timestamps, SoftDelete):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(320))  # stored as given, unique case-insensitively
    password_hash: Mapped[str | None] = mapped_column(String(255))  # None: anonymized, cannot log in
    name: Mapped[str] = mapped_column(String(200), server_default="")
    status: Mapped[str] = mapped_column(String(16), server_default=UserStatus.ACTIVE.value)
    email_verified_at: Mapped[datetime | None]
    is_platform_admin: Mapped[bool] = mapped_column(server_default=false())
    last_login_at: Mapped[datetime | None]

    __table_args__ = (
        Index("uq_users_email_lower", text("lower(email)"), unique=True),
        one_of("status", UserStatus),
    )


class UserSession(Base, UUIDPrimaryKey, Timestamps):
    """A login: a short-lived access token and a rotating refresh token, both stored hashed."""

    __tablename__ = "sessions"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    access_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    access_expires_at: Mapped[datetime]
    refresh_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The refresh token this one replaced: presenting it again means it leaked.
    previous_refresh_token_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime]
    last_seen_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class PasswordResetToken(Base, UUIDPrimaryKey, Timestamps):
    __tablename__ = "password_reset_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class Account(Base, UUIDPrimaryKey, Timestamps, SoftDelete):
    """The tenant root: every bucket, key, invoice and member belongs to one account."""

    __tablename__ = "accounts"

    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    # An owner cannot be removed while they own an account: ownership is transferred first.
    owner_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    status: Mapped[str] = mapped_column(String(16), server_default=AccountStatus.ACTIVE.value)
    billing_email: Mapped[str | None] = mapped_column(String(320))
    currency: Mapped[str] = mapped_column(String(3), server_default="EUR")
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(5, 4), server_default=text("0"))  # a fraction: 0.19 = 19 %
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    # "<prefix>.<username>" is an SFTP login (SftpGo names are global); set on the account's first
    # SFTP user and unique, so two accounts never share a login namespace (services.sftp_users).
    sftp_login_prefix: Mapped[str | None] = mapped_column(String(31), unique=True)

    __table_args__ = (
        one_of("status", AccountStatus),
        CheckConstraint("tax_rate >= 0 AND tax_rate <= 1", name="tax_rate_fraction"),
    )


class AccountMember(Base, UUIDPrimaryKey, Timestamps):
    __tablename__ = "account_members"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))

    # The unique index leads with account_id, so it also serves the account_id foreign key.
    __table_args__ = (UniqueConstraint("account_id", "user_id"), one_of("role", AccountRole))


class Invitation(Base, UUIDPrimaryKey, Timestamps):
    __tablename__ = "invitations"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (one_of("role", AccountRole),)


class ApiKey(Base, UUIDPrimaryKey, Timestamps):
    """Acts for its creator within one account, bounded by its scopes."""

    __tablename__ = "api_keys"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    # A key whose creator is gone is dead: the authorizer requires a live creator.
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'::text[]"))
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


__all__ = [
    "Account",
    "AccountMember",
    "ApiKey",
    "Invitation",
    "PasswordResetToken",
    "User",
    "UserSession",
]
