"""Share links: a bucket admin makes a public link to one object; anyone holding it downloads.

The link's token (``pcs_...``) is shown once and stored as its SHA-256; an optional password
is stored as an argon2 hash. A download answers a redirect to a presigned GET valid 5 minutes.

Every link that cannot be used (unknown, expired, revoked, used up, its bucket or account
deleted, its object gone) gets the same 404: nobody learns whether a token ever existed. A
wrong or missing password gets a 401 only for a link that is otherwise usable: whoever holds
the token already knows the link exists, and the password is what protects it (failures are
throttled per link). Links of suspended accounts keep working: those accounts can still read.

The download count is taken with one conditional UPDATE, so concurrent downloads of a link
with one download left give exactly one redirect.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session

from primecloud import clock, passwords
from primecloud.actor import Actor
from primecloud.adapters.storage import ObjectStorage
from primecloud.errors import Invalid, NotFound, Unauthorized
from primecloud.models.iam import Account
from primecloud.models.storage import Bucket, ObjectShare
from primecloud.observability import logger
from primecloud.pagination import paginate
from primecloud.schemas.common import Page
from primecloud.schemas.shares import MAX_SHARE_SECONDS, ShareCreate, ShareCreated, ShareOut
from primecloud.services import audit, rate_limits
from primecloud.services.rate_limits import RateLimited, Window
from primecloud.tokens import hash_token, new_token

SHARE_TOKEN_PREFIX = "pcs_"  # noqa: S105 - a prefix, not a secret
MAX_TOKEN_LENGTH = 128
MAX_SHARE_LIFETIME = timedelta(seconds=MAX_SHARE_SECONDS)
DOWNLOAD_URL_SECONDS = 300
PASSWORD_FAILURES_PER_LINK = Window(limit=10, seconds=15 * 60)
# One answer for every link that cannot be used, whatever the reason.
LINK_UNAVAILABLE = "This share link does not exist or is no longer available."
PASSWORD_REQUIRED = "This share link needs its password (send it in the X-Share-Password header)."  # noqa: S105 - a message
GONE_BUCKET_STATUSES = ("deleting", "deleted")


def _invalid_expiry(message: str) -> Invalid:
    return Invalid(
        f"body.expires_at: {message}",
        errors=[{"field": "body.expires_at", "message": message, "type": "value_error"}],
    )


def _expiry(req: ShareCreate, now: datetime) -> datetime:
    if req.expires_in_seconds is not None:
        return now + timedelta(seconds=req.expires_in_seconds)
    assert req.expires_at is not None  # the schema wants exactly one
    if req.expires_at <= now:
        raise _invalid_expiry("must be in the future")
    if req.expires_at > now + MAX_SHARE_LIFETIME:
        raise _invalid_expiry("must be at most 30 days away")
    return req.expires_at


def _out(share: ObjectShare) -> ShareOut:
    assert share.expires_at is not None  # every link this service makes expires
    return ShareOut(
        id=share.id,
        key=share.object_key,
        expires_at=share.expires_at,
        max_downloads=share.max_downloads,
        download_count=share.download_count,
        password_protected=share.password_hash is not None,
        revoked_at=share.revoked_at,
        created_by=share.created_by,
        created_at=share.created_at,
    )


def _share_url(public_base_url: str, token: str) -> str:
    return f"{public_base_url.rstrip('/')}/v1/shares/{token}"


def create(
    session: Session,
    storage: ObjectStorage,
    actor: Actor,
    bucket: Bucket,
    req: ShareCreate,
    *,
    public_base_url: str,
) -> ShareCreated:
    """A new link to an existing object of ``bucket``; its token is in the answer and nowhere else."""
    now = clock.now()
    expires_at = _expiry(req, now)
    storage.head_object(bucket.name, req.key)  # ObjectNotFound (404) when there is nothing to share
    token, token_hash = new_token(SHARE_TOKEN_PREFIX)
    share = ObjectShare(
        bucket_id=bucket.id,
        object_key=req.key,
        token_hash=token_hash,
        created_by=actor.user_id,
        expires_at=expires_at,
        password_hash=passwords.hash_password(req.password) if req.password is not None else None,
        max_downloads=req.max_downloads,
        download_count=0,
    )
    session.add(share)
    session.flush()
    audit.record(
        session,
        actor,
        "share.create",
        account_id=bucket.account_id,
        target_type="object_share",
        target_id=share.id,
        new={
            "bucket_id": bucket.id,
            "object_key": share.object_key,
            "expires_at": expires_at.isoformat(),
            "max_downloads": share.max_downloads,
            "password_protected": share.password_hash is not None,
        },
    )
    return ShareCreated(**_out(share).model_dump(), token=token, url=_share_url(public_base_url, token))


def list_shares(session: Session, bucket: Bucket, *, limit: int, cursor: str | None) -> Page[ShareOut]:
    """Every link of the bucket (revoked and expired ones too), newest first."""
    return paginate(
        session,
        select(ObjectShare).where(ObjectShare.bucket_id == bucket.id),
        keys=[ObjectShare.created_at, ObjectShare.id],
        limit=limit,
        cursor=cursor,
        to_item=_out,
    )


def revoke(session: Session, actor: Actor, bucket: Bucket, share_id: UUID) -> None:
    """The link stops working at once; revoking it again changes nothing."""
    share = session.scalar(
        select(ObjectShare).where(ObjectShare.id == share_id, ObjectShare.bucket_id == bucket.id).with_for_update()
    )
    if share is None:
        raise NotFound("No such share link.")
    if share.revoked_at is not None:
        return
    share.revoked_at = clock.now()
    audit.record(
        session,
        actor,
        "share.revoke",
        account_id=bucket.account_id,
        target_type="object_share",
        target_id=share.id,
        old={
            "bucket_id": bucket.id,
            "object_key": share.object_key,
            "expires_at": share.expires_at.isoformat() if share.expires_at else None,
            "download_count": share.download_count,
        },
    )


# --------------------------------------------------------------------------- public download


def _usable(now: datetime) -> list[ColumnElement[bool]]:
    """The conditions under which a link may be downloaded once more."""
    return [
        ObjectShare.revoked_at.is_(None),
        ObjectShare.expires_at > now,
        or_(ObjectShare.max_downloads.is_(None), ObjectShare.download_count < ObjectShare.max_downloads),
    ]


def _unavailable() -> NotFound:
    return NotFound(LINK_UNAVAILABLE)


def _check_password(session: Session, share_id: UUID, password_hash: str, given: str | None, now: datetime) -> None:
    """Throttled per link: the attempt is counted (atomically, the link's counter row stays locked
    until the request ends) before the password is checked; a success gives it back, a failure
    commits it although the request answers 401."""
    key = f"share:password:{share_id}"
    wait = rate_limits.take(session, key, PASSWORD_FAILURES_PER_LINK, now)
    if wait is not None:
        raise RateLimited("Too many wrong passwords for this link; try again later.", retry_after=wait)
    if given is not None and passwords.verify_password(password_hash, given):
        rate_limits.refund(session, key)
        return
    session.commit()  # the request has only read so far: this keeps the counted failure
    logger.info("share password refused", extra={"share_id": str(share_id), "password_sent": given is not None})
    raise Unauthorized(PASSWORD_REQUIRED, headers={"WWW-Authenticate": 'X-Share-Password realm="share"'})


def download(session: Session, storage: ObjectStorage, token: str, *, password: str | None) -> str:
    """Count one download of the link and return where to fetch the object (a presigned GET URL)."""
    if not token.startswith(SHARE_TOKEN_PREFIX) or len(token) > MAX_TOKEN_LENGTH:
        raise _unavailable()
    token_hash = hash_token(token)
    now = clock.now()
    from primecloud.db import system_scope

    system_scope(session, "share link download: the token names the bucket")
    row: Any = session.execute(
        select(ObjectShare.id, ObjectShare.object_key, ObjectShare.password_hash, Bucket.id, Bucket.name)
        .join(Bucket, Bucket.id == ObjectShare.bucket_id)
        .join(Account, Account.id == Bucket.account_id)
        .where(
            ObjectShare.token_hash == token_hash,
            *_usable(now),
            Bucket.deleted_at.is_(None),
            Bucket.status.not_in(GONE_BUCKET_STATUSES),
            Account.deleted_at.is_(None),
            Account.status != "closed",
        )
    ).first()
    if row is None:
        raise _unavailable()
    share_id, object_key, password_hash, bucket_id, bucket_name = row
    if password_hash is not None:
        _check_password(session, share_id, password_hash, password, now)
    try:
        storage.head_object(bucket_name, object_key)
    except NotFound:  # the object (or the backend bucket) is gone: the link is as dead as any other
        raise _unavailable() from None
    # Concurrent downloads queue on the row lock; each re-checks the limit on the row as the one
    # before it left it, so a link with one download left gives exactly one redirect.
    claimed = session.execute(
        update(ObjectShare)
        .where(ObjectShare.id == share_id, *_usable(now))
        .values(download_count=ObjectShare.download_count + 1)
        .returning(ObjectShare.download_count)
        .execution_options(synchronize_session=False)
    ).first()
    if claimed is None:
        raise _unavailable()
    filename = object_key.rstrip("/").rsplit("/", 1)[-1] or "download"
    presigned = storage.presign_get(bucket_name, object_key, expires_in=DOWNLOAD_URL_SECONDS, filename=filename)
    # Downloads are public and frequent: a log line, not an audit entry (the count is on the link).
    logger.info(
        "share downloaded",
        extra={"share_id": str(share_id), "bucket_id": str(bucket_id), "download_count": claimed[0]},
    )
    return presigned.url
