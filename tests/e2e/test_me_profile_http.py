"""The caller's own profile and accounts: PATCH /v1/me, GET /v1/me/accounts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.models.iam import Account, PasswordResetToken, User
from primecloud.models.system import AuditLog
from primecloud.passwords import hash_password, verify_password
from tests.conftest import ApiClient, assert_problem
from tests.factories import Member, Tenant, make_account, make_api_key, make_session_token, make_tenant

PASSWORD = "correct horse battery"


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Acme")


@pytest.fixture
def me(db: sa.Engine, acme: Tenant) -> Member:
    """Acme's member, with a password."""
    member = acme.members["member"]
    with Session(db) as session, session.begin():
        session.get_one(User, member.user_id).password_hash = hash_password(PASSWORD)
    return member


def load_user(db: sa.Engine, user_id: uuid.UUID) -> User:
    with Session(db) as session:
        return session.get_one(User, user_id)


def actions(db: sa.Engine) -> list[str]:
    with Session(db) as session:
        return list(session.scalars(sa.select(AuditLog.action).order_by(AuditLog.created_at)))


# --- PATCH /v1/me ---------------------------------------------------------------------------------


def test_name_changes_without_a_password(api: ApiClient, me: Member, db: sa.Engine) -> None:
    r = api.patch("/v1/me", token=me.token, json={"name": "  Ada Lovelace "})
    assert r.status == 200, r
    assert r.json["name"] == "Ada Lovelace" and r.json["email"] == me.email
    with Session(db) as session:
        entry = session.scalars(sa.select(AuditLog)).one()
    assert entry.action == "user.update" and entry.actor_user_id == me.user_id
    assert entry.old_value == {"name": "Test User"} and entry.new_value == {"name": "Ada Lovelace"}


def test_email_change_needs_the_current_password(api: ApiClient, me: Member, db: sa.Engine) -> None:
    problem = assert_problem(
        api.patch("/v1/me", token=me.token, json={"email": "ada@example.test"}), 422, "validation-error"
    )
    assert problem["errors"][0]["field"] == "body.current_password"
    wrong = api.patch("/v1/me", token=me.token, json={"email": "ada@example.test", "current_password": "nope"})
    assert_problem(wrong, 422, "validation-error")
    assert "nope" not in wrong.text

    with Session(db) as session, session.begin():
        session.get_one(User, me.user_id).email_verified_at = datetime.now(UTC)
    r = api.patch("/v1/me", token=me.token, json={"email": "Ada@Example.test", "current_password": PASSWORD})
    assert r.status == 200, r
    assert r.json["email"] == "Ada@Example.test" and r.json["email_verified_at"] is None
    assert actions(db) == ["user.update"]
    # only the case changes: the same address, no password needed
    r = api.patch("/v1/me", token=me.token, json={"email": "ada@example.test"})
    assert r.status == 200 and r.json["email"] == "ada@example.test"


def test_email_taken_case_insensitively_is_409(api: ApiClient, me: Member, acme: Tenant, db: sa.Engine) -> None:
    taken = acme.members["viewer"].email.upper()
    r = api.patch("/v1/me", token=me.token, json={"email": taken, "current_password": PASSWORD})
    assert_problem(r, 409, "conflict")
    assert load_user(db, me.user_id).email == me.email
    assert actions(db) == []


