"""Favorites: a user's personal bookmarks of objects, listed across the buckets they can still read.

Personal and not security relevant, so no audit entries (the audit log records what changes
access or data, docs/domain.md section 3). A favorite outlives a lost bucket permission, but the
listing leaves it out until the permission is back.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, exists, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from primecloud.access import role_at_least
from primecloud.adapters.storage import ObjectStorage
from primecloud.models.iam import Account
from primecloud.models.storage import Bucket, BucketPermission, ObjectFavorite
from primecloud.pagination import decode_cursor, encode_cursor
from primecloud.schemas.common import Page
from primecloud.schemas.objects import FavoriteOut
from primecloud.services.objects import checked_key, require_object


def _out(favorite: ObjectFavorite, bucket_name: str) -> FavoriteOut:
    return FavoriteOut(
        bucket_id=favorite.bucket_id, bucket_name=bucket_name, key=favorite.object_key, created_at=favorite.created_at
    )


def add(session: Session, storage: ObjectStorage, user_id: UUID, bucket: Bucket, key: str) -> FavoriteOut | None:
    """Favorite an existing object; returns it when new, None when it already was a favorite."""
    info = require_object(storage, bucket, key)
    inserted = session.scalar(
        insert(ObjectFavorite)
        .values(bucket_id=bucket.id, user_id=user_id, object_key=info.key)
        .on_conflict_do_nothing(index_elements=["bucket_id", "user_id", "object_key"])
        .returning(ObjectFavorite)
    )
    return _out(inserted, bucket.name) if inserted is not None else None


def remove(session: Session, user_id: UUID, bucket: Bucket, key: str) -> None:
    """Forget a favorite; also of an object that is gone already. Removing it twice is fine."""
    session.execute(
        delete(ObjectFavorite).where(
            ObjectFavorite.bucket_id == bucket.id,
            ObjectFavorite.user_id == user_id,
            ObjectFavorite.object_key == checked_key(key),
        )
    )


def list_mine(
    session: Session, account: Account, role: str, user_id: UUID, *, limit: int, cursor: str | None
) -> Page[FavoriteOut]:
    """The caller's favorites in the account's live buckets they can still read, newest first."""
    statement = (
        select(ObjectFavorite, Bucket.name)
        .join(Bucket, Bucket.id == ObjectFavorite.bucket_id)
        .where(ObjectFavorite.user_id == user_id, Bucket.account_id == account.id, Bucket.deleted_at.is_(None))
    )
    if not role_at_least(role, "admin"):  # owners and admins read every bucket; others need a grant
        statement = statement.where(
            exists().where(BucketPermission.bucket_id == Bucket.id, BucketPermission.user_id == user_id)
        )
    if cursor:
        created_at, favorite_id = decode_cursor(cursor, (datetime, UUID))
        statement = statement.where(
            tuple_(ObjectFavorite.created_at, ObjectFavorite.id) < tuple_(created_at, favorite_id)
        )
    rows = session.execute(
        statement.order_by(ObjectFavorite.created_at.desc(), ObjectFavorite.id.desc()).limit(limit + 1)
    ).all()
    page = rows[:limit]
    last = page[-1][0] if page else None
    return Page[FavoriteOut](
        items=[_out(favorite, bucket_name) for favorite, bucket_name in page],
        next_cursor=encode_cursor([last.created_at, last.id]) if len(rows) > limit and last else None,
    )
