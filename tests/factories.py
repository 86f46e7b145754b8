"""Rows the tests need, written straight to the database (the API under test reads them)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.models.iam import Account, AccountMember, ApiKey, User, UserSession
from primecloud.tokens import (
    ACCESS_TOKEN_PREFIX,
    API_KEY_PREFIX,
    REFRESH_TOKEN_PREFIX,
    api_key_display_prefix,
    new_token,
)


@dataclass
class Member:
    user_id: uuid.UUID
    account_id: uuid.UUID
    role: str
    email: str
    token: str  # a live session access token


def make_user(session: Session, *, email: str | None = None, platform_admin: bool = False) -> User:
    user = User(
        email=email or f"user-{uuid.uuid4().hex[:10]}@example.test",
        password_hash=None,
        name="Test User",
        is_platform_admin=platform_admin,
    )
    session.add(user)
    session.flush()
    return user


def make_session_token(
    session: Session, user_id: uuid.UUID, *, access_ttl: timedelta = timedelta(minutes=15)
) -> tuple[str, UserSession]:
    access, access_hash = new_token(ACCESS_TOKEN_PREFIX)
    _refresh, refresh_hash = new_token(REFRESH_TOKEN_PREFIX)
    now = datetime.now(UTC)
    row = UserSession(
        user_id=user_id,
        access_token_hash=access_hash,
        access_expires_at=now + access_ttl,
        refresh_token_hash=refresh_hash,
        expires_at=now + timedelta(days=30),
    )
    session.add(row)
    session.flush()
    return access, row


def make_account(session: Session, owner: User, *, name: str = "Acme") -> Account:
    account = Account(name=name, slug=f"acct-{uuid.uuid4().hex[:12]}", owner_user_id=owner.id)
    session.add(account)
    session.flush()
    session.add(AccountMember(account_id=account.id, user_id=owner.id, role="owner"))
    session.flush()
    return account


def add_member(session: Session, account: Account, role: str) -> Member:
    user = make_user(session)
    session.add(AccountMember(account_id=account.id, user_id=user.id, role=role))
    token, _ = make_session_token(session, user.id)
    return Member(user.id, account.id, role, user.email, token)


def make_api_key(
    session: Session, account: Account, creator_id: uuid.UUID, scopes: list[str], **fields: object
) -> tuple[str, ApiKey]:
    raw, key_hash = new_token(API_KEY_PREFIX)
    key = ApiKey(
        account_id=account.id,
        created_by=creator_id,
        name="test key",
        prefix=api_key_display_prefix(raw),
        key_hash=key_hash,
        scopes=scopes,
        **fields,
    )
    session.add(key)
    session.flush()
    return raw, key


@dataclass
class Tenant:
    """An account with one member of every role."""

    account_id: uuid.UUID
    members: dict[str, Member]

    def token(self, role: str) -> str:
        return self.members[role].token


def make_tenant(engine: sa.Engine, name: str = "Acme") -> Tenant:
    with Session(engine, expire_on_commit=False) as session, session.begin():
        owner = make_user(session)
        account = make_account(session, owner, name=name)
        owner_token, _ = make_session_token(session, owner.id)
        members = {"owner": Member(owner.id, account.id, "owner", owner.email, owner_token)}
        for role in ("admin", "member", "viewer"):
            members[role] = add_member(session, account, role)
        return Tenant(account.id, members)


def make_bucket(engine: sa.Engine, account_id: uuid.UUID, name: str | None = None, **fields: object) -> uuid.UUID:
    """A live bucket: the row, and the bucket in the storage backend (moto in tests)."""
    from primecloud.adapters import registry
    from primecloud.models.storage import Bucket

    name = name or f"b-{uuid.uuid4().hex[:20]}"
    registry.storage().create_bucket(name)
    with Session(engine, expire_on_commit=False) as session, session.begin():
        bucket = Bucket(account_id=account_id, name=name, region="us-east-1", **fields)
        session.add(bucket)
        session.flush()
        return bucket.id


def grant(engine: sa.Engine, bucket_id: uuid.UUID, user_id: uuid.UUID, level: str) -> None:
    from primecloud.models.storage import BucketPermission

    with Session(engine) as session, session.begin():
        session.add(BucketPermission(bucket_id=bucket_id, user_id=user_id, level=level))
