"""Buckets: the row in PostgreSQL and the bucket in the storage backend, kept in step.

Each change writes the row and flushes first (a taken name is a conflict before the backend is
asked), then changes the backend. The backend is outside the database transaction, so every
backend change registers its undo: if the transaction then ends without committing (a later step
fails, the response is an error, or the commit itself fails), the undo runs and the backend is
put back as the rolled-back row says. A new bucket is deleted again; a changed setting is set
back. Deleting is soft: the row is marked and every bucket route answers 404 at once; the purge
job empties and removes the backend bucket later.

Creating and deleting a bucket changes which buckets the account's "every bucket" access keys
name, so both refresh the keys' backend policies (``access_keys.grant_new_bucket``,
``access_keys.refresh_account_policies``) in the same request: a key that cannot be updated fails
the request (503, or 409 when a new bucket would not fit a key's policies) and nothing changes.
Both hold the account's grants lock (``access_keys.BUCKET_CHANGE``) from before they read the keys,
so a key created at the same moment is either seen or sees the bucket change.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import Row, and_, insert, select
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from primecloud import clock
from primecloud.access import effective_bucket_level, role_at_least
from primecloud.actor import Actor
from primecloud.adapters.storage import Capability, ObjectStorage, TenantCredentials
from primecloud.compensation import undo_unless_committed
from primecloud.enums import AccountRole, BucketStatus, PermissionLevel
from primecloud.errors import Conflict, Forbidden, NotFound
from primecloud.models.iam import Account
from primecloud.models.storage import Bucket, BucketPermission, ObjectShare
from primecloud.observability import logger
from primecloud.pagination import paginate
from primecloud.schemas.buckets import BucketCreate, BucketOut, BucketUpdate
from primecloud.schemas.common import Page
from primecloud.services import access_keys, audit

NAME_TAKEN = "A bucket with this name already exists."
MANAGERS_ONLY = (
    "Changing or deleting a bucket needs the admin role in the account;"
    " an admin permission on the bucket manages its permissions and shares."
)


def bucket_out(bucket: Bucket | Row[Any], my_level: str) -> BucketOut:
    """The API's view of a bucket, from its entity or a row of the same columns."""
    return BucketOut.model_validate(
        {
            "id": bucket.id,
            "name": bucket.name,
            "region": bucket.region,
            "versioning": bucket.versioning,
            "lifecycle_rules": bucket.lifecycle_rules or [],
            "quota_bytes": bucket.quota_bytes,
            "status": bucket.status,
            "created_at": bucket.created_at,
            "updated_at": bucket.updated_at,
            "my_level": my_level,
        }
    )


def _settings(bucket: Bucket) -> dict[str, Any]:
    """What the audit log keeps of a bucket."""
    return {
        "name": bucket.name,
        "region": bucket.region,
        "versioning": bucket.versioning,
        "lifecycle_rules": bucket.lifecycle_rules or [],
        "quota_bytes": bucket.quota_bytes,
        "status": bucket.status,
    }


def _require_manager(role: str) -> None:
    if not role_at_least(role, AccountRole.ADMIN.value):
        raise Forbidden(MANAGERS_ONLY)


# --------------------------------------------------------------------------- create


