"""Sign-up through HTTP: the user, their first account, tokens that work, and what is refused."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.models.iam import Invitation
from primecloud.passwords import verify_password
from primecloud.tokens import hash_token
from tests.conftest import ApiClient, assert_problem
from tests.e2e.auth_support import PASSWORD, audit_rows, rows, unique_email
from tests.factories import make_tenant


def signup_body(**fields: object) -> dict[str, object]:
    return {"email": unique_email("new"), "password": PASSWORD, "name": "Ada Lovelace", **fields}


def test_signup_creates_the_user_an_owned_account_and_a_session(api: ApiClient, db: sa.Engine) -> None:
    # given a new visitor
    body = signup_body(account_name="Analytical Engines")
    # when they sign up
    r = api.post("/v1/auth/signup", json=body, headers={"User-Agent": "pytest-browser/1.0"})
    # then they get their user, their account and a session's tokens, shown once
    assert r.status == 201, r
    assert r.json["user"]["email"] == body["email"] and r.json["user"]["name"] == "Ada Lovelace"
    assert r.json["account"]["name"] == "Analytical Engines"
    assert r.json["account"]["slug"] == "analytical-engines"
    assert r.json["account"]["owner_user_id"] == r.json["user"]["id"]
    assert r.json["token_type"] == "Bearer" and r.json["expires_in"] == 900
    assert r.json["access_token"].startswith("pca_") and r.json["refresh_token"].startswith("pcr_")
    assert "password" not in r.text and "hash" not in r.text

    # the password is stored as an argon2id hash, never as given
    [user] = rows(db, "SELECT * FROM users")
    assert user.password_hash.startswith("$argon2id$") and verify_password(user.password_hash, PASSWORD)
    # they own the account
    [member] = rows(db, "SELECT * FROM account_members")
    assert (str(member.user_id), str(member.account_id), member.role) == (
        r.json["user"]["id"],
        r.json["account"]["id"],
        "owner",
    )
    # the session remembers where it came from, and holds only hashes
    [row] = rows(db, "SELECT * FROM sessions")
    assert row.user_agent == "pytest-browser/1.0" and row.ip == "127.0.0.1"
    assert row.refresh_token_hash == hash_token(r.json["refresh_token"])
    assert row.access_token_hash == hash_token(r.json["access_token"])
    assert timedelta(days=29) < row.expires_at - datetime.now(UTC) <= timedelta(days=30)

    # and the access token works at once
    me = api.get("/v1/me", token=r.json["access_token"])
    assert me.status == 200 and me.json["id"] == r.json["user"]["id"]

    # both creations are audited
    [signup_entry] = audit_rows(db, "user.signup")
    assert str(signup_entry.actor_user_id) == r.json["user"]["id"] and signup_entry.account_id is None
    assert signup_entry.new_value == {"email": body["email"], "name": "Ada Lovelace"}
    [account_entry] = audit_rows(db, "account.create")
    assert str(account_entry.account_id) == r.json["account"]["id"]


def test_account_name_defaults_to_the_users_name_and_slugs_stay_unique(api: ApiClient, db: sa.Engine) -> None:
    first = api.post("/v1/auth/signup", json=signup_body(name="Zoë Ünal"))
    second = api.post("/v1/auth/signup", json=signup_body(name="Zoe Unal"))
    assert first.status == 201 and second.status == 201, (first, second)
    assert first.json["account"]["name"] == "Zoë Ünal"
    assert first.json["account"]["slug"] == "zoe-unal"
    assert second.json["account"]["slug"].startswith("zoe-unal-")


def test_duplicate_email_is_409_whatever_its_case(api: ApiClient, db: sa.Engine) -> None:
    body = signup_body(email="Grace.Hopper@Example.test")
    assert api.post("/v1/auth/signup", json=body).status == 201
    again = api.post("/v1/auth/signup", json={**body, "email": "grace.hopper@example.TEST"})
    problem = assert_problem(again, 409, "conflict")
    assert problem["detail"] == "An account with this email already exists."
    assert len(rows(db, "SELECT id FROM users")) == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [("password", "too-short"), ("password", "x" * 257), ("email", "not-an-email"), ("name", "")],
    ids=["short-password", "long-password", "bad-email", "empty-name"],
)
def test_invalid_fields_are_422_naming_the_field(api: ApiClient, db: sa.Engine, field: str, value: str) -> None:
    r = api.post("/v1/auth/signup", json=signup_body(**{field: value}))
    problem = assert_problem(r, 422, "validation-error")
    assert [error["field"] for error in problem["errors"]] == [f"body.{field}"]
    assert value not in r.text or value == ""  # rejected values are never echoed
    assert rows(db, "SELECT id FROM users") == []


def test_unknown_fields_are_refused(api: ApiClient, db: sa.Engine) -> None:
    r = api.post("/v1/auth/signup", json=signup_body(is_platform_admin=True))
    problem = assert_problem(r, 422, "validation-error")
    assert problem["errors"][0]["field"] == "body.is_platform_admin"


def test_malformed_json_is_400(api: ApiClient, db: sa.Engine) -> None:
    r = api.post("/v1/auth/signup", data='{"email": ', headers={"Content-Type": "application/json"})
    assert_problem(r, 400, "bad-request")


def test_spaces_around_a_password_are_kept(api: ApiClient, db: sa.Engine) -> None:
    body = signup_body(password="  spaced out passphrase  ")
    assert api.post("/v1/auth/signup", json=body).status == 201
    login = api.post("/v1/auth/login", json={"email": body["email"], "password": "spaced out passphrase"})
    assert login.status == 401
    login = api.post("/v1/auth/login", json={"email": body["email"], "password": "  spaced out passphrase  "})
    assert login.status == 200


_INVITATIONS_READY = importlib.util.find_spec("primecloud.services.invitations") is not None


def _invite(db: sa.Engine, email: str, raw_token: str) -> object:
    tenant = make_tenant(db, "Inviting Co")
    with Session(db) as session, session.begin():
        session.add(
            Invitation(
                account_id=tenant.account_id,
                email=email,
                role="member",
                token_hash=hash_token(raw_token),
                invited_by=tenant.members["owner"].user_id,
                expires_at=datetime.now(UTC) + timedelta(days=7),
            )
        )
    return tenant.account_id


@pytest.mark.skipif(not _INVITATIONS_READY, reason="primecloud.services.invitations is not written yet")
def test_signup_with_an_invitation_joins_that_account_only(api: ApiClient, db: sa.Engine) -> None:
    # given an invitation for a new address
    email = unique_email("invited")
    account_id = _invite(db, email, "pci_known-invitation-token")
    # when its recipient signs up with the token and no account name
    r = api.post("/v1/auth/signup", json=signup_body(email=email, invitation_token="pci_known-invitation-token"))
    # then they joined the inviting account with the invited role and got no account of their own
    assert r.status == 201, r
    assert r.json["account"] is None
    assert r.json["user"]["email_verified_at"] is not None
    memberships = rows(db, "SELECT account_id, role FROM account_members WHERE user_id = :id", id=r.json["user"]["id"])
    assert [(m.account_id, m.role) for m in memberships] == [(account_id, "member")]
    [invitation] = rows(db, "SELECT accepted_at FROM invitations")
    assert invitation.accepted_at is not None
    assert audit_rows(db, "account.create") == []


@pytest.mark.skipif(not _INVITATIONS_READY, reason="primecloud.services.invitations is not written yet")
def test_signup_with_an_invitation_and_an_account_name_gets_both(api: ApiClient, db: sa.Engine) -> None:
    email = unique_email("invited")
    account_id = _invite(db, email, "pci_another-invitation-token")
    r = api.post(
        "/v1/auth/signup",
        json=signup_body(email=email, invitation_token="pci_another-invitation-token", account_name="Mine"),
    )
    assert r.status == 201, r
    memberships = rows(db, "SELECT account_id, role FROM account_members WHERE user_id = :id", id=r.json["user"]["id"])
    assert sorted((str(m.account_id), m.role) for m in memberships) == sorted(
        [(str(account_id), "member"), (r.json["account"]["id"], "owner")]
    )


@pytest.mark.skipif(not _INVITATIONS_READY, reason="primecloud.services.invitations is not written yet")
def test_signup_with_an_unknown_invitation_creates_nothing(api: ApiClient, db: sa.Engine) -> None:
    r = api.post("/v1/auth/signup", json=signup_body(invitation_token="pci_no-such-invitation"))
    assert_problem(r, 404, "not-found")
    assert rows(db, "SELECT id FROM users") == []
