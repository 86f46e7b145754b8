"""Sign-up, sign-in, token refresh, sessions and password reset: requests and responses."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StringConstraints

from primecloud.schemas.common import Schema
from primecloud.schemas.iam import AccountOut, EmailAddress, GivenPassword, NewPassword, UserOut

OpaqueToken = Annotated[str, StringConstraints(min_length=1, max_length=512)]


class SignupRequest(Schema):
    email: EmailAddress
    password: NewPassword
    name: str = Field(min_length=1, max_length=200)
    account_name: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="Name of the first account; defaults to the user's name. With an invitation_token "
        "and no account_name, no account is created.",
    )
    invitation_token: OpaqueToken | None = Field(None, description="Join the inviting account while signing up")


class LoginRequest(Schema):
    email: EmailAddress
    password: GivenPassword


class RefreshRequest(Schema):
    refresh_token: OpaqueToken


class PasswordResetRequest(Schema):
    email: EmailAddress


class PasswordResetConfirm(Schema):
    """Answered 400 (bad-request, "Invalid or expired reset token.") when the token is unknown,
    already used or expired."""

    token: OpaqueToken
    new_password: NewPassword


class TokensOut(Schema):
    """A session's tokens, shown once: keep the refresh token secret, send the access token as Bearer."""

    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the scheme, not a secret
    expires_in: int = Field(description="Seconds the access token is valid for")


class LoginOut(TokensOut):
    user: UserOut


class SignupOut(LoginOut):
    account: AccountOut | None = Field(description="The account created at sign-up; null when none was")


class PasswordResetAccepted(Schema):
    """The same answer whether or not the email belongs to anyone."""

    detail: str = "If the address belongs to an active user, a reset link is on its way."


class SessionOut(Schema):
    id: UUID
    ip: str | None
    user_agent: str | None
    created_at: datetime
    last_seen_at: datetime | None
    expires_at: datetime
    current: bool = Field(description="True for the session making this request")