def create(
    session: Session,
    storage: ObjectStorage,
    credentials: TenantCredentials,
    actor: Actor,
    req: BucketCreate,
    *,
    account: Account,
    default_region: str,
) -> BucketOut:
    """A new bucket of ``account``: the row, then the backend bucket (versioning, lifecycle), then its quota.

    The quota is set in the backend where it enforces quotas (MinIO); elsewhere (AWS) it is only
    stored, and PrimeCloud enforces it when it hands out upload URLs.
    """
    # Before the INSERT reads the keys; through the route it is held already (its access check took it).
    access_keys.lock_grants(session, account.id, access_keys.BUCKET_CHANGE)
    rules = [rule.to_dict() for rule in req.lifecycle_rules]
    # The INSERT also returns the account's "every bucket" access keys (usually none), which will
    # name the new bucket: no statement of its own for them.
    new_bucket = (
        insert(Bucket)
        .values(
            account_id=account.id,
            name=req.name,
            region=req.region or default_region,
            versioning=req.versioning,
            lifecycle_rules=rules,
            quota_bytes=req.quota_bytes,
            status=BucketStatus.ACTIVE.value,
        )
        .returning(Bucket, access_keys.every_bucket_key_ids(account.id))
    )
    try:
        bucket, every_bucket_keys = session.execute(new_bucket).one()
    except IntegrityError:  # uq_buckets_live_name: the only unique index a new row can hit
        raise Conflict(NAME_TAKEN) from None

    # Taken in the backend (another platform's bucket on AWS, or a deleted one not purged yet) is 409 too.
    storage.create_bucket(bucket.name, region=bucket.region, versioning=req.versioning, lifecycle_rules=rules)
    name = bucket.name
    undo_unless_committed(session, f"delete new bucket {name}", lambda: _discard(storage, name))

    if req.quota_bytes is not None and Capability.QUOTAS in credentials.capabilities:
        credentials.set_bucket_quota(name, req.quota_bytes)
    # Access keys for "every bucket" of the account now include this one (undone on rollback too).
    access_keys.grant_new_bucket(session, credentials, account.id, every_bucket_keys)
    audit.record(
        session,
        actor,
        "bucket.create",
        account_id=account.id,
        target_type="bucket",
        target_id=bucket.id,
        new=_settings(bucket),
    )
    session.flush()  # the audit row too, while a failure still takes the new backend bucket back
    return bucket_out(bucket, PermissionLevel.ADMIN.value)


def _discard(storage: ObjectStorage, name: str) -> None:
    # Not force: emptying needs object-delete rights the create function does not hold, and a bucket
    # that lived for one request is empty (if not, it stays and the warning says so).
    storage.delete_bucket(name)
    logger.info("removed the backend bucket of a rolled-back create", extra={"bucket": name})


# --------------------------------------------------------------------------- read


def list_buckets(
    session: Session, account: Account, role: str, user_id: UUID, *, limit: int, cursor: str | None
) -> Page[BucketOut]:
    """The live buckets the caller can see, by name: all for owners and admins, granted ones otherwise.

    One statement of plain columns (no ORM objects to build for a page of 100); members and
    viewers get their grant's level from the same join that picks their buckets.
    """
    columns = (
        Bucket.id,
        Bucket.name,
        Bucket.region,
        Bucket.versioning,
        Bucket.lifecycle_rules,
        Bucket.quota_bytes,
        Bucket.status,
        Bucket.created_at,
        Bucket.updated_at,
    )
    live = (Bucket.account_id == account.id, Bucket.deleted_at.is_(None))
    keys = [Bucket.name, Bucket.id]
    if role_at_least(role, AccountRole.ADMIN.value):
        return paginate(
            session,
            select(*columns).where(*live),
            keys=keys,
            limit=limit,
            cursor=cursor,
            to_item=lambda row: bucket_out(row, PermissionLevel.ADMIN.value),
            descending=False,
            rows=True,
        )
    granted = (
        select(*columns, BucketPermission.level)
        .join(BucketPermission, and_(BucketPermission.bucket_id == Bucket.id, BucketPermission.user_id == user_id))
        .where(*live)
    )
    return paginate(
        session,
        granted,
        keys=keys,
        limit=limit,
        cursor=cursor,
        # A grant always gives a member or viewer a level (a viewer's is capped at read).
        to_item=lambda row: bucket_out(row, effective_bucket_level(role, row.level) or PermissionLevel.READ.value),
        descending=False,
        rows=True,
    )


# --------------------------------------------------------------------------- update


def _lock_live(session: Session, bucket: Bucket) -> None:
    """Serialize changes to one bucket (its backend settings follow the last committed row)."""
    session.refresh(bucket, with_for_update=True)
    if bucket.deleted_at is not None:
        raise NotFound("No such bucket.")


