"""purge_retention on seeded data: rows on both sides of every cutoff, backends (moto S3 and IAM, the
SftpGo stub) included. Exactly what is past retention goes; a dry run reports the same counts and
deletes nothing; a re-run deletes nothing more."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from localrun.invoke import LocalLambda
from localrun.services.sftpgo_stub import SftpGoStub
from localrun.template import load_template
from primecloud.adapters import registry
from primecloud.adapters.sftpgo import LocalHome, S3Home, SftpUserNotFound
from primecloud.config import get_settings
from primecloud.models.billing import Invoice, UsageRecord
from primecloud.models.iam import (
    Account,
    AccountMember,
    Invitation,
    PasswordResetToken,
    User,
    UserSession,
)
from primecloud.models.storage import (
    AccessKey,
    Bucket,
    BucketPermission,
    ObjectFavorite,
    ObjectShare,
    ObjectTag,
    SftpUser,
)
from primecloud.models.system import AuditLog, IdempotencyKey, JobRun, Notification, RateLimit
from tests.conftest import ROOT
from tests.e2e.sftp_support import pointed_stub
from tests.factories import make_account, make_user

NOW = datetime.now(UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
SFTPGO_KEY = "purge-test-sftpgo-key"

EXPECTED = {
    "sessions": 2,
    "password_reset_tokens": 2,
    "invitations": 3,
    "share_links": 3,
    "rate_limits": 1,
    "idempotency_keys": 1,
    "notifications": 1,
    "audit_logs": 2,
    "usage_records": 2,  # one invoiced and 25 months old; one uninvoiced of the anonymized account
    "job_runs": 1,
    "accounts_deleted": 1,
    "accounts_anonymized": 1,
    "users_anonymized": 2,
    "account_buckets": 2,
    "access_keys": 1,
    "sftp_users": 1,
    "buckets": 2,
    "bucket_rows": 2,
}


@pytest.fixture
def sftpgo(db: sa.Engine, aws_server: dict[str, str]) -> Iterator[SftpGoStub]:
    with pointed_stub(SFTPGO_KEY) as stub:
        yield stub


def purge_job(params: dict[str, Any] | None = None, *, status: str = "succeeded") -> dict[str, Any]:
    """Invoke the job's Lambda handler as the local runtime does; return its run's stats."""
    runtime = LocalLambda(load_template(ROOT / "template.yaml"))
    result = runtime.invoke("PurgeRetentionFunction", {"trigger": "manual", "params": params or {}})
    assert result["status"] == status, result
    stats: dict[str, Any] = result["stats"]
    return stats


def backend_bucket(name: str) -> str:
    registry.storage().create_bucket(name)
    boto3.client("s3").put_object(Bucket=name, Key="a/file.txt", Body=b"hello")
    return name


def bucket_exists(name: str) -> bool:
    return registry.storage().bucket_exists(name)


def tenant_iam_users(account_id: uuid.UUID) -> list[str]:
    pages = boto3.client("iam").get_paginator("list_users").paginate(PathPrefix=f"/primecloud/{account_id}/")
    return [user["UserName"] for page in pages for user in page.get("Users", [])]


@dataclass
class Seeded:
    live_account: uuid.UUID
    gone_account: uuid.UUID
    billed_account: uuid.UUID
    recent_account: uuid.UUID
    gone_owner: uuid.UUID
    shared_member: uuid.UUID
    billed_owner: uuid.UUID
    buckets: dict[str, str] = field(default_factory=dict)  # role -> backend name
    bucket_ids: dict[str, uuid.UUID] = field(default_factory=dict)
    sftp_login: str = ""


def _bucket(session: Session, account: Account, role: str, seeded: Seeded, **fields: Any) -> Bucket:
    name = backend_bucket(f"purge-{role.replace('_', '-')}-{uuid.uuid4().hex[:10]}")
    bucket = Bucket(account_id=account.id, name=name, region="us-east-1", **fields)
    session.add(bucket)
    session.flush()
    seeded.buckets[role] = name
    seeded.bucket_ids[role] = bucket.id
    return bucket


def seed(engine: sa.Engine) -> Seeded:
    credentials = registry.tenant_credentials()
    with Session(engine, expire_on_commit=False) as s, s.begin():
        alice = make_user(s)
        live = make_account(s, alice, name="Live")
        gone_owner, shared = make_user(s), make_user(s)
        gone = make_account(s, gone_owner, name="Gone")
        gone.deleted_at, gone.status = NOW - 31 * DAY, "closed"
        s.add(AccountMember(account_id=gone.id, user_id=shared.id, role="member"))
        s.add(AccountMember(account_id=live.id, user_id=shared.id, role="member"))
        billed_owner = make_user(s)
        billed = make_account(s, billed_owner, name="Billed")
        billed.deleted_at, billed.status = NOW - 31 * DAY, "closed"
        recent_owner = make_user(s)
        recent = make_account(s, recent_owner, name="Recent")
        recent.deleted_at, recent.status = NOW - 29 * DAY, "closed"
        s.flush()
        seeded = Seeded(live.id, gone.id, billed.id, recent.id, gone_owner.id, shared.id, billed_owner.id)

        # sessions, reset tokens: expired or spent more than a day ago go
        def session_row(**fields: Any) -> UserSession:
            return UserSession(
                user_id=alice.id,
                access_token_hash=uuid.uuid4().hex,
                access_expires_at=NOW,
                refresh_token_hash=uuid.uuid4().hex,
                **fields,
            )

        s.add_all(
            [
                session_row(expires_at=NOW - 2 * DAY),
                session_row(expires_at=NOW + DAY, revoked_at=NOW - 2 * DAY),
                session_row(expires_at=NOW + DAY),
                session_row(expires_at=NOW + DAY, revoked_at=NOW - HOUR),
            ]
        )
        s.add_all(
            [
                PasswordResetToken(user_id=alice.id, token_hash=uuid.uuid4().hex, expires_at=NOW - 2 * DAY),
                PasswordResetToken(
                    user_id=alice.id, token_hash=uuid.uuid4().hex, expires_at=NOW + DAY, used_at=NOW - 2 * DAY
                ),
                PasswordResetToken(user_id=alice.id, token_hash=uuid.uuid4().hex, expires_at=NOW + HOUR),
                PasswordResetToken(
                    user_id=alice.id, token_hash=uuid.uuid4().hex, expires_at=NOW + DAY, used_at=NOW - HOUR
                ),
            ]
        )

        def invitation(**fields: Any) -> Invitation:
            return Invitation(
                account_id=live.id, email="x@example.test", role="member", token_hash=uuid.uuid4().hex, **fields
            )

        s.add_all(
            [
                invitation(expires_at=NOW - 2 * DAY),
                invitation(expires_at=NOW + DAY, accepted_at=NOW - 2 * DAY),
                invitation(expires_at=NOW + DAY, revoked_at=NOW - 2 * DAY),
                invitation(expires_at=NOW + DAY),
                invitation(expires_at=NOW - HOUR),
            ]
        )

        live_bucket = _bucket(s, live, "live", seeded)

        def share(**fields: Any) -> ObjectShare:
            return ObjectShare(bucket_id=live_bucket.id, object_key="a/file.txt", token_hash=uuid.uuid4().hex, **fields)

        s.add_all(
            [
                share(expires_at=NOW - 2 * DAY),
                share(revoked_at=NOW - 2 * DAY),
                share(max_downloads=1, download_count=1, updated_at=NOW - 2 * DAY),
                share(expires_at=NOW + DAY),
                share(max_downloads=1, download_count=1, updated_at=NOW - HOUR),
            ]
        )
        s.add_all(
            [
                RateLimit(bucket_key="login:old", window_start=NOW - 2 * DAY, count=3),
                RateLimit(bucket_key="login:now", window_start=NOW, count=1),
            ]
        )

        def idempotency(key: str, expires_at: datetime) -> IdempotencyKey:
            return IdempotencyKey(
                user_id=alice.id, key=key, method="POST", path="/v1/x", request_hash="h", expires_at=expires_at
            )

        s.add_all([idempotency("old", NOW - HOUR), idempotency("new", NOW + HOUR)])

        def notification(created_at: datetime, read_at: datetime | None) -> Notification:
            return Notification(user_id=alice.id, type="t", title="t", created_at=created_at, read_at=read_at)

        s.add_all(
            [
                notification(NOW - 91 * DAY, NOW - 91 * DAY),
                notification(NOW - 89 * DAY, NOW - 89 * DAY),
                notification(NOW - 200 * DAY, None),
            ]
        )

        def entry(age_days: int, severity: str) -> AuditLog:
            return AuditLog(account_id=live.id, action="seed.entry", severity=severity, created_at=NOW - age_days * DAY)

        s.add_all([entry(366, "info"), entry(364, "info"), entry(366, "critical"), entry(2556, "critical")])

        invoice = Invoice(account_id=live.id, kind="order", currency="EUR", status="paid")
        s.add(invoice)
        s.flush()

        def usage(account_id: uuid.UUID, bucket_id: uuid.UUID | None, start: datetime, **fields: Any) -> UsageRecord:
            return UsageRecord(
                account_id=account_id,
                bucket_id=bucket_id,
                metric="storage_bytes",
                quantity=Decimal(1),
                period_start=start,
                period_end=start + HOUR,
                source="seed",
                **fields,
            )

        s.add_all(
            [
                usage(live.id, None, NOW - 25 * 31 * DAY, invoice_id=invoice.id),
                usage(live.id, None, NOW - 23 * 30 * DAY, invoice_id=invoice.id),
                usage(live.id, None, NOW - 30 * 31 * DAY),
            ]
        )
        s.add_all(
            [
                JobRun(job="collect_usage", trigger="schedule", status="succeeded", started_at=NOW - 91 * DAY),
                JobRun(job="collect_usage", trigger="schedule", status="succeeded", started_at=NOW - 89 * DAY),
            ]
        )

        # soft-deleted buckets of the live account
        old = _bucket(s, live, "old", seeded, deleted_at=NOW - 8 * DAY, status="deleting")
        s.add(BucketPermission(bucket_id=old.id, user_id=alice.id, level="read"))
        s.add(ObjectTag(bucket_id=old.id, object_key="a/file.txt", tag_key="k", tag_value="v"))
        s.add(ObjectFavorite(bucket_id=old.id, user_id=alice.id, object_key="a/file.txt"))
        _bucket(s, live, "recent", seeded, deleted_at=NOW - 6 * DAY, status="deleting")
        billed_usage = _bucket(s, live, "unbilled", seeded, deleted_at=NOW - 8 * DAY, status="deleting")
        s.add(usage(live.id, billed_usage.id, NOW - 3 * DAY))

        # the deleted account without financial records: a bucket, an access key, an SFTP user
        gone_bucket = _bucket(s, gone, "gone", seeded)
        key = credentials.create_credential(str(gone.id), "backup", [gone_bucket.name])
        s.add(AccessKey(account_id=gone.id, name="backup", access_key_id=key.access_key_id))
        sftp_key = credentials.create_credential(str(gone.id), "sftp", [gone_bucket.name])
        seeded.sftp_login = f"{gone.slug[:31]}.backup"
        registry.sftpgo().create_user(
            seeded.sftp_login,
            home=S3Home(
                bucket=gone_bucket.name,
                region="us-east-1",
                access_key_id=sftp_key.access_key_id,
                secret_access_key=sftp_key.secret_access_key,
            ),
            password="a-long-enough-password",
        )
        s.add(SftpUser(account_id=gone.id, username=seeded.sftp_login, bucket_id=gone_bucket.id))
        s.add(Notification(account_id=gone.id, type="t", title="unread, goes with its account"))
        s.add(usage(gone.id, gone_bucket.id, NOW - 3 * DAY))
        s.add(AuditLog(account_id=gone.id, action="seed.gone", target_type="bucket"))

        # the deleted account with an invoice: kept, anonymized
        s.add(Invoice(account_id=billed.id, kind="order", currency="EUR", status="paid"))
        billed_bucket = _bucket(s, billed, "billed", seeded)
        s.add(usage(billed.id, billed_bucket.id, NOW - 40 * DAY))

        # deleted, but still within its retention
        _bucket(s, recent, "recent_account", seeded)
    return seeded


def table_counts(engine: sa.Engine) -> dict[str, int]:
    tables = [
        "sessions",
        "password_reset_tokens",
        "invitations",
        "object_shares",
        "rate_limits",
        "idempotency_keys",
        "notifications",
        "usage_records",
        "accounts",
        "buckets",
        "access_keys",
        "sftp_users",
        "account_members",
        "bucket_permissions",
        "object_tags",
        "object_favorites",
    ]
    with engine.connect() as connection:
        counts = {table: connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one() for table in tables}  # noqa: S608
        counts["audit_logs"] = connection.execute(
            sa.text("SELECT count(*) FROM audit_logs WHERE action = 'seed.entry'")
        ).scalar_one()
        counts["job_runs"] = connection.execute(
            sa.text("SELECT count(*) FROM job_runs WHERE job <> 'purge_retention'")
        ).scalar_one()
    return counts


def test_purge_deletes_exactly_what_is_past_retention(db: sa.Engine, sftpgo: SftpGoStub) -> None:
    seeded = seed(db)
    before = table_counts(db)

    # a dry run counts and deletes nothing, in the database or the backends
    dry = purge_job({"dry_run": True})
    assert dry["dry_run"] is True
    assert dry["counts"] == EXPECTED
    assert table_counts(db) == before
    assert all(bucket_exists(name) for name in seeded.buckets.values())
    assert len(tenant_iam_users(seeded.gone_account)) == 2
    assert seeded.sftp_login in sftpgo.users

    real = purge_job()
    assert real["dry_run"] is False
    assert real["counts"] == EXPECTED, "the dry run reported what the real run deleted"
    assert real["failures"] == []
    assert real["longest_transaction_ms"] < 1000

    after = table_counts(db)
    gone_rows = {
        "sessions": 2,
        "password_reset_tokens": 2,
        "invitations": 3,
        "object_shares": 3,
        "rate_limits": 1,
        "idempotency_keys": 1,
        "notifications": 2,  # the old read one; the unread one of the deleted account went with it
        "audit_logs": 2,
        "usage_records": 3,  # and the deleted account's own, which is not counted as a retention kind
        "job_runs": 1,
        "accounts": 1,
        "buckets": 3,  # the old bucket, the deleted account's, the anonymized account's (no usage left)
        "access_keys": 1,
        "sftp_users": 1,
        "account_members": 3,  # the deleted account's two, the anonymized account's owner
        "bucket_permissions": 1,
        "object_tags": 1,
        "object_favorites": 1,
    }
    assert {table: before[table] - after[table] for table in before} == gone_rows

    # backends: only what belonged to expired things is gone
    expired = {"old", "unbilled", "gone", "billed"}
    for role, name in seeded.buckets.items():
        assert bucket_exists(name) is (role not in expired), role
    assert tenant_iam_users(seeded.gone_account) == []
    assert seeded.sftp_login not in sftpgo.users
    with pytest.raises(SftpUserNotFound):
        registry.sftpgo().get_user(seeded.sftp_login)

    with Session(db) as s:
        # the bucket with unbilled usage: purged in the backend, its row kept for billing
        unbilled = s.get_one(Bucket, seeded.bucket_ids["unbilled"])
        assert unbilled.status == "deleted"
        assert s.get(Bucket, seeded.bucket_ids["recent"]) is not None
        assert s.get(Account, seeded.gone_account) is None
        gone_entry = s.scalars(sa.select(AuditLog).where(AuditLog.action == "seed.gone")).one()
        assert gone_entry.account_id is None, "the audit entry outlives its account"
        billed = s.get_one(Account, seeded.billed_account)
        assert (billed.name, billed.billing_email, billed.status) == ("Deleted account", None, "closed")
        assert "purged_at" in billed.settings
        assert s.scalar(sa.select(sa.func.count()).select_from(Invoice).where(Invoice.account_id == billed.id)) == 1
        assert s.get_one(Account, seeded.recent_account).name == "Recent"
        for user_id in (seeded.gone_owner, seeded.billed_owner):
            user = s.get_one(User, user_id)
            assert (user.status, user.email, user.password_hash) == ("deleted", f"deleted-{user_id}@invalid", None)
        assert s.get_one(User, seeded.shared_member).status == "active", "still a member of another account"
        purges = s.scalars(sa.select(AuditLog.action).where(AuditLog.action.in_(["account.purge", "bucket.purge"])))
        assert sorted(purges) == ["account.purge", "account.purge", "bucket.purge", "bucket.purge"]

    # a re-run finds nothing more
    again = purge_job()
    assert set(again["counts"]) == set(EXPECTED) and not any(again["counts"].values())
    assert table_counts(db) == after


def test_row_kinds_go_in_short_batches_over_page_ranges(db: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from primecloud.services.retention import rows

    with db.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO rate_limits (bucket_key, window_start, count)"
                " SELECT 'k' || g, CASE WHEN g % 3 = 0 THEN now() ELSE now() - interval '2 days' END, 1"
                " FROM generate_series(1, 3000) g"
            )
        )
    monkeypatch.setattr(rows, "FIRST_BATCH_PAGES", 1)
    monkeypatch.setattr(rows, "TARGET_BATCH_SECONDS", 0.0)  # never grow: one page per transaction
    stats = purge_job()
    assert stats["counts"]["rate_limits"] == 2000
    assert stats["transactions"] > 10
    with db.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM rate_limits")).scalar_one() == 1000


def test_usage_retention_counts_calendar_months() -> None:
    from primecloud.services.retention.rules import months_before

    assert months_before(datetime(2026, 3, 31, 4, 0, tzinfo=UTC), 1) == datetime(2026, 2, 28, 4, 0, tzinfo=UTC)
    assert months_before(datetime(2026, 1, 15, tzinfo=UTC), 24) == datetime(2024, 1, 15, tzinfo=UTC)
    assert months_before(datetime(2026, 12, 31, tzinfo=UTC), 10) == datetime(2026, 2, 28, tzinfo=UTC)
    assert months_before(datetime(2026, 1, 31, tzinfo=UTC), 1) == datetime(2025, 12, 31, tzinfo=UTC)


def test_a_backend_failure_leaves_the_account_for_the_next_run(
    db: sa.Engine, sftpgo: SftpGoStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Session(db, expire_on_commit=False) as s, s.begin():
        owner = make_user(s)
        account = make_account(s, owner, name="Gone")
        account.deleted_at, account.status = NOW - 31 * DAY, "closed"
        login = f"{account.slug[:31]}.files"
        s.add(SftpUser(account_id=account.id, username=login, home_dir="files"))
    registry.sftpgo().create_user(login, home=LocalHome(), password="a-long-enough-password")

    # SftpGo is out of reach: the account stays whole, the run is partial and says why
    monkeypatch.setenv("SFTPGO_URL", "http://127.0.0.1:9")
    get_settings.cache_clear()
    registry.reset()
    failed = purge_job(status="partial")
    assert failed["failures"][0]["subject"] == f"account:{account.id}"
    assert failed["counts"]["accounts_deleted"] == 0
    with Session(db) as s:
        assert s.get(Account, account.id) is not None
        assert s.get_one(User, owner.id).status == "active"

    # back again: the next run finishes the job
    monkeypatch.setenv("SFTPGO_URL", sftpgo.url)
    get_settings.cache_clear()
    registry.reset()
    done = purge_job()
    assert (done["counts"]["accounts_deleted"], done["counts"]["sftp_users"], done["counts"]["users_anonymized"]) == (
        1,
        1,
        1,
    )
    assert login not in sftpgo.users
