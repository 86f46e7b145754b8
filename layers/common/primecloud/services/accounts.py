"""Accounts (tenants): reading, creating, changing, closing and ownership (suspension: services/suspension.py)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any
from uuid import UUID

from sqlalchemy import DateTime, Select, Text, Uuid, bindparam, cast, func, literal_column, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from primecloud import clock
from primecloud.access import require_signed_in_owner
from primecloud.actor import Actor
from primecloud.config import Settings
from primecloud.errors import Conflict, Forbidden, NotFound
from primecloud.models.billing import UsageRecord
from primecloud.models.enums import AccountRole, AccountStatus
from primecloud.models.iam import Account, AccountMember
from primecloud.models.storage import Bucket
from primecloud.pagination import paginate
from primecloud.schemas.common import Page
from primecloud.schemas.iam import AccountCreate, AccountDetails, AccountOut, AccountUpdate, MyAccountOut
from primecloud.services import audit, notifications, slugs
from primecloud.services.users import require_session

_SLUG_ATTEMPTS = 3


def month_start(now: datetime) -> datetime:
    """The first instant of ``now``'s month (UTC)."""
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@cache
def _details_statement() -> Select[int, int, dict[str, str] | None]:
    # Built once with bound parameters (the account, the month's start): per request it would be
    # rebuilt and its cache key recomputed, which cost more than the query itself.
    account_id = bindparam("account_id", type_=Uuid)
    member_count = (
        select(func.count()).select_from(AccountMember).where(AccountMember.account_id == account_id)
    ).scalar_subquery()
    bucket_count = (
        select(func.count())
        .select_from(Bucket)
        .where(Bucket.account_id == account_id, Bucket.deleted_at.is_(None))
        .scalar_subquery()
    )
    per_metric = (
        select(UsageRecord.metric, func.sum(UsageRecord.quantity).label("total"))
        .where(
            UsageRecord.account_id == account_id,
            UsageRecord.period_start >= bindparam("since", type_=DateTime(timezone=True)),
        )
        .group_by(UsageRecord.metric)
        .subquery()
    )
    # Totals as text: a JSON number would reach Python as a float.
    usage = select(
        func.coalesce(
            func.jsonb_object_agg(per_metric.c.metric, cast(per_metric.c.total, Text)),
            literal_column("'{}'::jsonb"),
        )
    ).scalar_subquery()
    return select(member_count, bucket_count, usage)


def details(session: Session, account: Account, my_role: str) -> AccountDetails:
    """The account with its member and live-bucket counts and this month's usage, in one statement."""
    member_total, bucket_total, usage_totals = session.execute(
        _details_statement(), {"account_id": account.id, "since": month_start(clock.now())}
    ).one()
    return AccountDetails(
        **AccountOut.model_validate(account).model_dump(),
        my_role=my_role,
        member_count=member_total,
        bucket_count=bucket_total,
        settings=account.settings or {},
        usage_summary={metric: Decimal(total) for metric, total in (usage_totals or {}).items()},
    )


def list_mine(
    session: Session, user_id: UUID, *, only_account_id: UUID | None, limit: int, cursor: str | None
) -> Page[MyAccountOut]:
    """The caller's live accounts in the order they joined them (an API key sees only its own account)."""
    statement = (
        select(AccountMember)
        .join(Account, Account.id == AccountMember.account_id)
        .where(AccountMember.user_id == user_id, Account.deleted_at.is_(None))
    )
    if only_account_id is not None:
        statement = statement.where(AccountMember.account_id == only_account_id)
    page = paginate(
        session,
        statement,
        keys=[AccountMember.created_at, AccountMember.id],
        limit=limit,
        cursor=cursor,
        to_item=lambda membership: membership,
        descending=False,
    )
    # paginate yields one entity per row: the page's accounts come in one more statement.
    ids = [membership.account_id for membership in page.items]
    by_id = {account.id: account for account in session.scalars(select(Account).where(Account.id.in_(ids)))}
    items = [
        MyAccountOut(
            **AccountOut.model_validate(by_id[membership.account_id]).model_dump(),
            my_role=membership.role,
            joined_at=membership.created_at,
        )
        for membership in page.items
    ]
    return Page[MyAccountOut](items=items, next_cursor=page.next_cursor)


