"""Members through HTTP: listing, role changes and removal, with the owner rules of docs/domain.md section 2."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.models.iam import Account, AccountMember, ApiKey
from primecloud.models.storage import Bucket, BucketPermission
from primecloud.models.system import AuditLog
from tests.conftest import ApiClient, assert_problem
from tests.factories import Member, Tenant, add_member, make_api_key, make_tenant

ROLES = ["owner", "admin", "member", "viewer"]


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Acme")


@pytest.fixture
def globex(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Globex")


def another(db: sa.Engine, tenant: Tenant, role: str) -> Member:
    """One more member of ``tenant`` with ``role``."""
    with Session(db, expire_on_commit=False) as session, session.begin():
        return add_member(session, session.get_one(Account, tenant.account_id), role)


def roles_in(db: sa.Engine, account_id: uuid.UUID) -> dict[uuid.UUID, str]:
    with Session(db) as session:
        rows = session.execute(
            sa.select(AccountMember.user_id, AccountMember.role).where(AccountMember.account_id == account_id)
        )
        return {user_id: role for user_id, role in rows}


def audit_entries(db: sa.Engine, action: str) -> list[AuditLog]:
    with Session(db) as session:
        return list(session.scalars(sa.select(AuditLog).where(AuditLog.action == action)))


def member_url(tenant: Tenant, user_id: uuid.UUID) -> str:
    return f"/v1/accounts/{tenant.account_id}/members/{user_id}"


# --- GET .../members ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_every_member_lists_the_members(api: ApiClient, acme: Tenant, role: str) -> None:
    r = api.get(f"/v1/accounts/{acme.account_id}/members", token=acme.token(role))
    assert r.status == 200, r
    listed = {item["user_id"]: item for item in r.json["items"]}
    assert {m.user_id: m.role for m in acme.members.values()} == {
        uuid.UUID(user_id): item["role"] for user_id, item in listed.items()
    }
    viewer = listed[str(acme.members["viewer"].user_id)]
    assert viewer["email"] == acme.members["viewer"].email and viewer["name"] == "Test User"
    assert set(viewer) == {"id", "user_id", "email", "name", "role", "joined_at"}
    assert r.json["next_cursor"] is None


def test_a_page_of_members_takes_two_statements_whatever_its_size(acme: Tenant, db: sa.Engine) -> None:
    """The access check, then members joined to their users: no statement per member."""
    from localrun.gateway.events import authorized_event
    from localrun.invoke import invoke
    from tests.conftest import count_statements

    owner = acme.members["owner"]
    event = authorized_event(
        "GET", "/v1/accounts/{account_id}/members", {"account_id": str(acme.account_id)}, str(owner.user_id)
    )
    invoke("ListMembersFunction", dict(event))  # warm: imports and connection
    counts = []
    for _ in range(2):
        with count_statements() as statements:
            result = invoke("ListMembersFunction", dict(event))
        assert result["statusCode"] == 200, result
        counts.append((len(statements), result["body"].count('"email"')))
        for _ in range(5):
            another(db, acme, "member")
    assert counts == [(2, 4), (2, 9)]


def test_members_are_paginated(api: ApiClient, acme: Tenant) -> None:
    url = f"/v1/accounts/{acme.account_id}/members"
    first = api.get(url, token=acme.token("viewer"), params={"limit": 3})
    assert first.status == 200 and len(first.json["items"]) == 3 and first.json["next_cursor"]
    rest = api.get(url, token=acme.token("viewer"), params={"limit": 3, "cursor": first.json["next_cursor"]})
    assert rest.status == 200 and len(rest.json["items"]) == 1 and rest.json["next_cursor"] is None
    seen = [item["user_id"] for item in first.json["items"] + rest.json["items"]]
    assert sorted(seen) == sorted(str(m.user_id) for m in acme.members.values())
    problem = assert_problem(api.get(url, token=acme.token("viewer"), params={"limit": 0}), 422, "validation-error")
    assert problem["errors"][0]["field"] == "query.limit"
    assert_problem(api.get(url, token=acme.token("viewer"), params={"cursor": "garbage"}), 422, "validation-error")


def test_an_api_key_needs_members_read(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    with Session(db) as session, session.begin():
        account = session.get_one(Account, acme.account_id)
        with_scope, _ = make_api_key(session, account, acme.members["viewer"].user_id, ["members:read"])
        without, _ = make_api_key(session, account, acme.members["viewer"].user_id, ["account:read"])
    url = f"/v1/accounts/{acme.account_id}/members"
    assert api.get(url, token=with_scope).status == 200
    assert_problem(api.get(url, token=without), 403, "forbidden")


# --- PATCH .../members/{user_id} ------------------------------------------------------------------


@pytest.mark.parametrize(("role", "status"), [("owner", 200), ("admin", 200), ("member", 403), ("viewer", 403)])
def test_changing_roles_needs_admin(api: ApiClient, acme: Tenant, db: sa.Engine, role: str, status: int) -> None:
    target = another(db, acme, "member")
    r = api.patch(member_url(acme, target.user_id), token=acme.token(role), json={"role": "viewer"})
    assert r.status == status, r
    assert roles_in(db, acme.account_id)[target.user_id] == ("viewer" if status == 200 else "member")


def test_role_change_answers_the_member_and_is_audited(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    viewer = acme.members["viewer"]
    r = api.patch(member_url(acme, viewer.user_id), token=acme.token("admin"), json={"role": "admin"})
    assert r.status == 200, r
    assert r.json["user_id"] == str(viewer.user_id) and r.json["role"] == "admin"
    assert r.json["email"] == viewer.email
    (entry,) = audit_entries(db, "member.role_change")
    assert entry.account_id == acme.account_id and entry.target_id == str(viewer.user_id)
    assert entry.old_value == {"role": "viewer"} and entry.new_value == {"role": "admin"}
    assert entry.actor_user_id == acme.members["admin"].user_id
    # the same role again changes nothing and writes nothing
    again = api.patch(member_url(acme, viewer.user_id), token=acme.token("admin"), json={"role": "admin"})
    assert again.status == 200 and len(audit_entries(db, "member.role_change")) == 1


def test_admins_cannot_touch_owners_nor_make_one(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    owner, member = acme.members["owner"], acme.members["member"]
    admin_token = acme.token("admin")
    assert_problem(
        api.patch(member_url(acme, owner.user_id), token=admin_token, json={"role": "admin"}), 403, "forbidden"
    )
    assert_problem(
        api.patch(member_url(acme, member.user_id), token=admin_token, json={"role": "owner"}), 403, "forbidden"
    )
    admin_id = acme.members["admin"].user_id
    assert_problem(api.patch(member_url(acme, admin_id), token=admin_token, json={"role": "owner"}), 403, "forbidden")
    assert_problem(api.delete(member_url(acme, owner.user_id), token=admin_token), 403, "forbidden")
    assert roles_in(db, acme.account_id)[owner.user_id] == "owner"


def test_owners_grant_owner_and_the_last_owner_stays(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    owner, admin = acme.members["owner"], acme.members["admin"]
    # the only owner can't step down
    problem = assert_problem(
        api.patch(member_url(acme, owner.user_id), token=owner.token, json={"role": "admin"}), 409, "conflict"
    )
    assert "last owner" in str(problem["detail"])
    assert_problem(api.delete(member_url(acme, owner.user_id), token=owner.token), 409, "conflict")

    # with a second owner, the first may step down; owner_user_id follows to a remaining owner
    assert api.patch(member_url(acme, admin.user_id), token=owner.token, json={"role": "owner"}).status == 200
    r = api.patch(member_url(acme, owner.user_id), token=owner.token, json={"role": "member"})
    assert r.status == 200 and r.json["role"] == "member"
    assert roles_in(db, acme.account_id)[admin.user_id] == "owner"
    with Session(db) as session:
        assert session.get_one(Account, acme.account_id).owner_user_id == admin.user_id
    # and now the new one is the last
    assert_problem(
        api.patch(member_url(acme, admin.user_id), token=admin.token, json={"role": "viewer"}), 409, "conflict"
    )
    assert [e.severity for e in audit_entries(db, "member.role_change")] == ["warning", "warning"]


@pytest.mark.parametrize(
    ("body", "field"), [({"role": "god"}, "body.role"), ({}, "body.role"), ({"role": "admin", "x": 1}, "body.x")]
)
def test_role_change_rejects_bad_input(api: ApiClient, acme: Tenant, body: dict[str, object], field: str) -> None:
    r = api.patch(member_url(acme, acme.members["viewer"].user_id), token=acme.token("owner"), json=body)
    problem = assert_problem(r, 422, "validation-error")
    assert problem["errors"][0]["field"] == field


def test_unknown_member_ids(api: ApiClient, acme: Tenant) -> None:
    missing = member_url(acme, uuid.uuid4())
    assert_problem(api.patch(missing, token=acme.token("owner"), json={"role": "viewer"}), 404, "not-found")
    assert_problem(api.delete(missing, token=acme.token("owner")), 404, "not-found")
    problem = assert_problem(
        api.delete(f"/v1/accounts/{acme.account_id}/members/nope", token=acme.token("owner")), 422, "validation-error"
    )
    assert problem["errors"][0]["field"] == "path.user_id"


# --- DELETE .../members/{user_id} -----------------------------------------------------------------


@pytest.mark.parametrize(("role", "status"), [("owner", 204), ("admin", 204), ("member", 403), ("viewer", 403)])
def test_removing_others_needs_admin(api: ApiClient, acme: Tenant, db: sa.Engine, role: str, status: int) -> None:
    target = another(db, acme, "member")
    r = api.delete(member_url(acme, target.user_id), token=acme.token(role))
    assert r.status == status, r
    assert (target.user_id in roles_in(db, acme.account_id)) is (status != 204)


def test_removal_takes_permissions_and_keys_with_it(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    member = acme.members["member"]
    with Session(db) as session, session.begin():
        account = session.get_one(Account, acme.account_id)
        bucket = Bucket(account_id=account.id, name="acme-data", region="us-east-1")
        session.add(bucket)
        session.flush()
        session.add(BucketPermission(bucket_id=bucket.id, user_id=member.user_id, level="write"))
        raw_key, _ = make_api_key(session, account, member.user_id, ["buckets:read"])
    assert api.delete(member_url(acme, member.user_id), token=acme.token("admin")).status == 204

    assert member.user_id not in roles_in(db, acme.account_id)
    with Session(db) as session:
        assert session.scalars(sa.select(BucketPermission)).all() == []
        assert session.scalars(sa.select(ApiKey.revoked_at)).one() is not None
    assert api.get(f"/v1/accounts/{acme.account_id}", token=member.token).status == 404
    assert api.get(f"/v1/accounts/{acme.account_id}", token=raw_key).status == 401
    (entry,) = audit_entries(db, "member.remove")
    assert entry.account_id == acme.account_id and entry.target_id == str(member.user_id)
    assert entry.old_value == {"role": "member"} and entry.new_value == {"left": False}


@pytest.mark.parametrize("role", ["admin", "member", "viewer"])
def test_every_member_may_leave(api: ApiClient, acme: Tenant, db: sa.Engine, role: str) -> None:
    leaver = acme.members[role]
    assert api.delete(member_url(acme, leaver.user_id), token=leaver.token).status == 204
    assert leaver.user_id not in roles_in(db, acme.account_id)
    (entry,) = audit_entries(db, "member.remove")
    assert entry.actor_user_id == leaver.user_id and entry.new_value == {"left": True}


def test_an_owner_leaves_only_when_another_owner_remains(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    owner = acme.members["owner"]
    assert_problem(api.delete(member_url(acme, owner.user_id), token=owner.token), 409, "conflict")
    co_owner = another(db, acme, "owner")
    assert api.delete(member_url(acme, owner.user_id), token=owner.token).status == 204
    with Session(db) as session:
        assert session.get_one(Account, acme.account_id).owner_user_id == co_owner.user_id


def test_owners_remove_owners(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    co_owner = another(db, acme, "owner")
    assert api.delete(member_url(acme, co_owner.user_id), token=acme.token("owner")).status == 204
    assert co_owner.user_id not in roles_in(db, acme.account_id)


def test_suspended_accounts_allow_leaving_and_role_changes(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    with Session(db) as session, session.begin():
        session.get_one(Account, acme.account_id).status = "suspended"
    viewer, member = acme.members["viewer"], acme.members["member"]
    r = api.patch(member_url(acme, member.user_id), token=acme.token("owner"), json={"role": "admin"})
    assert r.status == 200, r
    assert api.delete(member_url(acme, viewer.user_id), token=viewer.token).status == 204


def test_member_routes_are_404_across_tenants(api: ApiClient, acme: Tenant, globex: Tenant) -> None:
    # Globex's owner on Acme's members, and on an Acme member through Globex's account
    assert_problem(api.get(f"/v1/accounts/{acme.account_id}/members", token=globex.token("owner")), 404, "not-found")
    r = api.delete(member_url(globex, acme.members["viewer"].user_id), token=globex.token("owner"))
    assert_problem(r, 404, "not-found")
    r = api.patch(member_url(acme, acme.members["viewer"].user_id), token=globex.token("owner"), json={"role": "admin"})
    assert_problem(r, 404, "not-found")


def test_a_key_acts_with_its_creators_current_role(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    # a key made by an admin who is later demoted can no longer remove members
    admin = acme.members["admin"]
    with Session(db) as session, session.begin():
        raw, _ = make_api_key(session, session.get_one(Account, acme.account_id), admin.user_id, ["members:write"])
    target = another(db, acme, "viewer")
    assert api.patch(member_url(acme, admin.user_id), token=acme.token("owner"), json={"role": "member"}).status == 200
    assert_problem(api.delete(member_url(acme, target.user_id), token=raw), 403, "forbidden")
