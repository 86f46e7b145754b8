"""Bucket permissions through HTTP: list, grant or change, revoke; only the bucket's admins manage them."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.models.iam import Account
from primecloud.models.storage import BucketPermission
from tests.conftest import ApiClient, assert_problem
from tests.e2e.test_buckets import EVERYONE, Crew, audit_entries, invalid_fields, make_crew
from tests.factories import Member, Tenant, add_member, make_tenant

# Managing permissions needs admin on the bucket: owners and admins by role, members by an admin grant.
# A viewer granted admin still only reads; with no grant the bucket does not exist for the caller.
MANAGE_STATUS = {
    "owner": 200,
    "admin": 200,
    "member": 404,
    "viewer": 404,
    "member_read": 403,
    "member_write": 403,
    "member_admin": 200,
    "viewer_admin": 403,
}


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Acme")


@pytest.fixture
def globex(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Globex")


@pytest.fixture
def crew(db: sa.Engine, acme: Tenant) -> Crew:
    return make_crew(db, acme)


def grants(db: sa.Engine, bucket_id: uuid.UUID) -> dict[uuid.UUID, str]:
    with Session(db) as session:
        rows = session.execute(
            sa.select(BucketPermission.user_id, BucketPermission.level).where(BucketPermission.bucket_id == bucket_id)
        )
        return {user_id: level for user_id, level in rows}


def new_member(db: sa.Engine, tenant: Tenant, role: str = "member") -> Member:
    with Session(db, expire_on_commit=False) as session, session.begin():
        return add_member(session, session.get_one(Account, tenant.account_id), role)


# --------------------------------------------------------------------------- who may


@pytest.mark.parametrize("who", EVERYONE)
def test_who_lists_permissions(api: ApiClient, crew: Crew, who: str) -> None:
    r = api.get(f"{crew.url}/permissions", token=crew.token(who))
    assert r.status == MANAGE_STATUS[who], r


@pytest.mark.parametrize("who", EVERYONE)
def test_who_grants_permissions(api: ApiClient, crew: Crew, db: sa.Engine, who: str) -> None:
    target = new_member(db, crew.tenant)
    r = api.put(f"{crew.url}/permissions/{target.user_id}", token=crew.token(who), json={"level": "write"})
    assert r.status == MANAGE_STATUS[who], r
    assert grants(db, crew.bucket_id).get(target.user_id) == ("write" if r.status == 200 else None)


@pytest.mark.parametrize("who", EVERYONE)
def test_who_revokes_permissions(api: ApiClient, crew: Crew, db: sa.Engine, who: str) -> None:
    target = crew.people["member_write"].user_id
    r = api.delete(f"{crew.url}/permissions/{target}", token=crew.token(who))
    expected = 204 if MANAGE_STATUS[who] == 200 else MANAGE_STATUS[who]
    assert r.status == expected, r
    assert (target in grants(db, crew.bucket_id)) is (expected != 204)


# --------------------------------------------------------------------------- listing


def test_the_list_shows_each_grant_with_the_user_and_what_it_allows(api: ApiClient, crew: Crew, db: sa.Engine) -> None:
    # an admin of the account granted read: stored as granted, allows admin anyway
    admin = crew.people["admin"]
    with Session(db) as session, session.begin():
        session.add(BucketPermission(bucket_id=crew.bucket_id, user_id=admin.user_id, level="read"))
    r = api.get(f"{crew.url}/permissions", token=crew.token("member_admin"))
    assert r.status == 200, r
    by_user = {item["user_id"]: item for item in r.json["items"]}
    expected = {
        "member_read": ("member", "read", "read"),
        "member_write": ("member", "write", "write"),
        "member_admin": ("member", "admin", "admin"),
        "viewer_admin": ("viewer", "admin", "read"),
        "admin": ("admin", "read", "admin"),
    }
    assert set(by_user) == {str(crew.people[who].user_id) for who in expected}
    for who, (role, level, effective) in expected.items():
        item = by_user[str(crew.people[who].user_id)]
        assert (item["role"], item["level"], item["effective_level"]) == (role, level, effective), who
        assert item["email"] == crew.people[who].email and item["name"] == "Test User"
        assert item["granted_at"] and item["updated_at"]
    # oldest grant first: the crew's, then the admin's
    assert r.json["items"][-1]["user_id"] == str(admin.user_id)
    assert r.json["next_cursor"] is None


def test_the_list_is_paginated(api: ApiClient, crew: Crew) -> None:
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        r = api.get(f"{crew.url}/permissions", token=crew.token("owner"), params=params)
        assert r.status == 200, r
        seen += [item["user_id"] for item in r.json["items"]]
        cursor = r.json["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(str(crew.people[who].user_id) for who in EVERYONE[4:])
    assert len(seen) == 4


def test_the_list_shows_only_this_buckets_grants(api: ApiClient, db: sa.Engine, acme: Tenant) -> None:
    first, second = make_crew(db, acme), make_crew(db, acme)
    r = api.get(f"{first.url}/permissions", token=acme.token("owner"))
    assert {item["user_id"] for item in r.json["items"]} == {str(first.people[who].user_id) for who in EVERYONE[4:]}
    assert not {item["user_id"] for item in r.json["items"]} & {str(p.user_id) for p in second.people.values()}


# --------------------------------------------------------------------------- granting


def test_a_grant_is_stored_audited_and_takes_effect(api: ApiClient, crew: Crew, db: sa.Engine) -> None:
    target = crew.people["member"]
    assert_problem(api.get(crew.url, token=target.token), 404, "not-found")  # before: invisible

    r = api.put(f"{crew.url}/permissions/{target.user_id}", token=crew.token("member_admin"), json={"level": "read"})
    assert r.status == 200, r
    assert r.json["user_id"] == str(target.user_id) and r.json["email"] == target.email
    assert (r.json["role"], r.json["level"], r.json["effective_level"]) == ("member", "read", "read")
    assert grants(db, crew.bucket_id)[target.user_id] == "read"
    assert api.get(crew.url, token=target.token).json["my_level"] == "read"
    (entry,) = audit_entries(db, "bucket_permission.grant")
    assert entry.account_id == crew.tenant.account_id and entry.actor_user_id == crew.people["member_admin"].user_id
    assert entry.target_type == "bucket" and entry.target_id == str(crew.bucket_id)
    assert entry.old_value is None and entry.new_value == {"user_id": str(target.user_id), "level": "read"}

    # changing the level updates the one grant
    r = api.put(f"{crew.url}/permissions/{target.user_id}", token=crew.token("owner"), json={"level": "admin"})
    assert r.status == 200 and r.json["level"] == "admin"
    assert grants(db, crew.bucket_id)[target.user_id] == "admin"
    assert api.get(crew.url, token=target.token).json["my_level"] == "admin"
    second = audit_entries(db, "bucket_permission.grant")[1]
    assert second.old_value == {"user_id": str(target.user_id), "level": "read"}
    assert second.new_value == {"user_id": str(target.user_id), "level": "admin"}

    # the same level again changes nothing and is not audited
    r = api.put(f"{crew.url}/permissions/{target.user_id}", token=crew.token("owner"), json={"level": "admin"})
    assert r.status == 200 and r.json["level"] == "admin"
    assert len(audit_entries(db, "bucket_permission.grant")) == 2


def test_a_viewer_and_an_admin_get_what_is_granted_stored_as_granted(api: ApiClient, crew: Crew, db: sa.Engine) -> None:
    viewer, admin = crew.people["viewer"], crew.people["admin"]
    r = api.put(f"{crew.url}/permissions/{viewer.user_id}", token=crew.token("owner"), json={"level": "write"})
    assert r.status == 200 and (r.json["level"], r.json["effective_level"]) == ("write", "read")
    assert api.get(crew.url, token=viewer.token).json["my_level"] == "read"
    r = api.put(f"{crew.url}/permissions/{admin.user_id}", token=crew.token("owner"), json={"level": "read"})
    assert r.status == 200 and (r.json["level"], r.json["effective_level"]) == ("read", "admin")
    assert grants(db, crew.bucket_id)[viewer.user_id] == "write"


def test_only_members_of_the_account_can_be_granted(api: ApiClient, crew: Crew, globex: Tenant, db: sa.Engine) -> None:
    before = grants(db, crew.bucket_id)
    for outsider in (globex.members["member"].user_id, globex.members["owner"].user_id, uuid.uuid4()):
        r = api.put(f"{crew.url}/permissions/{outsider}", token=crew.token("owner"), json={"level": "read"})
        assert_problem(r, 404, "not-found")
        assert_problem(api.delete(f"{crew.url}/permissions/{outsider}", token=crew.token("owner")), 404, "not-found")
    assert grants(db, crew.bucket_id) == before
    assert audit_entries(db, "bucket_permission.grant") == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body.level"),
        ({"level": "owner"}, "body.level"),
        ({"level": None}, "body.level"),
        ({"level": "read", "x": 1}, "body.x"),
    ],
)
def test_a_grant_needs_a_valid_level(api: ApiClient, crew: Crew, body: dict[str, Any], field: str) -> None:
    target = crew.people["member"].user_id
    r = api.put(f"{crew.url}/permissions/{target}", token=crew.token("owner"), json=body)
    assert field in invalid_fields(r), r


# --------------------------------------------------------------------------- revoking


def test_a_revoke_removes_the_grant_and_access_and_is_audited(api: ApiClient, crew: Crew, db: sa.Engine) -> None:
    target = crew.people["member_write"]
    assert api.delete(f"{crew.url}/permissions/{target.user_id}", token=crew.token("member_admin")).status == 204
    assert target.user_id not in grants(db, crew.bucket_id)
    assert_problem(api.get(crew.url, token=target.token), 404, "not-found")
    (entry,) = audit_entries(db, "bucket_permission.revoke")
    assert entry.actor_user_id == crew.people["member_admin"].user_id and entry.target_id == str(crew.bucket_id)
    assert entry.old_value == {"user_id": str(target.user_id), "level": "write"} and entry.new_value is None
    # nothing left to revoke
    r = api.delete(f"{crew.url}/permissions/{target.user_id}", token=crew.token("owner"))
    assert_problem(r, 404, "not-found")
    assert len(audit_entries(db, "bucket_permission.revoke")) == 1


def test_a_member_without_a_grant_has_nothing_to_revoke(api: ApiClient, crew: Crew) -> None:
    member = crew.people["member"].user_id
    assert_problem(api.delete(f"{crew.url}/permissions/{member}", token=crew.token("owner")), 404, "not-found")


def test_a_bucket_admin_may_step_down(api: ApiClient, crew: Crew, db: sa.Engine) -> None:
    me = crew.people["member_admin"]
    r = api.put(f"{crew.url}/permissions/{me.user_id}", token=me.token, json={"level": "read"})
    assert r.status == 200 and r.json["level"] == "read"
    # and from now on reads only
    assert_problem(api.get(f"{crew.url}/permissions", token=me.token), 403, "forbidden")
    assert grants(db, crew.bucket_id)[me.user_id] == "read"


def test_permission_routes_refuse_a_suspended_account_but_list(api: ApiClient, crew: Crew, db: sa.Engine) -> None:
    with Session(db) as session, session.begin():
        session.get_one(Account, crew.tenant.account_id).status = "suspended"
    member = crew.people["member"].user_id
    r = api.put(f"{crew.url}/permissions/{member}", token=crew.token("owner"), json={"level": "read"})
    assert_problem(r, 403, "account-suspended")
    reader = crew.people["member_read"].user_id
    assert_problem(api.delete(f"{crew.url}/permissions/{reader}", token=crew.token("owner")), 403, "account-suspended")
    assert api.get(f"{crew.url}/permissions", token=crew.token("owner")).status == 200