def test_password_change_revokes_the_other_sessions(api: ApiClient, me: Member, db: sa.Engine) -> None:
    with Session(db) as session, session.begin():
        other_token, _ = make_session_token(session, me.user_id)
        session.add(
            PasswordResetToken(
                user_id=me.user_id, token_hash="a" * 64, expires_at=datetime.now(UTC) + timedelta(hours=1)
            )
        )
    r = api.patch(
        "/v1/me",
        token=me.token,
        json={"current_password": PASSWORD, "new_password": "  a brand new passphrase "},
    )
    assert r.status == 200, r
    user = load_user(db, me.user_id)
    assert user.password_hash and verify_password(user.password_hash, "  a brand new passphrase ")
    assert api.get("/v1/me", token=me.token).status == 200  # this session stays
    assert api.get("/v1/me", token=other_token).status == 401  # the other one is gone
    with Session(db) as session:
        assert session.scalars(sa.select(PasswordResetToken.used_at)).one() is not None
        entry = session.scalars(sa.select(AuditLog)).one()
    assert entry.action == "user.password_change" and entry.severity == "warning"
    assert entry.old_value is None and entry.new_value is None  # nothing of the password is kept
    assert "brand new" not in r.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"current_password": PASSWORD, "new_password": "short"}, "body.new_password"),
        ({"current_password": PASSWORD, "new_password": "x" * 257}, "body.new_password"),
        ({"new_password": "long enough password"}, "body.current_password"),
        ({"current_password": "wrong wrong wrong", "new_password": "long enough password"}, "body.current_password"),
        ({"name": None}, "body.name"),
        ({"name": "x" * 201}, "body.name"),
        ({"email": "not-an-email", "current_password": PASSWORD}, "body.email"),
        ({"is_platform_admin": True}, "body.is_platform_admin"),
        ({"status": "active"}, "body.status"),
    ],
)
def test_bad_input_is_422_naming_the_field(api: ApiClient, me: Member, body: dict[str, Any], field: str) -> None:
    problem = assert_problem(api.patch("/v1/me", token=me.token, json=body), 422, "validation-error")
    assert field in [error["field"] for error in problem["errors"]], problem


def test_malformed_json_is_400(api: ApiClient, me: Member) -> None:
    r = api.patch("/v1/me", token=me.token, data="{", headers={"content-type": "application/json"})
    assert_problem(r, 400, "bad-request")


def test_api_keys_cannot_change_the_user(api: ApiClient, me: Member, db: sa.Engine) -> None:
    with Session(db) as session, session.begin():
        raw, _ = make_api_key(session, session.get_one(Account, me.account_id), me.user_id, ["account:write"])
    assert_problem(api.patch("/v1/me", token=raw, json={"name": "Key"}), 403, "forbidden")
    assert_problem(api.get("/v1/me/export", token=raw), 403, "forbidden")
    assert_problem(api.delete("/v1/me", token=raw), 403, "forbidden")
    assert load_user(db, me.user_id).status == "active"


# --- GET /v1/me/accounts --------------------------------------------------------------------------


def test_my_accounts_with_my_role_in_each(api: ApiClient, me: Member, acme: Tenant, db: sa.Engine) -> None:
    with Session(db) as session, session.begin():
        user = session.get_one(User, me.user_id)
        mine = make_account(session, user, name="Mine")
        closed = make_account(session, user, name="Closed")
        closed.deleted_at = datetime.now(UTC)
        mine_id = mine.id
    r = api.get("/v1/me/accounts", token=me.token)
    assert r.status == 200, r
    assert {(item["id"], item["name"], item["my_role"]) for item in r.json["items"]} == {
        (str(acme.account_id), "Acme", "member"),
        (str(mine_id), "Mine", "owner"),
    }
    assert all(item["joined_at"] for item in r.json["items"]) and r.json["next_cursor"] is None
    # another user sees only theirs
    other = api.get("/v1/me/accounts", token=acme.token("viewer"))
    assert [item["id"] for item in other.json["items"]] == [str(acme.account_id)]


def test_my_accounts_are_paginated(api: ApiClient, me: Member, db: sa.Engine) -> None:
    with Session(db) as session, session.begin():
        user = session.get_one(User, me.user_id)
        for index in range(4):
            make_account(session, user, name=f"Account {index}")
    seen: list[str] = []
    cursor = None
    for _ in range(3):
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        r = api.get("/v1/me/accounts", token=me.token, params=params)
        assert r.status == 200, r
        seen += [item["id"] for item in r.json["items"]]
        cursor = r.json["next_cursor"]
    assert cursor is None and len(seen) == len(set(seen)) == 5


def test_an_api_key_sees_only_its_own_account(api: ApiClient, me: Member, db: sa.Engine) -> None:
    with Session(db) as session, session.begin():
        user = session.get_one(User, me.user_id)
        make_account(session, user, name="Private")
        raw, _ = make_api_key(session, session.get_one(Account, me.account_id), me.user_id, ["account:read"])
        no_scope, _ = make_api_key(session, session.get_one(Account, me.account_id), me.user_id, ["buckets:read"])
    r = api.get("/v1/me/accounts", token=raw)
    assert r.status == 200 and [item["id"] for item in r.json["items"]] == [str(me.account_id)]
    assert_problem(api.get("/v1/me/accounts", token=no_scope), 403, "forbidden")