def update(
    session: Session,
    storage: ObjectStorage,
    credentials: TenantCredentials,
    actor: Actor,
    req: BucketUpdate,
    *,
    bucket: Bucket,
    role: str,
    my_level: str,
) -> BucketOut:
    """Versioning, lifecycle rules and quota; only what is sent and differs is changed (owners and admins).

    Each backend change is undone if the transaction does not commit. Versioning that was never
    enabled cannot be restored exactly: S3 only suspends it, which is the same for new objects.
    """
    _require_manager(role)
    _lock_live(session, bucket)
    old = _settings(bucket)
    sent = req.model_fields_set
    new_rules = [rule.to_dict() for rule in req.lifecycle_rules] if req.lifecycle_rules is not None else None
    change_rules = "lifecycle_rules" in sent and new_rules != old["lifecycle_rules"]
    change_quota = "quota_bytes" in sent and req.quota_bytes != old["quota_bytes"]
    change_versioning = "versioning" in sent and req.versioning != old["versioning"]
    if not (change_rules or change_quota or change_versioning):
        return bucket_out(bucket, my_level)

    if change_rules:
        bucket.lifecycle_rules = new_rules or []
    if change_quota:
        bucket.quota_bytes = req.quota_bytes
    if change_versioning:
        bucket.versioning = bool(req.versioning)
    session.flush()

    name = bucket.name
    if change_rules:
        storage.set_lifecycle(name, bucket.lifecycle_rules)
        old_rules = old["lifecycle_rules"]
        undo_unless_committed(session, f"lifecycle of {name}", lambda: storage.set_lifecycle(name, old_rules))
    if change_quota and Capability.QUOTAS in credentials.capabilities:
        credentials.set_bucket_quota(name, bucket.quota_bytes)
        old_quota = old["quota_bytes"]
        undo_unless_committed(session, f"quota of {name}", lambda: credentials.set_bucket_quota(name, old_quota))
    if change_versioning:
        storage.set_versioning(name, bucket.versioning)
        old_versioning = old["versioning"]
        undo_unless_committed(session, f"versioning of {name}", lambda: storage.set_versioning(name, old_versioning))

    new = _settings(bucket)
    changed = {key for key in new if new[key] != old[key]}
    audit.record(
        session,
        actor,
        "bucket.update",
        account_id=bucket.account_id,
        target_type="bucket",
        target_id=bucket.id,
        old={key: old[key] for key in sorted(changed)},
        new={key: new[key] for key in sorted(changed)},
    )
    session.flush()
    return bucket_out(bucket, my_level)


# --------------------------------------------------------------------------- delete


def _refuse_while_sftp_home(session: Session, bucket: Bucket) -> None:
    """SFTP users homed in the bucket would keep reading and writing it: they go first."""
    from primecloud.models.storage import SftpUser

    homed = session.scalars(
        select(SftpUser.username)
        .where(SftpUser.bucket_id == bucket.id, SftpUser.deleted_at.is_(None))
        .order_by(SftpUser.username)
        .limit(4)
    ).all()
    if homed:
        names = ", ".join(homed[:3]) + (", ..." if len(homed) > 3 else "")
        raise Conflict(f"The bucket is the home of SFTP users ({names}); delete them first.")


def delete(session: Session, credentials: TenantCredentials, actor: Actor, bucket: Bucket, role: str) -> None:
    """Soft delete (owners and admins): the bucket disappears for everyone now, its share links stop
    working and the account's access keys no longer name it.

    The backend bucket and its objects stay until the purge job removes them, so its name stays
    taken in the backend until then.
    """
    _require_manager(role)
    # Before any row lock; through the route it is held already (its access check took it).
    access_keys.lock_grants(session, bucket.account_id, access_keys.BUCKET_CHANGE)
    _lock_live(session, bucket)
    _refuse_while_sftp_home(session, bucket)
    now = clock.now()
    old = _settings(bucket)
    bucket.deleted_at = now
    bucket.status = BucketStatus.DELETING.value
    revoked = session.scalars(
        sql_update(ObjectShare)
        .where(ObjectShare.bucket_id == bucket.id, ObjectShare.revoked_at.is_(None))
        .values(revoked_at=now)
        .returning(ObjectShare.id)
    ).all()
    audit.record(
        session,
        actor,
        "bucket.delete",
        account_id=bucket.account_id,
        target_type="bucket",
        target_id=bucket.id,
        old=old,
        new={"status": bucket.status, "revoked_shares": len(revoked)},
        severity="warning",
    )
    session.flush()
    access_keys.refresh_account_policies(session, credentials, bucket.account_id, bucket_id=bucket.id)
