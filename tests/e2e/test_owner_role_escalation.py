"""API keys never take an account from its owner: every change to the owner role (an invitation as
owner, a role change to or from owner, removing an owner or an owner leaving, a transfer) needs an
owner's signed-in session; below that, a key never makes someone its creator's equal nor changes or
removes such a member (``primecloud.access.check_role_change``)."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.models.iam import Account, AccountMember, Invitation
from primecloud.models.system import AuditLog
from tests.conftest import ApiClient, ApiResponse, assert_problem
from tests.factories import Member, Tenant, add_member, make_api_key, make_tenant

KEY_REFUSED = "needs a signed-in session of an owner"


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Acme")


def key_of(db: sa.Engine, tenant: Tenant, role: str, scopes: list[str] | None = None) -> str:
    """An API key made by ``tenant``'s member of ``role``."""
    with Session(db) as session, session.begin():
        account = session.get_one(Account, tenant.account_id)
        raw, _ = make_api_key(session, account, tenant.members[role].user_id, scopes or ["members:write"])
    return raw


def another(db: sa.Engine, tenant: Tenant, role: str) -> Member:
    with Session(db, expire_on_commit=False) as session, session.begin():
        return add_member(session, session.get_one(Account, tenant.account_id), role)


def roles_in(db: sa.Engine, account_id: uuid.UUID) -> dict[uuid.UUID, str]:
    with Session(db) as session:
        rows = session.execute(
            sa.select(AccountMember.user_id, AccountMember.role).where(AccountMember.account_id == account_id)
        )
        return {user_id: role for user_id, role in rows}


def owner_user_id(db: sa.Engine, account_id: uuid.UUID) -> uuid.UUID:
    with Session(db) as session:
        return session.get_one(Account, account_id).owner_user_id


def audit_actions(db: sa.Engine, account_id: uuid.UUID) -> list[str]:
    with Session(db) as session:
        return list(session.scalars(sa.select(AuditLog.action).where(AuditLog.account_id == account_id)))


def invitations_of(db: sa.Engine, account_id: uuid.UUID) -> int:
    with Session(db) as session:
        count = session.scalar(
            sa.select(sa.func.count()).select_from(Invitation).where(Invitation.account_id == account_id)
        )
        return int(count or 0)


def member_url(tenant: Tenant, user_id: uuid.UUID) -> str:
    return f"/v1/accounts/{tenant.account_id}/members/{user_id}"


def refused_for_a_key(r: ApiResponse) -> None:
    body = assert_problem(r, 403, "forbidden")
    assert KEY_REFUSED in body["detail"] and "API key" in body["detail"], body


# --- an owner's key, whatever its scopes, never touches the owner role -----------------------------


