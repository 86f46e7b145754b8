"""Objects in a tenant bucket: listings from the backend, presigned upload/download URLs, deletes.

Object bytes never pass through the API: clients upload and download with short-lived presigned
URLs. The database holds only what the backend does not (tags, favorites, shares), keyed by
(bucket, object key); deleting an object removes those rows in the same transaction.

Quotas are checked when an upload URL is issued, against the size the client declares (the
URL is signed for exactly that Content-Length). Current usage is the bucket's latest hourly
``storage_bytes`` sample when there is one, since listing a large bucket on every upload would
cost one request per 1000 objects; a bucket never sampled yet (new, so small) is listed
instead. So uploads within the hour after a sample are not yet counted: the check is a soft
limit that stops a bucket from running far past its quota, and backends with hard quotas
(``Capability.QUOTAS``) enforce the exact limit themselves.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Delete, Update, delete, select, update
from sqlalchemy.orm import Session

from primecloud import clock
from primecloud.actor import Actor
from primecloud.adapters.storage import ObjectInfo, ObjectStorage, PresignedRequest
from primecloud.enums import UsageMetric
from primecloud.errors import Conflict, Invalid
from primecloud.models.billing import UsageRecord
from primecloud.models.storage import Bucket, ObjectFavorite, ObjectShare, ObjectTag
from primecloud.pagination import decode_cursor, encode_cursor
from primecloud.rules import validate_object_key
from primecloud.schemas.objects import (
    DownloadUrlOut,
    ObjectListing,
    ObjectOut,
    PresignedUrlOut,
    UploadUrlRequest,
)
from primecloud.services import audit

UPLOAD_URL_SECONDS = 15 * 60
DOWNLOAD_URL_SECONDS = 5 * 60
MAX_UPLOAD_BYTES = 5 * 1024**3  # S3's limit for a single PUT


class QuotaExceeded(Conflict):
    slug, title = "quota-exceeded", "Bucket quota exceeded"


def _invalid(field: str, message: str) -> Invalid:
    return Invalid(f"{field}: {message}", errors=[{"field": field, "message": message, "type": "value_error"}])


def checked_key(key: str, field: str = "query.key") -> str:
    """S3's key limit is 1024 bytes of UTF-8, which the schema's character count cannot hold."""
    try:
        return validate_object_key(key)
    except Invalid as exc:
        raise _invalid(field, exc.detail) from None


def require_object(storage: ObjectStorage, bucket: Bucket, key: str, field: str = "query.key") -> ObjectInfo:
    """The object's metadata; ``ObjectNotFound`` (404) when the key holds no current object."""
    return storage.head_object(bucket.name, checked_key(key, field))


# --------------------------------------------------------------------------- listing


def list_objects(
    storage: ObjectStorage,
    bucket: Bucket,
    *,
    prefix: str,
    delimiter: str | None,
    limit: int,
    cursor: str | None,
) -> ObjectListing:
    """One page of the backend's listing; the cursor wraps its continuation token.

    The cursor also carries the prefix and delimiter it was issued for: the token means nothing
    for another listing, so a mismatch is refused rather than answered with a wrong page.
    """
    token = None
    if cursor:
        token, cursor_prefix, cursor_delimiter = decode_cursor(cursor, (str, str, (str, type(None))))
        if (cursor_prefix, cursor_delimiter) != (prefix, delimiter):
            raise _invalid("query.cursor", "not a cursor of this listing (prefix and delimiter must stay the same)")
    page = storage.list_objects(
        bucket.name, prefix=prefix, delimiter=delimiter, continuation_token=token, max_keys=limit
    )
    return ObjectListing(
        items=[
            ObjectOut(key=item.key, size=item.size, etag=item.etag, last_modified=item.last_modified)
            for item in page.objects
        ],
        common_prefixes=page.common_prefixes,
        next_cursor=encode_cursor([page.next_token, prefix, delimiter]) if page.next_token else None,
    )


# --------------------------------------------------------------------------- presigned URLs


def _presigned(key: str, request: PresignedRequest) -> PresignedUrlOut:
    return PresignedUrlOut(
        key=key, url=request.url, method=request.method, headers=request.headers, expires_at=request.expires_at
    )


