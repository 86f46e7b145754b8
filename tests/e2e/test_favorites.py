"""Favorites through HTTP: personal, idempotent, listed across the account's buckets the caller can
still read, gone with the object."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.models.iam import AccountMember
from primecloud.models.storage import Bucket, BucketPermission, ObjectFavorite
from primecloud.models.system import AuditLog
from tests.conftest import ApiClient, ApiResponse, assert_problem
from tests.e2e.test_objects import (
    bucket_name,
    bucket_path,
    error_fields,
    put_object,
    s3_client,
    suspend,
)
from tests.factories import Tenant, grant, make_bucket, make_tenant


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Acme")


@pytest.fixture
def globex(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Globex")


@pytest.fixture
def s3(aws_server: dict[str, str]) -> Any:
    return s3_client(aws_server)


@pytest.fixture
def bucket(db: sa.Engine, acme: Tenant) -> uuid.UUID:
    return make_bucket(db, acme.account_id)


def favorite(api: ApiClient, tenant: Tenant, bucket_id: uuid.UUID, key: str, role: str = "owner") -> ApiResponse:
    return api.put(bucket_path(tenant, bucket_id, "/favorites"), token=tenant.token(role), params={"key": key})


def unfavorite(api: ApiClient, tenant: Tenant, bucket_id: uuid.UUID, key: str, role: str = "owner") -> ApiResponse:
    return api.delete(bucket_path(tenant, bucket_id, "/favorites"), token=tenant.token(role), params={"key": key})


def my_favorites(api: ApiClient, tenant: Tenant, role: str = "owner", **params: Any) -> ApiResponse:
    return api.get(f"/v1/accounts/{tenant.account_id}/favorites", token=tenant.token(role), params=params)


def favorite_keys(api: ApiClient, tenant: Tenant, role: str = "owner") -> list[tuple[str, str]]:
    r = my_favorites(api, tenant, role)
    assert r.status == 200, r
    return [(item["bucket_id"], item["key"]) for item in r.json["items"]]


def test_favoriting_is_idempotent(
    api: ApiClient,
    acme: Tenant,
    bucket: uuid.UUID,
    s3: Any,
    db: sa.Engine,
) -> None:
    put_object(s3, db, bucket, "photos/cat.jpg")

    r = favorite(api, acme, bucket, "photos/cat.jpg")
    assert r.status == 201, r
    assert r.json["bucket_id"] == str(bucket) and r.json["bucket_name"] == bucket_name(db, bucket)
    assert r.json["key"] == "photos/cat.jpg" and datetime.fromisoformat(r.json["created_at"]).tzinfo is not None

    again = favorite(api, acme, bucket, "photos/cat.jpg")
    assert again.status == 204 and again.text == ""
    (item,) = my_favorites(api, acme).json["items"]
    assert item == r.json

    assert unfavorite(api, acme, bucket, "photos/cat.jpg").status == 204
    assert unfavorite(api, acme, bucket, "photos/cat.jpg").status == 204  # already gone: fine
    assert my_favorites(api, acme).json["items"] == []
    with Session(db) as session:  # personal bookmarks: not audited
        assert session.scalar(sa.select(sa.func.count()).select_from(AuditLog)) == 0


def test_only_existing_objects_can_be_favorited(
    api: ApiClient,
    acme: Tenant,
    bucket: uuid.UUID,
    db: sa.Engine,
) -> None:
    assert_problem(favorite(api, acme, bucket, "ghost.txt"), 404, "not-found")
    r = favorite(api, acme, bucket, "")
    assert_problem(r, 422, "validation-error")
    assert error_fields(r) == ["query.key"]


def test_favorites_are_personal(
    api: ApiClient,
    acme: Tenant,
    bucket: uuid.UUID,
    s3: Any,
    db: sa.Engine,
) -> None:
    put_object(s3, db, bucket, "mine.txt")
    put_object(s3, db, bucket, "theirs.txt")
    favorite(api, acme, bucket, "mine.txt", role="owner")
    favorite(api, acme, bucket, "theirs.txt", role="admin")

    assert favorite_keys(api, acme, "owner") == [(str(bucket), "mine.txt")]
    assert favorite_keys(api, acme, "admin") == [(str(bucket), "theirs.txt")]
    unfavorite(api, acme, bucket, "theirs.txt", role="owner")  # removing mine of it: nothing to remove
    assert favorite_keys(api, acme, "admin") == [(str(bucket), "theirs.txt")]


def test_the_list_leaves_out_buckets_i_can_no_longer_read(
    api: ApiClient,
    acme: Tenant,
    s3: Any,
    db: sa.Engine,
) -> None:
    member = acme.members["member"]
    kept, revoked, deleted = (make_bucket(db, acme.account_id) for _ in range(3))
    for bucket_id in (kept, revoked, deleted):
        grant(db, bucket_id, member.user_id, "read")
        put_object(s3, db, bucket_id, "doc.txt")
        assert favorite(api, acme, bucket_id, "doc.txt", role="member").status == 201
    assert len(favorite_keys(api, acme, "member")) == 3

    with Session(db) as session, session.begin():
        session.execute(
            sa.delete(BucketPermission).where(
                BucketPermission.bucket_id == revoked, BucketPermission.user_id == member.user_id
            )
        )
        session.get_one(Bucket, deleted).deleted_at = datetime.now(UTC)

    assert favorite_keys(api, acme, "member") == [(str(kept), "doc.txt")]
    with Session(db) as session:  # the rows stay: a restored grant brings them back
        assert session.scalar(sa.select(sa.func.count()).select_from(ObjectFavorite)) == 3
    grant(db, revoked, member.user_id, "write")
    assert sorted(favorite_keys(api, acme, "member")) == sorted([(str(kept), "doc.txt"), (str(revoked), "doc.txt")])


def test_a_member_demoted_to_viewer_keeps_favorites_of_granted_buckets(
    api: ApiClient,
    acme: Tenant,
    s3: Any,
    db: sa.Engine,
) -> None:
    admin = acme.members["admin"]
    granted, ungranted = make_bucket(db, acme.account_id), make_bucket(db, acme.account_id)
    grant(db, granted, admin.user_id, "write")
    for bucket_id in (granted, ungranted):
        put_object(s3, db, bucket_id, "doc.txt")
        favorite(api, acme, bucket_id, "doc.txt", role="admin")
    assert len(favorite_keys(api, acme, "admin")) == 2  # admins read every bucket

    with Session(db) as session, session.begin():
        session.execute(sa.update(AccountMember).where(AccountMember.user_id == admin.user_id).values(role="viewer"))
    assert favorite_keys(api, acme, "admin") == [(str(granted), "doc.txt")]


def test_the_list_pages_newest_first(
    api: ApiClient,
    acme: Tenant,
    bucket: uuid.UUID,
    s3: Any,
    db: sa.Engine,
) -> None:
    keys = [f"f{n}.txt" for n in range(5)]
    for key in keys:
        put_object(s3, db, bucket, key)
        assert favorite(api, acme, bucket, key).status == 201

    seen: list[str] = []
    cursor = None
    while True:
        r = my_favorites(api, acme, limit=2, **({"cursor": cursor} if cursor else {}))
        assert r.status == 200 and len(r.json["items"]) <= 2, r
        seen += [item["key"] for item in r.json["items"]]
        cursor = r.json["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(keys))
    assert error_fields(my_favorites(api, acme, cursor="nonsense")) == ["query.cursor"]


def test_another_accounts_favorites_never_show(
    api: ApiClient, acme: Tenant, globex: Tenant, *, bucket: uuid.UUID, s3: Any, db: sa.Engine
) -> None:
    put_object(s3, db, bucket, "acme.txt")
    favorite(api, acme, bucket, "acme.txt")
    assert my_favorites(api, globex).json["items"] == []
    assert_problem(api.get(f"/v1/accounts/{acme.account_id}/favorites", token=globex.token("owner")), 404, "not-found")
    assert_problem(
        api.put(bucket_path(globex, bucket, "/favorites"), token=globex.token("owner"), params={"key": "acme.txt"}),
        404,
        "not-found",
    )


def test_favorites_go_with_their_object(
    api: ApiClient,
    acme: Tenant,
    bucket: uuid.UUID,
    s3: Any,
    db: sa.Engine,
) -> None:
    put_object(s3, db, bucket, "gone.txt")
    favorite(api, acme, bucket, "gone.txt", role="owner")
    favorite(api, acme, bucket, "gone.txt", role="admin")
    assert (
        api.delete(bucket_path(acme, bucket, "/objects"), token=acme.token("owner"), params={"key": "gone.txt"}).status
        == 204
    )
    assert favorite_keys(api, acme, "owner") == [] and favorite_keys(api, acme, "admin") == []


def test_a_suspended_account_keeps_its_bookmarks(
    api: ApiClient,
    acme: Tenant,
    bucket: uuid.UUID,
    s3: Any,
    db: sa.Engine,
) -> None:
    put_object(s3, db, bucket, "doc.txt")
    suspend(db, acme)
    assert favorite(api, acme, bucket, "doc.txt").status == 201  # personal, changes nothing stored
    assert favorite_keys(api, acme) == [(str(bucket), "doc.txt")]
    assert unfavorite(api, acme, bucket, "doc.txt").status == 204


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}])
def test_bad_list_parameters_are_422(api: ApiClient, acme: Tenant, params: dict[str, Any]) -> None:
    assert_problem(my_favorites(api, acme, **params), 422, "validation-error")
