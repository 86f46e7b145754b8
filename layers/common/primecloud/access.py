"""Who the caller is and what they may do in an account: the one central tenant check."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from primecloud.errors import AccountSuspended, Forbidden, NotFound

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement, Select
    from sqlalchemy.orm import Session

    from primecloud.actor import Actor
    from primecloud.models.iam import Account
    from primecloud.models.storage import Bucket

ROLE_RANK = {"viewer": 0, "member": 1, "admin": 2, "owner": 3}

# Scopes an API key may carry; a key never does more than its creator's role allows.
SCOPES = frozenset(
    {
        "account:read",
        "account:write",
        "members:read",
        "members:write",
        "buckets:read",
        "buckets:write",
        "objects:read",
        "objects:write",
        "access-keys:read",
        "access-keys:write",
        "sftp:read",
        "sftp:write",
        "usage:read",
        "billing:read",
        "billing:write",
        "audit:read",
    }
)


def role_at_least(role: str, min_role: str) -> bool:
    return ROLE_RANK[role] >= ROLE_RANK[min_role]


OWNER_ROLE = "owner"


def require_signed_in_owner(actor: Actor, caller_role: str, what: str) -> UUID:
    """The signed-in owner behind ``actor``, or Forbidden. Whatever creates, grants, changes or removes
    the owner role (``what``: inviting or making an owner, changing or removing one, a transfer) needs
    the person: an API key acts with its creator's role, but must never hand the account on."""
    if actor.user_id is None or actor.api_key_id is not None:
        raise Forbidden(
            f"{what} needs a signed-in session of an owner: an API key never creates, grants, changes or "
            "removes the owner role."
        )
    if caller_role != OWNER_ROLE:
        raise Forbidden(f"{what} needs the owner role; you are {caller_role}.")
    return actor.user_id


def check_role_change(actor: Actor, caller_role: str, what: str, *roles: str) -> None:
    """May ``actor`` (a member with ``caller_role``) create, grant, change or remove a membership
    holding ``roles`` (an invitation's role; a member's old and new role; a removed member's role)?

    Owner roles need ``require_signed_in_owner``. Below that an API key stays narrower than its
    creator: it never makes someone its creator's equal, nor changes or removes such a member
    (that person would hold, without the key's scopes, everything the creator holds).
    """
    if OWNER_ROLE in roles:
        require_signed_in_owner(actor, caller_role, what)
    elif actor.api_key_id is not None and any(role_at_least(role, caller_role) for role in roles):
        raise Forbidden(
            f"{what}: an API key grants, changes or removes only roles below its creator's ({caller_role}); "
            "sign in to do this."
        )


@dataclass(frozen=True)
class Principal:
    """The authenticated caller as passed by the Lambda authorizer."""

    user_id: UUID
    is_platform_admin: bool = False
    api_key_id: UUID | None = None
    api_key_account_id: UUID | None = None
    scopes: frozenset[str] | None = None  # None: a user session, bounded only by role
    session_id: UUID | None = None  # the sign-in session behind a session token (None for API keys)

    @classmethod
    def from_authorizer_context(cls, context: dict[str, Any]) -> Principal:
        api_key_id = context.get("api_key_id") or None
        key_account = context.get("api_key_account_id") or None
        scopes_text = context.get("scopes")
        session_id = context.get("session_id") or None
        return cls(
            user_id=UUID(str(context["user_id"])),
            is_platform_admin=str(context.get("is_platform_admin", "false")).lower() == "true",
            api_key_id=UUID(str(api_key_id)) if api_key_id else None,
            api_key_account_id=UUID(str(key_account)) if key_account else None,
            scopes=frozenset(str(scopes_text).split()) if api_key_id else None,
            session_id=UUID(str(session_id)) if session_id else None,
        )

    def to_authorizer_context(self) -> dict[str, str | bool]:
        """Simple-response context values must be strings, numbers or booleans."""
        return {
            "user_id": str(self.user_id),
            "is_platform_admin": self.is_platform_admin,
            "api_key_id": str(self.api_key_id) if self.api_key_id else "",
            "api_key_account_id": str(self.api_key_account_id) if self.api_key_account_id else "",
            "scopes": " ".join(sorted(self.scopes)) if self.scopes is not None else "",
            "session_id": str(self.session_id) if self.session_id else "",
        }

    def require_scope(self, scope: str | None) -> None:
        if scope is not None and self.scopes is not None and scope not in self.scopes:
            raise Forbidden(f"This API key lacks the '{scope}' scope.")