def create(session: Session, actor: Actor, req: AccountCreate, settings: Settings) -> AccountDetails:
    """A new account owned by the caller."""
    from primecloud.db import system_scope

    user_id = require_session(actor)
    # Slugs are unique across accounts: choosing one reads every account's.
    system_scope(session, "account create: slugs are unique across accounts")
    account = _insert_with_unique_slug(
        session,
        req.name,
        owner_user_id=user_id,
        status=AccountStatus.ACTIVE.value,
        billing_email=req.billing_email,
        currency=req.currency or settings.default_currency,
        tax_rate=settings.default_tax_rate,
        settings={},
    )
    session.add(AccountMember(account_id=account.id, user_id=user_id, role=AccountRole.OWNER.value))
    audit.record(
        session,
        actor,
        "account.create",
        account_id=account.id,
        target_type="account",
        target_id=account.id,
        new={"name": account.name, "slug": account.slug, "currency": account.currency},
    )
    session.flush()
    return AccountDetails(
        **AccountOut.model_validate(account).model_dump(),
        my_role=AccountRole.OWNER.value,
        member_count=1,
        bucket_count=0,
    )


def _insert_with_unique_slug(session: Session, name: str, **fields: Any) -> Account:
    """Insert the account; a slug taken meanwhile by a concurrent request is retried with a new one."""
    attempts_left = _SLUG_ATTEMPTS
    while True:
        account = Account(name=name, slug=slugs.unique_slug(session, name), **fields)
        try:
            with session.begin_nested():
                session.add(account)
                session.flush()
            return account
        except IntegrityError:
            attempts_left -= 1
            if not attempts_left:
                raise


_UPDATABLE = ("name", "billing_email", "currency", "tax_rate", "settings")
_MONEY_TERMS = frozenset({"currency", "tax_rate"})


def update(session: Session, actor: Actor, account: Account, my_role: str, req: AccountUpdate) -> AccountDetails:
    """Change the fields sent; the audit entry holds the old and new values of what changed."""
    changes = {name: getattr(req, name) for name in _UPDATABLE if name in req.model_fields_set}
    old = {name: getattr(account, name) for name, value in changes.items() if getattr(account, name) != value}
    new = {name: changes[name] for name in old}
    if actor.api_key_id is not None and (money := sorted(_MONEY_TERMS.intersection(new))):
        # Money terms change only by a person: a key is a narrower credential than its creator.
        raise Forbidden(f"Changing {' and '.join(money)} needs a signed-in session, not an API key.")
    if new:
        for name, value in new.items():
            setattr(account, name, value)
        audit.record(
            session,
            actor,
            "account.update",
            account_id=account.id,
            target_type="account",
            target_id=account.id,
            old=_jsonable(old),
            new=_jsonable(new),
        )
        session.flush()
    return details(session, account, my_role)


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {name: str(value) if isinstance(value, Decimal) else value for name, value in values.items()}


def delete(session: Session, actor: Actor, account: Account) -> None:
    """Close the account: it disappears for every member; the purge job removes it later."""
    require_session(actor)
    old_status = account.status
    account.deleted_at = clock.now()
    account.status = AccountStatus.CLOSED.value
    audit.record(
        session,
        actor,
        "account.delete",
        account_id=account.id,
        target_type="account",
        target_id=account.id,
        old={"status": old_status},
        new={"status": AccountStatus.CLOSED.value},
        severity="warning",
    )


def transfer_ownership(
    session: Session, actor: Actor, account: Account, caller_role: str, new_owner_id: UUID
) -> AccountDetails:
    """The member ``new_owner_id`` becomes owner; the caller (an owner, signed in) becomes admin."""
    caller_id = require_signed_in_owner(actor, caller_role, "Transferring ownership")
    if new_owner_id == caller_id:
        raise Conflict("You already own this account: name another member.")
    rows = {
        membership.user_id: membership
        for membership in session.scalars(
            select(AccountMember)
            .where(AccountMember.account_id == account.id, AccountMember.user_id.in_([caller_id, new_owner_id]))
            .with_for_update()
        )
    }
    new_owner = rows.get(new_owner_id)
    if new_owner is None:
        raise NotFound("No such member in this account.")
    previous_owner = rows[caller_id]
    old = {"owner_user_id": account.owner_user_id, "new_owner_role": new_owner.role}
    new_owner.role = AccountRole.OWNER.value
    previous_owner.role = AccountRole.ADMIN.value
    account.owner_user_id = new_owner_id
    audit.record(
        session,
        actor,
        "account.transfer_ownership",
        account_id=account.id,
        target_type="user",
        target_id=new_owner_id,
        old=old,
        new={"owner_user_id": new_owner_id, "previous_owner_role": AccountRole.ADMIN.value},
        severity="warning",
    )
    notifications.notify(
        session,
        account_id=account.id,
        user_id=new_owner_id,
        type="account.ownership_transferred",
        title=f"You now own {account.name}",
        data={"account_id": str(account.id), "previous_owner_user_id": str(caller_id)},
    )
    session.flush()
    return details(session, account, AccountRole.ADMIN.value)
