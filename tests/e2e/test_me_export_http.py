"""GET /v1/me/export: everything stored about the caller, and never a hash."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.models.iam import Account, Invitation, PasswordResetToken, User, UserSession
from primecloud.models.storage import Bucket, BucketPermission, ObjectFavorite, ObjectShare
from primecloud.models.system import AuditLog, Notification
from tests.conftest import ApiClient
from tests.factories import Tenant, make_api_key, make_tenant


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Acme")


def keys_anywhere(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from keys_anywhere(item)
    elif isinstance(value, list):
        for item in value:
            yield from keys_anywhere(item)


def test_export_holds_my_rows_and_no_hashes(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    me = acme.members["admin"]
    later = datetime.now(UTC) + timedelta(days=1)
    with Session(db) as session, session.begin():
        account = session.get_one(Account, acme.account_id)
        session.get_one(User, me.user_id).password_hash = "argon2-hash-that-must-not-leak"
        bucket = Bucket(account_id=account.id, name="acme-export", region="us-east-1")
        session.add(bucket)
        session.flush()
        _, key = make_api_key(session, account, me.user_id, ["buckets:read"])
        session.add_all(
            [
                BucketPermission(bucket_id=bucket.id, user_id=me.user_id, level="write"),
                ObjectFavorite(bucket_id=bucket.id, user_id=me.user_id, object_key="reports/q1.pdf"),
                ObjectShare(
                    bucket_id=bucket.id,
                    object_key="reports/q1.pdf",
                    token_hash="s" * 64,
                    password_hash="share-password-hash",
                    created_by=me.user_id,
                ),
                Invitation(
                    account_id=account.id,
                    email="friend@example.test",
                    role="viewer",
                    token_hash="i" * 64,
                    invited_by=me.user_id,
                    expires_at=later,
                ),
                Invitation(
                    account_id=account.id,
                    email=me.email.upper(),
                    role="admin",
                    token_hash="j" * 64,
                    invited_by=acme.members["owner"].user_id,
                    expires_at=later,
                    accepted_at=datetime.now(UTC),
                ),
                PasswordResetToken(user_id=me.user_id, token_hash="r" * 64, expires_at=later),
                Notification(account_id=account.id, user_id=me.user_id, type="test.hello", title="Hello"),
                # another user's rows stay out
                Notification(account_id=account.id, user_id=acme.members["owner"].user_id, type="x", title="Not mine"),
            ]
        )
        key_prefix = key.prefix
        hashes = [
            *session.scalars(sa.select(UserSession.access_token_hash).where(UserSession.user_id == me.user_id)),
            *session.scalars(sa.select(UserSession.refresh_token_hash).where(UserSession.user_id == me.user_id)),
            key.key_hash,
        ]
    assert api.patch("/v1/me", token=me.token, json={"name": "Exporter"}).status == 200  # an audit entry of mine

    r = api.get("/v1/me/export", token=me.token)
    assert r.status == 200, r
    doc = r.json
    assert doc["profile"]["id"] == str(me.user_id) and doc["profile"]["name"] == "Exporter"
    assert doc["memberships"] == [
        {
            "account_id": str(acme.account_id),
            "account_name": "Acme",
            "role": "admin",
            "joined_at": doc["memberships"][0]["joined_at"],
        }
    ]
    assert len(doc["sessions"]) == 1 and set(doc["sessions"][0]) >= {"ip", "user_agent", "created_at", "expires_at"}
    assert [(k["name"], k["prefix"], k["scopes"]) for k in doc["api_keys"]] == [
        ("test key", key_prefix, ["buckets:read"])
    ]
    assert sorted((i["direction"], i["role"]) for i in doc["invitations"]) == [
        ("received", "admin"),
        ("sent", "viewer"),
    ]
    assert [(p["bucket_name"], p["level"]) for p in doc["bucket_permissions"]] == [("acme-export", "write")]
    assert [f["object_key"] for f in doc["favorites"]] == ["reports/q1.pdf"]
    assert [(s["object_key"], s["password_protected"]) for s in doc["shares"]] == [("reports/q1.pdf", True)]
    assert [n["title"] for n in doc["notifications"]] == ["Hello"]
    assert len(doc["password_resets"]) == 1
    assert [e["action"] for e in doc["audit_entries"]] == ["user.update"]

    assert [key for key in keys_anywhere(doc) if key.endswith("_hash")] == []
    for secret in [*hashes, "argon2-hash-that-must-not-leak", "share-password-hash", "s" * 64, "r" * 64]:
        assert secret not in r.text

    with Session(db) as session:
        entry = session.scalars(sa.select(AuditLog).where(AuditLog.action == "user.export")).one()
    assert entry.actor_user_id == me.user_id and entry.target_id == str(me.user_id)


def test_a_new_user_exports_an_almost_empty_document(api: ApiClient, acme: Tenant) -> None:
    r = api.get("/v1/me/export", token=acme.token("viewer"))
    assert r.status == 200, r
    assert r.json["api_keys"] == [] and r.json["audit_entries"] == [] and len(r.json["memberships"]) == 1
