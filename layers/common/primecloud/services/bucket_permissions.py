"""Per-user permissions on one bucket (read < write < admin), managed by the bucket's admins.

A grant is stored as given; what it allows depends on the user's account role as well
(``access.effective_bucket_level``): owners and admins reach every bucket anyway, viewers read at
most. Only members of the bucket's account can hold a grant; removing a member removes their
grants (``services.members.detach``).
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from primecloud.access import effective_bucket_level
from primecloud.actor import Actor
from primecloud.enums import PermissionLevel
from primecloud.errors import NotFound
from primecloud.models.iam import AccountMember, User
from primecloud.models.storage import Bucket, BucketPermission
from primecloud.pagination import paginate
from primecloud.schemas.buckets import BucketPermissionOut
from primecloud.schemas.common import Page
from primecloud.services import audit


def _out(permission: BucketPermission, user: User, role: str) -> BucketPermissionOut:
    return BucketPermissionOut.model_validate(
        {
            "user_id": user.id,
            "email": user.email,
            "name": user.name,
            "role": role,
            "level": permission.level,
            "effective_level": effective_bucket_level(role, permission.level),
            "granted_at": permission.created_at,
            "updated_at": permission.updated_at,
        }
    )


def _membership(bucket: Bucket) -> ColumnElement[bool]:
    """The grant's user is a member of the bucket's account."""
    return and_(AccountMember.user_id == BucketPermission.user_id, AccountMember.account_id == bucket.account_id)


def list_permissions(session: Session, bucket: Bucket, *, limit: int, cursor: str | None) -> Page[BucketPermissionOut]:
    """The bucket's grants, oldest first, with each user and their account role (two statements)."""
    page: Page[BucketPermission] = paginate(
        session,
        select(BucketPermission)
        .join(AccountMember, _membership(bucket))
        .where(BucketPermission.bucket_id == bucket.id),
        keys=[BucketPermission.created_at, BucketPermission.id],
        limit=limit,
        cursor=cursor,
        to_item=lambda permission: permission,
        descending=False,
    )
    user_ids = [permission.user_id for permission in page.items]
    people = {
        user.id: (user, role)
        for user, role in session.execute(
            select(User, AccountMember.role)
            .join(AccountMember, AccountMember.user_id == User.id)
            .where(AccountMember.account_id == bucket.account_id, User.id.in_(user_ids))
        )
    }
    return Page[BucketPermissionOut](
        items=[
            _out(permission, *people[permission.user_id]) for permission in page.items if permission.user_id in people
        ],
        next_cursor=page.next_cursor,
    )


def set_level(
    session: Session, actor: Actor, bucket: Bucket, user_id: UUID, level: PermissionLevel
) -> BucketPermissionOut:
    """Grant ``level`` to a member of the bucket's account, or change their grant (404 for anyone else)."""
    row = session.execute(
        select(User, AccountMember.role)
        .join(AccountMember, AccountMember.user_id == User.id)
        .where(AccountMember.account_id == bucket.account_id, User.id == user_id)
    ).first()
    if row is None:
        raise NotFound("No such member in this account.")
    user, role = row
    existing = session.scalar(
        select(BucketPermission)
        .where(BucketPermission.bucket_id == bucket.id, BucketPermission.user_id == user_id)
        .with_for_update()
    )
    if existing is not None and existing.level == level.value:
        return _out(existing, user, role)
    old_level = existing.level if existing is not None else None
    # An upsert: a concurrent first grant to the same user changes the level instead of failing.
    statement = insert(BucketPermission).values(bucket_id=bucket.id, user_id=user_id, level=level.value)
    permission = session.scalars(
        statement.on_conflict_do_update(
            index_elements=[BucketPermission.bucket_id, BucketPermission.user_id],
            set_={"level": statement.excluded.level, "updated_at": func.now()},
        )
        .returning(BucketPermission)
        .execution_options(populate_existing=True)
    ).one()
    audit.record(
        session,
        actor,
        "bucket_permission.grant",
        account_id=bucket.account_id,
        target_type="bucket",
        target_id=bucket.id,
        old={"user_id": user_id, "level": old_level} if old_level is not None else None,
        new={"user_id": user_id, "level": level.value},
    )
    session.flush()
    return _out(permission, user, role)


def revoke(session: Session, actor: Actor, bucket: Bucket, user_id: UUID) -> None:
    """Take a user's grant on the bucket away (404 when they hold none)."""
    permission = session.scalar(
        select(BucketPermission)
        .where(BucketPermission.bucket_id == bucket.id, BucketPermission.user_id == user_id)
        .with_for_update()
    )
    if permission is None:
        raise NotFound("This user holds no permission on the bucket.")
    session.delete(permission)
    audit.record(
        session,
        actor,
        "bucket_permission.revoke",
        account_id=bucket.account_id,
        target_type="bucket",
        target_id=bucket.id,
        old={"user_id": user_id, "level": permission.level},
    )
    session.flush()
