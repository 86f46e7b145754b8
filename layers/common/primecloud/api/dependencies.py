"""The access dependencies a route declares with ``Depends(...)``: who may call it, and the context
(session, actor, caller, account, bucket) its handler gets.

The checks run in a fixed order: credentials (401), the tenant (404: no existence oracle), then role,
suspension and the API key's scope (403).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aws_lambda_powertools.event_handler import Request

from primecloud.access import AccountLock, Principal, resolve_account_access, resolve_bucket_access
from primecloud.actor import Actor
from primecloud.api.request import actor_of, db_session, principal_of, refuse_when_unavailable
from primecloud.api.request import header as request_header
from primecloud.errors import Unauthorized

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from primecloud.models.iam import Account
    from primecloud.models.storage import Bucket


@dataclass(kw_only=True)
class PublicContext:
    """What a public route gets: a session and who is asking (anonymous)."""

    session: "Session"
    actor: Actor
    request: Request = field(repr=False)

    def header(self, name: str) -> str | None:
        return request_header(self.request, name)


@dataclass(kw_only=True)
class UserContext(PublicContext):
    """An authenticated caller, not tied to one account."""

    principal: Principal


@dataclass(kw_only=True)
class AccountContext(UserContext):
    """An authenticated member of ``account`` with ``role`` (the central check passed)."""

    account: "Account"
    role: str


# The problem+json statuses a route can answer before its handler does anything, by the context its
# access dependency gives (a DB outage is 503 for all of them). Documentation only: the OpenAPI
# document lists them for every operation (localrun/tools/openapi.py).
ACCESS_PROBLEMS: dict[type[PublicContext], tuple[int, ...]] = {
    PublicContext: (503,),
    UserContext: (401, 403, 503),
    AccountContext: (401, 403, 404, 503),
}


def public_access(request: Request) -> PublicContext:
    refuse_when_unavailable(request.resolved_event)
    return PublicContext(session=db_session(request), actor=actor_of(request), request=request)


def _require_principal(request: Request, scope: str | None) -> Principal:
    refuse_when_unavailable(request.resolved_event)
    principal = principal_of(request)
    if principal is None:
        raise Unauthorized("Missing or invalid credentials.")
    principal.require_scope(scope)
    return principal


def user_access(scope: str | None = None) -> Callable[[Request], UserContext]:
    """Any authenticated caller; an API key must carry ``scope`` when given."""

    def dependency(request: Request) -> UserContext:
        from primecloud.db import narrow_to_user

        principal = _require_principal(request, scope)
        session = db_session(request)
        narrow_to_user(session, principal.user_id)  # no tenant: the caller's own rows (rides on the BEGIN)
        return UserContext(session=session, actor=actor_of(request), request=request, principal=principal)

    return dependency


def platform_admin_access(request: Request) -> UserContext:
    """Platform staff only; another caller gets 403."""
    from primecloud.errors import Forbidden

    principal = _require_principal(request, None)
    if not principal.is_platform_admin or principal.api_key_id is not None:
        raise Forbidden("Platform administrators only.")
    from primecloud.db import system_scope

    session = db_session(request)
    system_scope(session, f"platform staff {principal.user_id}: {request.route}")
    return UserContext(session=session, actor=actor_of(request), request=request, principal=principal)


def _is_mutation(request: Request) -> bool:
    return request.method.upper() not in ("GET", "HEAD", "OPTIONS")


def account_access(
    min_role: str = "viewer",
    scope: str | None = None,
    *,
    allow_when_suspended: bool = False,
    lock: AccountLock | None = None,
) -> Callable[[Request], AccountContext]:
    """The central tenant check for routes under /v1/accounts/{account_id}.

    404 when the caller has no part in the account (no existence oracle), 403 when the role or
    the API key's scope is too low, 403 account-suspended for a mutation on a suspended account.
    The tenant check comes first: another account's key is 404 whatever scopes it lacks.
    ``lock``: an account-level lock the check's query takes for the route (``AccountLock``).
    """

    def dependency(request: Request) -> AccountContext:
        principal = _require_principal(request, None)
        session = db_session(request)
        raw_account_id = request.path_parameters.get("account_id", "")
        account, role = resolve_account_access(
            session,
            principal,
            raw_account_id,
            min_role=min_role,
            mutation=_is_mutation(request),
            allow_when_suspended=allow_when_suspended,
            lock=lock,
        )
        principal.require_scope(scope)
        return AccountContext(
            session=session,
            actor=actor_of(request),
            request=request,
            principal=principal,
            account=account,
            role=role,
        )

    return dependency


@dataclass(kw_only=True)
class BucketContext(AccountContext):
    """A member allowed ``level`` (read/write/admin) on ``bucket`` of ``account``."""

    bucket: "Bucket"
    level: str


def bucket_access(
    min_level: str = "read",
    scope: str | None = None,
    *,
    allow_when_suspended: bool = False,
    lock: AccountLock | None = None,
) -> Callable[[Request], BucketContext]:
    """The tenant check plus the bucket check for routes under .../buckets/{bucket_id}.

    Owners and admins reach every bucket; members and viewers only buckets they hold a
    permission on (viewers read at most). A bucket of another account, a deleted one, or one
    the caller holds nothing on is 404; too low a level is 403. As for accounts, the tenant and bucket
    checks come before the API key's scope.
    """

    def dependency(request: Request) -> BucketContext:
        principal = _require_principal(request, None)
        session = db_session(request)
        account, role, bucket, level = resolve_bucket_access(
            session,
            principal,
            request.path_parameters.get("account_id", ""),
            request.path_parameters.get("bucket_id", ""),
            min_level=min_level,
            mutation=_is_mutation(request),
            allow_when_suspended=allow_when_suspended,
            lock=lock,
        )
        principal.require_scope(scope)
        return BucketContext(
            session=session,
            actor=actor_of(request),
            request=request,
            principal=principal,
            account=account,
            role=role,
            bucket=bucket,
            level=level,
        )

    return dependency
