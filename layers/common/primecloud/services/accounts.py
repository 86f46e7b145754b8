"""Accounts (tenants): reading and, with the Identity issue, their whole lifecycle."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from primecloud.models.iam import Account, AccountMember
from primecloud.models.storage import Bucket
from primecloud.schemas.iam import AccountDetails, AccountOut


def details(session: Session, account: Account, my_role: str) -> AccountDetails:
    """The account with its member and live-bucket counts, in one statement."""
    member_count = (
        select(func.count()).select_from(AccountMember).where(AccountMember.account_id == account.id)
    ).scalar_subquery()
    bucket_count = (
        select(func.count())
        .select_from(Bucket)
        .where(Bucket.account_id == account.id, Bucket.deleted_at.is_(None))
        .scalar_subquery()
    )
    members, buckets = session.execute(select(member_count, bucket_count)).one()
    base = AccountOut.model_validate(account).model_dump()
    return AccountDetails(**base, my_role=my_role, member_count=members, bucket_count=buckets)
