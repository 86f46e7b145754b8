"""Turns a bearer token into a Principal: session access tokens and API keys, by hash."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from primecloud.access import Principal
from primecloud.models.iam import ApiKey, User, UserSession
from primecloud.tokens import ACCESS_TOKEN_PREFIX, API_KEY_PREFIX, hash_token

# last_used_at is bookkeeping, not security: write it at most once a minute per key.
_LAST_USED_GRANULARITY = timedelta(minutes=1)


def bearer_token(authorization_header: str | None) -> str | None:
    if not authorization_header:
        return None
    scheme, _, token = authorization_header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate(session: Session, raw_token: str, now: datetime) -> Principal | None:
    """The principal behind ``raw_token``, or None when it is unknown, expired or revoked."""
    if raw_token.startswith(API_KEY_PREFIX):
        return _authenticate_api_key(session, raw_token, now)
    if raw_token.startswith(ACCESS_TOKEN_PREFIX):
        return _authenticate_session(session, raw_token, now)
    return None


def _authenticate_session(session: Session, raw_token: str, now: datetime) -> Principal | None:
    row = session.execute(
        select(UserSession.id, UserSession.user_id, User.is_platform_admin)
        .join(User, User.id == UserSession.user_id)
        .where(
            UserSession.access_token_hash == hash_token(raw_token),
            UserSession.revoked_at.is_(None),
            UserSession.access_expires_at > now,
            UserSession.expires_at > now,
            User.status == "active",
            User.deleted_at.is_(None),
        )
    ).first()
    if row is None:
        return None
    return Principal(user_id=row.user_id, is_platform_admin=row.is_platform_admin, session_id=row.id)


def _authenticate_api_key(session: Session, raw_token: str, now: datetime) -> Principal | None:
    from primecloud.db import system_scope

    system_scope(session, "authorizer: API key by hash")  # the key names its account: none is known yet
    key = session.execute(
        select(ApiKey)
        .join(User, User.id == ApiKey.created_by)
        .where(
            ApiKey.key_hash == hash_token(raw_token),
            ApiKey.revoked_at.is_(None),
            (ApiKey.expires_at.is_(None)) | (ApiKey.expires_at > now),
            User.status == "active",
            User.deleted_at.is_(None),
        )
    ).scalar_one_or_none()
    if key is None or key.created_by is None:
        return None
    session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key.id,
            (ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < now - _LAST_USED_GRANULARITY),
        )
        .values(last_used_at=now)
    )
    # A key acts for its creator but never as platform staff.
    return Principal(
        user_id=key.created_by,
        is_platform_admin=False,
        api_key_id=key.id,
        api_key_account_id=key.account_id,
        scopes=frozenset(key.scopes or ()),
    )
