"""Object tags: kept in the database (the API reads them there) and mirrored to S3 object tagging.

A write replaces the whole set: rows first, flushed, then the backend; a backend failure raises
and the request's transaction rolls the rows back, so the two never disagree for long. Writes to
one object are serialized by a transaction-scoped advisory lock: without it two concurrent
writes could leave the database with one set and the backend with the other.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from primecloud.actor import Actor
from primecloud.adapters.storage import ObjectStorage
from primecloud.db import xact_lock
from primecloud.errors import Invalid
from primecloud.models.storage import Bucket, ObjectTag
from primecloud.rules import validate_object_tags
from primecloud.schemas.objects import ObjectTagsOut
from primecloud.services import audit
from primecloud.services.objects import require_object


def _invalid_tags(message: str) -> Invalid:
    # The message never names the rejected tag: input is not echoed back.
    return Invalid(f"body.tags: {message}", errors=[{"field": "body.tags", "message": message, "type": "value_error"}])


def _checked_tags(tags: Mapping[str, str]) -> dict[str, str]:
    try:
        return validate_object_tags(tags)
    except Invalid as exc:
        raise _invalid_tags(exc.detail) from None


def _stored_tags(session: Session, bucket: Bucket, key: str) -> dict[str, str]:
    rows = session.execute(
        select(ObjectTag.tag_key, ObjectTag.tag_value)
        .where(ObjectTag.bucket_id == bucket.id, ObjectTag.object_key == key)
        .order_by(ObjectTag.tag_key)
    )
    return {tag_key: tag_value for tag_key, tag_value in rows}


def _lock_object(session: Session, bucket: Bucket, key: str) -> None:
    xact_lock(session, "object_tags", f"{bucket.id}:{key}")


def get_tags(session: Session, storage: ObjectStorage, bucket: Bucket, key: str) -> ObjectTagsOut:
    info = require_object(storage, bucket, key)
    return ObjectTagsOut(key=info.key, tags=_stored_tags(session, bucket, info.key))


def _replace(
    session: Session, storage: ObjectStorage, bucket: Bucket, key: str, tags: dict[str, str]
) -> dict[str, str]:
    """Replace the object's tag rows and mirror them; returns the set it replaced."""
    _lock_object(session, bucket, key)
    old = _stored_tags(session, bucket, key)
    session.execute(delete(ObjectTag).where(ObjectTag.bucket_id == bucket.id, ObjectTag.object_key == key))
    session.add_all(
        ObjectTag(bucket_id=bucket.id, object_key=key, tag_key=tag_key, tag_value=tag_value)
        for tag_key, tag_value in tags.items()
    )
    session.flush()
    storage.put_object_tags(bucket.name, key, tags)
    return old


def put_tags(
    session: Session, storage: ObjectStorage, actor: Actor, bucket: Bucket, key: str, *, tags: Mapping[str, str]
) -> ObjectTagsOut:
    checked = _checked_tags(tags)
    info = require_object(storage, bucket, key)
    old = _replace(session, storage, bucket, info.key, checked)
    audit.record(
        session,
        actor,
        "object_tags.put",
        account_id=bucket.account_id,
        target_type="bucket",
        target_id=bucket.id,
        old={"object_key": info.key, "tags": old},
        new={"object_key": info.key, "tags": checked},
    )
    return ObjectTagsOut(key=info.key, tags=dict(sorted(checked.items())))


def delete_tags(session: Session, storage: ObjectStorage, actor: Actor, bucket: Bucket, key: str) -> None:
    """Remove every tag of the object; the backend's tagging is cleared even when no rows were left."""
    info = require_object(storage, bucket, key)
    old = _replace(session, storage, bucket, info.key, {})
    if old:
        audit.record(
            session,
            actor,
            "object_tags.delete",
            account_id=bucket.account_id,
            target_type="bucket",
            target_id=bucket.id,
            old={"object_key": info.key, "tags": old},
        )