# What the authorizer passes when it cannot reach the database: the request goes on with no identity
# and only this flag, and the edge answers 503 for it before anything else runs (primecloud.api). An
# HTTP API authorizer cannot shape its refusal: raising would be API Gateway's bare 500.
UNAVAILABLE_FLAG = "unavailable"


def unavailable_context() -> dict[str, str | bool]:
    return {UNAVAILABLE_FLAG: True}


def is_unavailable(context: Mapping[str, Any]) -> bool:
    # Fail closed on anything but an explicit false: the flag may arrive as a boolean or as text.
    flag = context.get(UNAVAILABLE_FLAG)
    return flag is not None and str(flag).lower() not in ("", "false")


def parse_uuid_or_404(raw: str | UUID) -> UUID:
    """A malformed id names nothing the caller can see: 404, like any other missing resource."""
    if isinstance(raw, UUID):
        return raw
    try:
        return UUID(str(raw))
    except ValueError:
        raise NotFound("No such account.") from None


# The transaction's tenant for row-level security (see migrations/versions/0002_session_changes.py).
TENANT_SETTING = "primecloud.account_id"
USER_SETTING = "primecloud.user_id"  # whose account-less rows (sign-ins, personal notifications) stay visible


class AccountLock(Protocol):
    """A transaction-scoped lock on the account that the membership query takes for a route (no
    statement of its own), so that everything the route reads afterwards is read under it; for
    example ``access_keys.BUCKET_CHANGE``. Hashable: the statement with it is built once."""

    def column(self, account_id: ColumnElement[UUID]) -> ColumnElement[Any]: ...

    def taken(self, session: Session, account_id: UUID) -> None: ...

    def __hash__(self) -> int: ...


def resolve_account_access(
    session: Session,
    principal: Principal,
    raw_account_id: str | UUID,
    *,
    min_role: str,
    mutation: bool,
    allow_when_suspended: bool = False,
    lock: AccountLock | None = None,
) -> tuple[Account, str]:
    """The caller's account and role, or NotFound/Forbidden/AccountSuspended.

    One query: the membership joined to its (live) account. The same query narrows the rest of
    the transaction to this account for row-level security (``set_config(..., true)`` is
    transaction-local, evaluated only for the member's row): from then on a query that forgets
    its own ``account_id`` filter still sees no other tenant's rows (migration 0002). With
    ``lock``, it takes that lock too (for the member's row only: no one else's request waits).
    """
    parameters = _account_parameters(principal, raw_account_id)
    _narrow(session, parameters)
    statement = _membership_statement() if lock is None else _locking(lock, with_bucket=False)
    row = session.execute(statement, parameters).first()
    if row is None:
        raise NotFound("No such account.")
    account, role = row[0], row[1]
    if lock is not None:
        lock.taken(session, account.id)
    _check_member(account, role, min_role=min_role, mutation=mutation, allow_when_suspended=allow_when_suspended)
    return account, role


def _account_parameters(principal: Principal, raw_account_id: str | UUID) -> dict[str, Any]:
    account_id = parse_uuid_or_404(raw_account_id)
    if principal.api_key_account_id is not None and principal.api_key_account_id != account_id:
        raise NotFound("No such account.")  # an API key belongs to one account
    return {
        "account_id": account_id,
        "user_id": principal.user_id,
        "tenant": str(account_id),
        "user": str(principal.user_id),
    }


def _narrow(session: Session, parameters: dict[str, Any]) -> None:
    """Narrow the transaction before the membership query reads: row-level security fails closed, so
    the account, its members and its buckets are visible only once the tenant is set. The user goes
    first (a transaction with no tenant sees its user's own memberships), then the tenant, only when
    that user is a member. Both ride on the transaction's BEGIN (``primecloud.db.run_first``)."""
    from primecloud.db import run_first, setting_literal

    account, user = setting_literal(parameters["account_id"]), setting_literal(parameters["user_id"])
    run_first(
        session,
        f"SELECT set_config('{USER_SETTING}', {user}, true)",
        f"SELECT set_config('{TENANT_SETTING}', coalesce((SELECT account_id::text FROM account_members"  # noqa: S608
        f" WHERE account_id = {account} AND user_id = {user}), ''), true)",
    )


def _check_member(account: Account, role: str, *, min_role: str, mutation: bool, allow_when_suspended: bool) -> None:
    if not role_at_least(role, min_role):
        raise Forbidden(f"This needs the {min_role} role or higher; you are {role}.")
    if mutation and not allow_when_suspended and account.status == "suspended":
        raise AccountSuspended("The account is suspended: it can read and pay, not change anything.")


