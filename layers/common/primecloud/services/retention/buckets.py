"""Soft-deleted buckets past retention: grants withdrawn, backend emptied and removed, rows marked and later swept."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import text

from primecloud.errors import PrimeCloudError
from primecloud.observability import logger
from primecloud.services.retention.rules import BUCKET_CANDIDATES, BUCKET_CHILDREN, ROW_BATCH

if TYPE_CHECKING:
    from primecloud.services.retention.purge import Purge


MAX_OBJECT_VERSIONS_PER_BUCKET = 200_000  # per run; a larger bucket is finished by the next runs


class BucketNotEmptyYet(Exception):
    """A bucket with more object versions than one run deletes: the next run continues."""


def remove_backend_bucket(purge: Purge, bucket_id: UUID, name: str) -> None:
    """Empty and delete the backend bucket; gone already is fine. A live bucket of the same name
    (the name was freed and taken again) is not this one's to delete."""
    from primecloud.adapters.storage import BucketNotFound

    with purge.clock.transaction(purge.sessions) as connection:
        live_twin = connection.execute(
            text("SELECT 1 FROM buckets WHERE name = :n AND deleted_at IS NULL AND id <> :b"),
            {"n": name, "b": bucket_id},
        ).first()
    if live_twin is not None:
        return
    storage = purge.backends.storage()
    try:
        removed = storage.empty_bucket(name, max_versions=MAX_OBJECT_VERSIONS_PER_BUCKET)
        if removed >= MAX_OBJECT_VERSIONS_PER_BUCKET:
            raise BucketNotEmptyYet(name)
        storage.delete_bucket(name)
    except BucketNotFound:
        removed = 0
    purge.stats.details["object_versions_deleted"] = purge.stats.details.get("object_versions_deleted", 0) + removed


def _withdraw_grants(purge: Purge, bucket_id: UUID) -> None:
    """Before the name is released, every access key that could name the bucket is set to the
    account's live buckets again (under the keys' locks): a policy left naming it by a race or a
    lost compensation would reach whoever takes the name next. A failure keeps the bucket."""
    from primecloud.services import access_keys

    with purge.clock.session(purge.sessions) as session:
        account_id = session.execute(
            text("SELECT account_id FROM buckets WHERE id = :b"), {"b": bucket_id}
        ).scalar_one()
        access_keys.refresh_account_policies(session, purge.backends.credentials(), account_id, bucket_id=bucket_id)


def _bucket_ids(purge: Purge) -> list[tuple[UUID, str]]:
    with purge.clock.transaction(purge.sessions) as connection:
        return [
            (row.id, row.name)
            for row in connection.execute(
                text(f"{BUCKET_CANDIDATES} ORDER BY b.deleted_at, b.id"),
                {"buckets": purge.cut["buckets"], "accounts": purge.cut["accounts"]},
            )
        ]


def purge_buckets(purge: Purge) -> None:
    from primecloud.services import audit

    for bucket_id, name in _bucket_ids(purge):
        try:
            _withdraw_grants(purge, bucket_id)
            remove_backend_bucket(purge, bucket_id, name)
        except BucketNotEmptyYet:
            purge.stats.details.setdefault("buckets_continued_next_run", []).append(str(bucket_id))
            continue
        except PrimeCloudError as exc:
            logger.warning("bucket purge failed", extra={"bucket_id": str(bucket_id), "error": exc.detail})
            purge.stats.fail(f"bucket:{bucket_id}", f"{type(exc).__name__}: {exc.detail}")
            continue
        with purge.clock.session(purge.sessions) as session:
            for table in BUCKET_CHILDREN:
                session.execute(text(f"DELETE FROM {table} WHERE bucket_id = :b"), {"b": bucket_id})  # noqa: S608
            account_id = session.execute(
                text("UPDATE buckets SET status = 'deleted' WHERE id = :b RETURNING account_id"), {"b": bucket_id}
            ).scalar_one()
            audit.record(
                session,
                purge.actor,
                "bucket.purge",
                account_id=account_id,
                target_type="bucket",
                target_id=bucket_id,
                new={"name": name, "status": "deleted"},
                severity="warning",
            )
        purge.stats.add("buckets")


def sweep_bucket_rows(purge: Purge) -> int:
    """Delete purged bucket rows no usage record names any more, a bounded batch per transaction."""
    deleted = 0
    while True:
        with purge.clock.transaction(purge.sessions) as connection:
            batch = connection.execute(
                text(
                    "DELETE FROM buckets WHERE id IN (SELECT b.id FROM buckets b WHERE b.status = 'deleted'"
                    " AND NOT EXISTS (SELECT 1 FROM usage_records u WHERE u.bucket_id = b.id)"
                    " LIMIT :n FOR UPDATE SKIP LOCKED)"
                ),
                {"n": ROW_BATCH},
            ).rowcount
        deleted += batch
        if batch < ROW_BATCH:
            return deleted