def test_an_owners_key_cannot_invite_an_owner(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    raw = key_of(db, acme, "owner")
    r = api.post(
        f"/v1/accounts/{acme.account_id}/invitations", token=raw, json={"email": "heir@example.test", "role": "owner"}
    )
    refused_for_a_key(r)
    assert "Inviting an owner" in r.json["detail"]
    assert invitations_of(db, acme.account_id) == 0
    assert audit_actions(db, acme.account_id) == []


def test_an_owners_key_cannot_promote_to_owner(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    raw = key_of(db, acme, "owner")
    before = roles_in(db, acme.account_id)
    member = acme.members["member"]
    refused_for_a_key(api.patch(member_url(acme, member.user_id), token=raw, json={"role": "owner"}))
    assert roles_in(db, acme.account_id) == before
    assert audit_actions(db, acme.account_id) == []


@pytest.mark.parametrize("new_role", ["admin", "member", "viewer"])
def test_an_owners_key_cannot_demote_an_owner(api: ApiClient, acme: Tenant, db: sa.Engine, new_role: str) -> None:
    raw = key_of(db, acme, "owner")
    co_owner = another(db, acme, "owner")
    before = roles_in(db, acme.account_id)
    for target in (co_owner.user_id, acme.members["owner"].user_id):  # another owner, or the key's creator
        refused_for_a_key(api.patch(member_url(acme, target), token=raw, json={"role": new_role}))
    assert roles_in(db, acme.account_id) == before
    assert owner_user_id(db, acme.account_id) == acme.members["owner"].user_id
    assert audit_actions(db, acme.account_id) == []


def test_an_owners_key_cannot_remove_an_owner_or_leave_for_one(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    raw = key_of(db, acme, "owner")
    co_owner = another(db, acme, "owner")
    before = roles_in(db, acme.account_id)
    refused_for_a_key(api.delete(member_url(acme, co_owner.user_id), token=raw))
    refused_for_a_key(api.delete(member_url(acme, acme.members["owner"].user_id), token=raw))  # its creator leaving
    assert roles_in(db, acme.account_id) == before
    assert audit_actions(db, acme.account_id) == []


def test_an_owners_key_cannot_transfer_ownership(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    raw = key_of(db, acme, "owner", ["members:write", "account:write"])
    r = api.post(
        f"/v1/accounts/{acme.account_id}/transfer-ownership",
        token=raw,
        json={"user_id": str(acme.members["admin"].user_id)},
    )
    refused_for_a_key(r)
    assert "Transferring ownership" in r.json["detail"]
    assert owner_user_id(db, acme.account_id) == acme.members["owner"].user_id


def test_an_owners_key_still_manages_roles_below_owner(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    raw = key_of(db, acme, "owner")
    member = acme.members["member"]
    r = api.patch(member_url(acme, member.user_id), token=raw, json={"role": "admin"})
    assert r.status == 200 and r.json["role"] == "admin", r
    r = api.post(
        f"/v1/accounts/{acme.account_id}/invitations", token=raw, json={"email": "ops@example.test", "role": "admin"}
    )
    assert r.status == 201, r
    assert api.delete(member_url(acme, acme.members["admin"].user_id), token=raw).status == 204


# --- an admin's key never makes or touches an admin ------------------------------------------------


def test_an_admins_key_cannot_make_or_touch_an_admin(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    raw = key_of(db, acme, "admin")
    other_admin = another(db, acme, "admin")
    before = roles_in(db, acme.account_id)
    below = "only roles below its creator's (admin)"
    r = api.post(
        f"/v1/accounts/{acme.account_id}/invitations", token=raw, json={"email": "peer@example.test", "role": "admin"}
    )
    assert below in assert_problem(r, 403, "forbidden")["detail"]
    r = api.patch(member_url(acme, acme.members["member"].user_id), token=raw, json={"role": "admin"})
    assert below in assert_problem(r, 403, "forbidden")["detail"]
    r = api.patch(member_url(acme, other_admin.user_id), token=raw, json={"role": "viewer"})
    assert below in assert_problem(r, 403, "forbidden")["detail"]
    r = api.delete(member_url(acme, other_admin.user_id), token=raw)
    assert below in assert_problem(r, 403, "forbidden")["detail"]
    # nor an owner
    refused_for_a_key(api.delete(member_url(acme, acme.members["owner"].user_id), token=raw))
    assert roles_in(db, acme.account_id) == before
    assert invitations_of(db, acme.account_id) == 0
    assert audit_actions(db, acme.account_id) == []
    # below its creator it works as before
    r = api.patch(member_url(acme, acme.members["viewer"].user_id), token=raw, json={"role": "member"})
    assert r.status == 200 and r.json["role"] == "member", r


# --- the signed-in owner does all of it --------------------------------------------------------------


def test_a_signed_in_owner_changes_the_owner_role(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    token = acme.token("owner")
    r = api.post(
        f"/v1/accounts/{acme.account_id}/invitations", token=token, json={"email": "heir@example.test", "role": "owner"}
    )
    assert r.status == 201 and r.json["role"] == "owner", r
    member = acme.members["member"]
    assert api.patch(member_url(acme, member.user_id), token=token, json={"role": "owner"}).status == 200
    assert api.patch(member_url(acme, member.user_id), token=token, json={"role": "viewer"}).status == 200
    co_owner = another(db, acme, "owner")
    assert api.delete(member_url(acme, co_owner.user_id), token=token).status == 204
    assert roles_in(db, acme.account_id)[member.user_id] == "viewer"
    assert co_owner.user_id not in roles_in(db, acme.account_id)
    assert sorted(audit_actions(db, acme.account_id)) == [
        "invitation.create",
        "member.remove",
        "member.role_change",
        "member.role_change",
    ]


def test_a_signed_in_admin_still_cannot_touch_owners(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    token = acme.token("admin")
    r = api.patch(member_url(acme, acme.members["member"].user_id), token=token, json={"role": "owner"})
    assert "needs the owner role; you are admin" in assert_problem(r, 403, "forbidden")["detail"]
    r = api.delete(member_url(acme, acme.members["owner"].user_id), token=token)
    assert "needs the owner role; you are admin" in assert_problem(r, 403, "forbidden")["detail"]
    # an admin session may make another admin (a key of theirs may not: above)
    r = api.patch(member_url(acme, acme.members["member"].user_id), token=token, json={"role": "admin"})
    assert r.status == 200, r