@cache
def _membership_statement() -> Select[Account, str, str, str]:
    # Built once per container with bound parameters: constructing it per request (and its cache key)
    # cost more Python time than the query's round trip.
    from sqlalchemy import String, Uuid, bindparam, func, select

    from primecloud.models.iam import Account, AccountMember

    return (
        select(
            Account,
            AccountMember.role,
            func.set_config(TENANT_SETTING, bindparam("tenant", type_=String), True),
            func.set_config(USER_SETTING, bindparam("user", type_=String), True),
        )
        .join(AccountMember, AccountMember.account_id == Account.id)
        .where(
            Account.id == bindparam("account_id", type_=Uuid),
            Account.deleted_at.is_(None),
            AccountMember.user_id == bindparam("user_id", type_=Uuid),
        )
    )


@cache
def _membership_and_bucket_statement() -> Select[Account, str, str, str, Bucket, str]:
    # The bucket and the caller's grant ride on the membership query: a bucket route's whole access
    # check is one statement. (Row-level security may see no tenant yet while this statement reads
    # buckets; the join's own account condition is what confines it.)
    from sqlalchemy import Uuid, and_, bindparam

    from primecloud.models.storage import Bucket, BucketPermission

    return (
        _membership_statement()
        .add_columns(Bucket, BucketPermission.level)
        .outerjoin(
            Bucket,
            and_(
                Bucket.id == bindparam("bucket_id", type_=Uuid),
                Bucket.account_id == bindparam("account_id", type_=Uuid),
                Bucket.deleted_at.is_(None),
            ),
        )
        .outerjoin(
            BucketPermission,
            and_(
                BucketPermission.bucket_id == Bucket.id,
                BucketPermission.user_id == bindparam("user_id", type_=Uuid),
            ),
        )
    )


@cache
def _locking(lock: AccountLock, *, with_bucket: bool) -> Select[*tuple[Any, ...]]:
    # The lock's column comes last, after the columns the callers unpack.
    from primecloud.models.iam import Account

    statement = _membership_and_bucket_statement() if with_bucket else _membership_statement()
    return statement.add_columns(lock.column(Account.id.expression))


LEVEL_RANK = {"read": 0, "write": 1, "admin": 2}


def effective_bucket_level(role: str, granted: str | None) -> str | None:
    """What a member may do in one bucket: owners and admins everything; members their grant;
    viewers their grant capped at read; None when they hold no grant (the bucket is invisible)."""
    if role_at_least(role, "admin"):
        return "admin"
    if granted is None:
        return None
    if role == "viewer":
        return "read"
    return granted


def resolve_bucket_access(
    session: Session,
    principal: Principal,
    raw_account_id: str | UUID,
    raw_bucket_id: str | UUID,
    *,
    min_level: str,
    mutation: bool,
    allow_when_suspended: bool = False,
    lock: AccountLock | None = None,
) -> tuple[Account, str, Bucket, str]:
    """The caller's account and role (as ``resolve_account_access`` with the viewer role), then the live
    bucket of that account and the caller's level in it, or NotFound/Forbidden/AccountSuspended.

    One query: the membership with the bucket and the caller's grant on it (if any), taking ``lock``.
    """
    try:
        bucket_id = raw_bucket_id if isinstance(raw_bucket_id, UUID) else UUID(str(raw_bucket_id))
    except ValueError:
        resolve_account_access(
            session,
            principal,
            raw_account_id,
            min_role="viewer",
            mutation=mutation,
            allow_when_suspended=allow_when_suspended,
        )
        raise NotFound("No such bucket.") from None
    parameters = {**_account_parameters(principal, raw_account_id), "bucket_id": bucket_id}
    _narrow(session, parameters)
    statement = _membership_and_bucket_statement() if lock is None else _locking(lock, with_bucket=True)
    row = session.execute(statement, parameters).first()
    if row is None:
        raise NotFound("No such account.")
    account, role, bucket, granted = row[0], row[1], row[4], row[5]
    if lock is not None:
        lock.taken(session, account.id)
    _check_member(account, role, min_role="viewer", mutation=mutation, allow_when_suspended=allow_when_suspended)
    level = effective_bucket_level(role, granted) if bucket is not None else None
    if bucket is None or level is None:
        raise NotFound("No such bucket.")  # a bucket you hold nothing on does not exist for you
    if LEVEL_RANK[level] < LEVEL_RANK[min_level]:
        raise Forbidden(f"This needs {min_level} permission on the bucket; you have {level}.")
    return account, role, bucket, level
