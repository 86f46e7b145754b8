"""DELETE /v1/me: refused while others depend on the caller's ownership; otherwise anonymized at once."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.models.iam import Account, AccountMember, ApiKey, User, UserSession
from primecloud.models.system import AuditLog
from tests.conftest import ApiClient, assert_problem
from tests.factories import Member, Tenant, add_member, make_account, make_api_key, make_tenant


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Acme")


def memberships_of(db: sa.Engine, user_id: uuid.UUID) -> list[uuid.UUID]:
    with Session(db) as session:
        return list(session.scalars(sa.select(AccountMember.account_id).where(AccountMember.user_id == user_id)))


def test_sole_owner_of_a_shared_account_is_409(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    owner = acme.members["owner"]
    problem = assert_problem(api.delete("/v1/me", token=owner.token), 409, "conflict")
    assert str(acme.account_id) in str(problem["detail"]) and "Acme" in str(problem["detail"])
    assert problem["errors"] == [
        {
            "field": "account_id",
            "account_id": str(acme.account_id),
            "account_name": "Acme",
            "message": "needs an ownership transfer first",
            "type": "sole_owner",
        }
    ]
    with Session(db) as session:
        assert session.get_one(User, owner.user_id).status == "active"
    assert api.get("/v1/me", token=owner.token).status == 200


def test_delete_closes_solo_accounts_leaves_the_rest_and_anonymizes(
    api: ApiClient, acme: Tenant, db: sa.Engine
) -> None:
    me = acme.members["admin"]
    with Session(db) as session, session.begin():
        user = session.get_one(User, me.user_id)
        solo_id = make_account(session, user, name="Solo").id
        raw_key, _ = make_api_key(session, session.get_one(Account, acme.account_id), me.user_id, ["account:read"])

    r = api.delete("/v1/me", token=me.token)
    assert r.status == 202, r
    assert r.json["id"] == str(me.user_id) and r.json["status"] == "deleted"
    assert r.json["closed_account_ids"] == [str(solo_id)]

    # signed out everywhere, keys dead
    assert api.get("/v1/me", token=me.token).status == 401
    assert api.get(f"/v1/accounts/{acme.account_id}", token=raw_key).status == 401
    with Session(db) as session:
        user = session.get_one(User, me.user_id)
        assert (user.status, user.email, user.name, user.password_hash) == (
            "deleted",
            f"deleted-{me.user_id}@invalid",
            "",
            None,
        )
        assert user.deleted_at is not None
        assert session.scalars(sa.select(UserSession.revoked_at).where(UserSession.user_id == me.user_id)).all() != []
        assert None not in session.scalars(sa.select(UserSession.revoked_at).where(UserSession.user_id == me.user_id))
        assert None not in session.scalars(sa.select(ApiKey.revoked_at).where(ApiKey.created_by == me.user_id))
        solo = session.get_one(Account, solo_id)
        assert solo.deleted_at is not None and solo.status == "closed"
        acme_account = session.get_one(Account, acme.account_id)
        assert acme_account.deleted_at is None and acme_account.status == "active"
        entries = {e.action: e for e in session.scalars(sa.select(AuditLog))}
    assert memberships_of(db, me.user_id) == []
    assert entries["user.delete"].severity == "warning" and entries["user.delete"].actor_user_id == me.user_id
    assert entries["account.delete"].account_id == solo_id
    assert entries["member.remove"].account_id == acme.account_id
    # the rest of Acme goes on
    assert api.get(f"/v1/accounts/{acme.account_id}/members", token=acme.token("owner")).status == 200
    # the closed account is gone for everyone
    assert api.get(f"/v1/accounts/{solo_id}", token=acme.token("owner")).status == 404


def test_a_co_owner_may_go_and_hands_over_owner_user_id(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    owner = acme.members["owner"]
    with Session(db, expire_on_commit=False) as session, session.begin():
        co_owner: Member = add_member(session, session.get_one(Account, acme.account_id), "owner")
    assert api.delete("/v1/me", token=owner.token).status == 202
    with Session(db) as session:
        assert session.get_one(Account, acme.account_id).owner_user_id == co_owner.user_id
    assert memberships_of(db, owner.user_id) == []


def test_the_last_member_takes_the_account_with_them(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    owner = acme.members["owner"]
    for role in ("admin", "member", "viewer"):
        leaver = acme.members[role]
        assert api.delete(f"/v1/accounts/{acme.account_id}/members/{leaver.user_id}", token=leaver.token).status == 204
    r = api.delete("/v1/me", token=owner.token)
    assert r.status == 202 and r.json["closed_account_ids"] == [str(acme.account_id)]
    with Session(db) as session:
        assert session.get_one(Account, acme.account_id).status == "closed"