def current_usage_bytes(session: Session, storage: ObjectStorage, bucket: Bucket) -> int:
    """The bucket's stored bytes: its latest usage sample, else (never sampled) a listing."""
    sampled = session.scalar(
        select(UsageRecord.quantity)
        .where(UsageRecord.bucket_id == bucket.id, UsageRecord.metric == UsageMetric.STORAGE_BYTES.value)
        .order_by(UsageRecord.period_start.desc())
        .limit(1)
    )
    if sampled is not None:
        return int(sampled)
    return storage.bucket_usage(bucket.name).bytes


def create_upload_url(
    session: Session, storage: ObjectStorage, actor: Actor, bucket: Bucket, req: UploadUrlRequest
) -> PresignedUrlOut:
    key = checked_key(req.key, "body.key")
    if req.size > MAX_UPLOAD_BYTES:
        raise _invalid("body.size", f"a single upload has at most {MAX_UPLOAD_BYTES} bytes (5 GiB)")
    if bucket.quota_bytes is not None:
        used = current_usage_bytes(session, storage, bucket)
        if used + req.size > bucket.quota_bytes:
            raise QuotaExceeded(
                f"Uploading {req.size} bytes would take the bucket to {used + req.size} bytes;"
                f" its quota is {bucket.quota_bytes} bytes ({max(bucket.quota_bytes - used, 0)} free)."
            )
    upload = storage.presign_put(
        bucket.name, key, content_type=req.content_type, content_length=req.size, expires_in=UPLOAD_URL_SECONDS
    )
    audit.record(
        session,
        actor,
        "object.upload_url",
        account_id=bucket.account_id,
        target_type="bucket",
        target_id=bucket.id,
        new={"object_key": key, "size": req.size, "content_type": req.content_type},
    )
    return _presigned(key, upload)


def _download_filename(key: str) -> str:
    return key.rstrip("/").rsplit("/", 1)[-1] or "download"


def create_download_url(storage: ObjectStorage, bucket: Bucket, key: str) -> DownloadUrlOut:
    """A short-lived GET URL that downloads the object as an attachment named after its last path segment."""
    info = require_object(storage, bucket, key, "body.key")
    download = storage.presign_get(
        bucket.name, info.key, expires_in=DOWNLOAD_URL_SECONDS, filename=_download_filename(info.key)
    )
    return DownloadUrlOut(**_presigned(info.key, download).model_dump(), size=info.size, etag=info.etag)


# --------------------------------------------------------------------------- delete


def _rowcount(session: Session, statement: Delete | Update) -> int:
    # DELETE and UPDATE run on a cursor, which knows how many rows they touched.
    return cast("CursorResult[Any]", session.execute(statement)).rowcount


def delete_object(session: Session, storage: ObjectStorage, actor: Actor, bucket: Bucket, key: str) -> None:
    """Delete the object and what the database holds for it: its tags, everyone's favorites of it, and
    its live share links (revoked, so a later object under the same key is not shared by them)."""
    info = require_object(storage, bucket, key)
    tags_deleted = _rowcount(
        session, delete(ObjectTag).where(ObjectTag.bucket_id == bucket.id, ObjectTag.object_key == info.key)
    )
    favorites_deleted = _rowcount(
        session,
        delete(ObjectFavorite).where(ObjectFavorite.bucket_id == bucket.id, ObjectFavorite.object_key == info.key),
    )
    shares_revoked = _rowcount(
        session,
        update(ObjectShare)
        .where(ObjectShare.bucket_id == bucket.id, ObjectShare.object_key == info.key, ObjectShare.revoked_at.is_(None))
        .values(revoked_at=clock.now()),
    )
    session.flush()
    storage.delete_object(bucket.name, info.key)
    audit.record(
        session,
        actor,
        "object.delete",
        account_id=bucket.account_id,
        target_type="bucket",
        target_id=bucket.id,
        old={"object_key": info.key, "size": info.size, "etag": info.etag},
        new={"tags_deleted": tags_deleted, "favorites_deleted": favorites_deleted, "shares_revoked": shares_revoked},
    )
