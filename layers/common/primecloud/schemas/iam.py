"""Identity and tenancy schemas: users, accounts, members, the caller's own data."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints, field_validator

from primecloud.enums import AccountRole
from primecloud.schemas.common import DecimalString, Schema

# Stored as given, matched case-insensitively; a deliberately loose check (a mail proves it), short of
# what a mail service refuses outright: control characters and the specials that need quoting in an
# address (()<>[]:;,\" and spaces), which SES answers with InvalidParameterValue.
_ADDRESS_PART = r"[^@\s()<>\[\]:;,\\\"\x00-\x1f\x7f]+"
EmailAddress = Annotated[
    str,
    StringConstraints(min_length=3, max_length=320, pattern=rf"^{_ADDRESS_PART}@{_ADDRESS_PART}\.{_ADDRESS_PART}$"),
    Field(description="Email address (matched case-insensitively)", examples=["ada@example.com"]),
]
# Never stripped: leading or trailing spaces are part of a password.
NewPassword = Annotated[
    str,
    StringConstraints(strip_whitespace=False, min_length=12, max_length=256),
    Field(description="12 to 256 characters"),
]
GivenPassword = Annotated[str, StringConstraints(strip_whitespace=False, min_length=1, max_length=256)]
CurrencyCode = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    Field(description="ISO 4217 code, upper case", examples=["EUR"]),
]

SETTINGS_MAX_BYTES = 16_384


def _decimal_from_string(value: Any) -> Any:
    # A JSON number may already have lost precision on its way here: decimals travel as strings.
    if isinstance(value, float | int) and not isinstance(value, bool):
        raise ValueError('send decimals as a string, e.g. "0.19"')
    return value


TaxRate = Annotated[
    Decimal,
    BeforeValidator(_decimal_from_string),
    Field(ge=0, le=1, max_digits=5, decimal_places=4, description='A fraction as a string: "0.19" is 19 %'),
]


def _settings_size(value: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(value, separators=(",", ":"))) > SETTINGS_MAX_BYTES:
        raise ValueError(f"at most {SETTINGS_MAX_BYTES} bytes as JSON")
    return value


AccountSettings = Annotated[dict[str, Any], AfterValidator(_settings_size)]


# --------------------------------------------------------------------------- users


class UserOut(Schema):
    id: UUID
    email: str
    name: str
    status: str
    is_platform_admin: bool
    email_verified_at: datetime | None
    last_login_at: datetime | None
    created_at: datetime


class MeUpdate(Schema):
    """Only the fields sent change. A new email or password needs the current password."""

    name: str | None = Field(None, max_length=200)
    email: EmailAddress | None = None
    current_password: GivenPassword | None = Field(None, description="Required to change email or password")
    new_password: NewPassword | None = None

    @field_validator("name", "email", "new_password")
    @classmethod
    def _not_null(cls, value: str | None) -> str:
        # Sent as null is not "unchanged": these can't be cleared.
        if value is None:
            raise ValueError("may be left out, not null")
        return value


class UserDeletion(Schema):
    """DELETE /v1/me: what happened now; the purge job removes the rest later."""

    id: UUID
    status: str
    deleted_at: datetime
    closed_account_ids: list[UUID] = Field(description="Accounts closed because the user was their only member")


# --------------------------------------------------------------------------- accounts


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


class MyAccountOut(AccountOut):
    """One of the caller's accounts, with the caller's role in it."""

    my_role: str
    joined_at: datetime


class AccountDetails(AccountOut):
    """An account as its members see it: with its size and the caller's role."""

    my_role: str
    member_count: int
    bucket_count: int
    settings: dict[str, Any] = Field(default_factory=dict)
    usage_summary: dict[str, DecimalString] = Field(
        default_factory=dict, description="Sum of usage quantities per metric since the first of this month (UTC)"
    )


class AccountCreate(Schema):
    name: str = Field(min_length=1, max_length=200)
    billing_email: EmailAddress | None = None
    currency: CurrencyCode | None = Field(None, description="Defaults to the platform's default currency")


class AccountUpdate(Schema):
    """Only the fields sent change; billing_email may be null (cleared), the others may not."""

    name: str | None = Field(None, min_length=1, max_length=200)
    billing_email: EmailAddress | None = None
    currency: CurrencyCode | None = None
    tax_rate: TaxRate | None = None
    settings: AccountSettings | None = Field(None, description="Replaces the whole settings object")

    @field_validator("name", "currency", "tax_rate", "settings")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be left out, not null")
        return value


class OwnershipTransfer(Schema):
    user_id: UUID = Field(description="A member of the account; they become its owner")


class StatusChange(Schema):
    """Why a platform administrator suspends or reactivates an account (kept in the audit log)."""

    reason: str | None = Field(None, max_length=500)


# --------------------------------------------------------------------------- members


class MemberOut(Schema):
    id: UUID
    user_id: UUID
    email: str
    name: str
    role: str
    joined_at: datetime


class MemberUpdate(Schema):
    role: AccountRole


# --------------------------------------------------------------------------- GDPR export


class ExportProfile(Schema):
    id: UUID
    email: str
    name: str
    status: str
    is_platform_admin: bool
    email_verified_at: datetime | None
    last_login_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ExportMembership(Schema):
    account_id: UUID
    account_name: str
    role: str
    joined_at: datetime


class ExportSession(Schema):
    id: UUID
    ip: str | None
    user_agent: str | None
    created_at: datetime
    last_seen_at: datetime | None
    expires_at: datetime
    revoked_at: datetime | None


class ExportPasswordReset(Schema):
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None


class ExportApiKey(Schema):
    id: UUID
    account_id: UUID
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class ExportAccessKey(Schema):
    id: UUID
    account_id: UUID
    name: str
    access_key_id: str
    status: str
    created_at: datetime
    last_used_at: datetime | None


class ExportInvitation(Schema):
    id: UUID
    account_id: UUID
    direction: Literal["sent", "received"]
    email: str
    role: str
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None


class ExportBucketPermission(Schema):
    bucket_id: UUID
    bucket_name: str
    account_id: UUID
    level: str
    created_at: datetime


class ExportFavorite(Schema):
    bucket_id: UUID
    object_key: str
    created_at: datetime


class ExportShare(Schema):
    id: UUID
    bucket_id: UUID
    object_key: str
    password_protected: bool
    max_downloads: int | None
    download_count: int
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class ExportNotification(Schema):
    id: UUID
    account_id: UUID | None
    type: str
    title: str
    body: str
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None


class ExportAuditEntry(Schema):
    id: UUID
    account_id: UUID | None
    action: str
    target_type: str | None
    target_id: str | None
    severity: str
    outcome: str
    old_value: dict[str, Any] | None
    new_value: dict[str, Any] | None
    ip: str | None
    user_agent: str | None
    created_at: datetime


class UserExport(Schema):
    """Everything stored about the caller, without password or token hashes."""

    exported_at: datetime
    profile: ExportProfile
    memberships: list[ExportMembership]
    sessions: list[ExportSession]
    password_resets: list[ExportPasswordReset]
    api_keys: list[ExportApiKey]
    access_keys: list[ExportAccessKey]
    invitations: list[ExportInvitation]
    bucket_permissions: list[ExportBucketPermission]
    favorites: list[ExportFavorite]
    shares: list[ExportShare]
    notifications: list[ExportNotification]
    audit_entries: list[ExportAuditEntry]
