"""A member removed from an account (or leaving it) takes their share links with them: the links
stop working in the same transaction as the membership ends, each with a ``share.revoke`` audit entry."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.models.iam import AccountMember
from primecloud.models.storage import ObjectShare
from primecloud.models.system import AuditLog
from tests.conftest import ApiClient, assert_problem
from tests.factories import Tenant, grant, make_bucket, make_tenant

KEY = "reports/q3.pdf"


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Acme")


@pytest.fixture
def globex(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Globex")


def bucket_with_object(db: sa.Engine, tenant: Tenant) -> uuid.UUID:
    name = f"share-{uuid.uuid4().hex[:16]}"
    bucket_id = make_bucket(db, tenant.account_id, name)
    boto3.client("s3").put_object(Bucket=name, Key=KEY, Body=b"numbers\n")
    return bucket_id


def share(api: ApiClient, tenant: Tenant, bucket_id: uuid.UUID, token: str) -> dict[str, Any]:
    r = api.post(
        f"/v1/accounts/{tenant.account_id}/buckets/{bucket_id}/shares",
        token=token,
        json={"key": KEY, "expires_in_seconds": 3600},
    )
    assert r.status == 201, r
    return r.json  # type: ignore[no-any-return]


def works(api: ApiClient, link: dict[str, Any]) -> bool:
    r = requests.get(f"{api.base_url}/v1/shares/{link['token']}", allow_redirects=False, timeout=30)
    assert r.status_code in (302, 404), r.text
    return bool(r.status_code == 302)


def revoked_at(db: sa.Engine, link: dict[str, Any]) -> Any:
    with Session(db) as session:
        return session.get_one(ObjectShare, uuid.UUID(link["id"])).revoked_at


def audit_rows(db: sa.Engine, action: str) -> list[AuditLog]:
    with Session(db) as session:
        return list(session.scalars(sa.select(AuditLog).where(AuditLog.action == action)))


def member_url(tenant: Tenant, user_id: uuid.UUID) -> str:
    return f"/v1/accounts/{tenant.account_id}/members/{user_id}"


def test_removing_a_member_revokes_their_links_and_audits_each(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    bucket_id = bucket_with_object(db, acme)
    admin = acme.members["admin"]
    theirs = [share(api, acme, bucket_id, admin.token) for _ in range(2)]
    owners = share(api, acme, bucket_id, acme.token("owner"))
    assert all(works(api, link) for link in [*theirs, owners])

    r = api.delete(member_url(acme, admin.user_id), token=acme.token("owner"))
    assert r.status == 204, r

    assert not any(works(api, link) for link in theirs)
    assert all(revoked_at(db, link) is not None for link in theirs)
    assert works(api, owners) and revoked_at(db, owners) is None  # others' links stay
    (removal,) = audit_rows(db, "member.remove")
    entries = audit_rows(db, "share.revoke")
    assert sorted(entry.target_id or "" for entry in entries) == sorted(link["id"] for link in theirs)
    for entry in entries:
        assert entry.account_id == acme.account_id and entry.target_type == "object_share"
        assert entry.actor_user_id == acme.members["owner"].user_id
        assert entry.request_id == removal.request_id  # the same request, the same transaction
        assert entry.new_value == {"reason": "its creator left the account", "user_id": str(admin.user_id)}
        assert entry.old_value is not None
        assert entry.old_value["bucket_id"] == str(bucket_id) and entry.old_value["object_key"] == KEY


def test_a_member_who_leaves_takes_their_links(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    bucket_id = bucket_with_object(db, acme)
    member = acme.members["member"]
    grant(db, bucket_id, member.user_id, "admin")  # a bucket admin may share
    link = share(api, acme, bucket_id, member.token)
    assert api.delete(member_url(acme, member.user_id), token=member.token).status == 204
    assert not works(api, link)
    (entry,) = audit_rows(db, "share.revoke")
    assert entry.target_id == link["id"] and entry.actor_user_id == member.user_id


def test_links_in_the_users_other_accounts_keep_working(
    api: ApiClient, acme: Tenant, globex: Tenant, db: sa.Engine
) -> None:
    admin = acme.members["admin"]
    with Session(db) as session, session.begin():  # Acme's admin is also Globex's admin
        session.add(AccountMember(account_id=globex.account_id, user_id=admin.user_id, role="admin"))
    acme_link = share(api, acme, bucket_with_object(db, acme), admin.token)
    globex_link = share(api, globex, bucket_with_object(db, globex), admin.token)
    assert api.delete(member_url(acme, admin.user_id), token=acme.token("owner")).status == 204
    assert not works(api, acme_link)
    assert works(api, globex_link) and revoked_at(db, globex_link) is None


def test_a_refused_removal_leaves_the_links(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    """The last owner cannot leave (409): nothing of the removal happens, the links included."""
    link = share(api, acme, bucket_with_object(db, acme), acme.token("owner"))
    assert_problem(
        api.delete(member_url(acme, acme.members["owner"].user_id), token=acme.token("owner")), 409, "conflict"
    )
    assert works(api, link) and revoked_at(db, link) is None
    assert audit_rows(db, "share.revoke") == []


def test_deleting_the_user_revokes_their_links(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    """DELETE /v1/me leaves each account the same way (services.members.detach)."""
    bucket_id = bucket_with_object(db, acme)
    admin = acme.members["admin"]
    link = share(api, acme, bucket_id, admin.token)
    r = api.delete("/v1/me", token=admin.token)
    assert r.status == 202, r
    assert not works(api, link)
    (entry,) = audit_rows(db, "share.revoke")
    assert entry.target_id == link["id"] and entry.actor_user_id == admin.user_id
