"""Demo data for the local stack: a platform admin, a demo tenant with members, fresh tokens.

Idempotent: users and the account are created once; every start issues new session tokens
(the raw tokens exist only in this process's output, the database keeps their hashes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

DEMO_PASSWORD = "demo-password-123"  # local demo only; printed by `make dev`  # noqa: S105
DEMO_USERS = {
    "owner": "owner@demo.primecloud.local",
    "admin": "admin@demo.primecloud.local",
    "member": "member@demo.primecloud.local",
    "viewer": "viewer@demo.primecloud.local",
}
PLATFORM_ADMIN = "staff@primecloud.local"
DEMO_ACCOUNT_SLUG = "demo"


@dataclass
class DemoData:
    account_id: str
    tokens: dict[str, str]  # email -> live access token


def seed(session: Session) -> DemoData:
    from primecloud.models.iam import Account, AccountMember, User, UserSession
    from primecloud.passwords import hash_password
    from primecloud.tokens import ACCESS_TOKEN_PREFIX, REFRESH_TOKEN_PREFIX, new_token

    users: dict[str, User] = {}
    password_hash: str | None = None
    for email in [*DEMO_USERS.values(), PLATFORM_ADMIN]:
        user = session.scalar(select(User).where(func.lower(User.email) == email.lower()))
        if user is None:
            password_hash = password_hash or hash_password(DEMO_PASSWORD)
            user = User(
                email=email,
                password_hash=password_hash,
                name=email.split("@")[0].title(),
                is_platform_admin=email == PLATFORM_ADMIN,
                email_verified_at=datetime.now(UTC),
            )
            session.add(user)
            session.flush()
        users[email] = user

    account = session.scalar(select(Account).where(Account.slug == DEMO_ACCOUNT_SLUG))
    if account is None:
        account = Account(
            name="Demo Storage Co.",
            slug=DEMO_ACCOUNT_SLUG,
            owner_user_id=users[DEMO_USERS["owner"]].id,
            billing_email="billing@demo.primecloud.local",
        )
        session.add(account)
        session.flush()
        for role, email in DEMO_USERS.items():
            session.add(AccountMember(account_id=account.id, user_id=users[email].id, role=role))

    now = datetime.now(UTC)
    tokens: dict[str, str] = {}
    for email, user in users.items():
        access, access_hash = new_token(ACCESS_TOKEN_PREFIX)
        _refresh, refresh_hash = new_token(REFRESH_TOKEN_PREFIX)
        session.add(
            UserSession(
                user_id=user.id,
                access_token_hash=access_hash,
                access_expires_at=now + timedelta(hours=12),  # a working day of local clicking
                refresh_token_hash=refresh_hash,
                expires_at=now + timedelta(days=1),
                user_agent="localrun seed",
            )
        )
        tokens[email] = access
    session.flush()
    return DemoData(account_id=str(account.id), tokens=tokens)
