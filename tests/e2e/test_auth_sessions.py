"""Sessions through HTTP: refresh-token rotation and reuse detection, logout, listing and revoking."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.models.iam import User
from primecloud.tokens import hash_token
from tests.conftest import ApiClient, assert_problem
from tests.e2e.auth_support import PasswordUser, audit_rows, make_password_user, move_clock, rows, signed_in
from tests.factories import make_account, make_api_key


@pytest.fixture
def ada(db: sa.Engine) -> PasswordUser:
    return make_password_user(db)


# --- refresh --------------------------------------------------------------------------------------


def test_refresh_rotates_both_tokens_on_the_same_session(api: ApiClient, db: sa.Engine, ada: PasswordUser) -> None:
    first = signed_in(api, ada)
    # when the client refreshes
    r = api.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    # then it gets new tokens for the same session
    assert r.status == 200, r
    assert set(r.json) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert r.json["access_token"] != first["access_token"] and r.json["refresh_token"] != first["refresh_token"]
    [row] = rows(db, "SELECT * FROM sessions")
    assert row.refresh_token_hash == hash_token(r.json["refresh_token"])
    assert row.previous_refresh_token_hash == hash_token(first["refresh_token"])
    assert row.last_seen_at is not None and row.revoked_at is None
    # the new access token works, the old one no longer does
    assert api.get("/v1/me", token=r.json["access_token"]).status == 200
    assert api.get("/v1/me", token=first["access_token"]).status == 401
    # and the rotation is audited
    [entry] = audit_rows(db, "auth.refresh")
    assert entry.actor_user_id == ada.id and entry.target_id == str(row.id)


def test_refresh_renews_the_access_tokens_expiry(
    api: ApiClient, db: sa.Engine, ada: PasswordUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = signed_in(api, ada)
    [before] = rows(db, "SELECT access_expires_at, expires_at FROM sessions")
    move_clock(monkeypatch, timedelta(minutes=10))
    assert api.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}).status == 200
    [after] = rows(db, "SELECT access_expires_at, expires_at FROM sessions")
    assert after.access_expires_at - before.access_expires_at >= timedelta(minutes=10)
    assert after.expires_at == before.expires_at  # the session itself does not slide


def test_reusing_a_rotated_refresh_token_revokes_the_session(api: ApiClient, db: sa.Engine, ada: PasswordUser) -> None:
    # given a session whose refresh token was rotated
    first = signed_in(api, ada)
    rotated = api.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}).json
    # when the old refresh token shows up again (it leaked)
    r = api.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    # then it is refused and the whole session is revoked, despite the 401
    assert_problem(r, 401, "unauthorized")
    [row] = rows(db, "SELECT revoked_at FROM sessions")
    assert row.revoked_at is not None
    assert api.get("/v1/me", token=rotated["access_token"]).status == 401
    assert api.post("/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]}).status == 401
    [entry] = audit_rows(db, "auth.refresh_reuse")
    assert (entry.severity, entry.outcome) == ("critical", "failure")
    assert entry.new_value == {"user_id": str(ada.id)}


def test_unknown_expired_and_revoked_refresh_tokens_are_401(
    api: ApiClient, db: sa.Engine, ada: PasswordUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert_problem(api.post("/v1/auth/refresh", json={"refresh_token": "pcr_unknown"}), 401, "unauthorized")

    revoked = signed_in(api, ada)
    assert api.post("/v1/auth/logout", token=revoked["access_token"]).status == 204
    assert api.post("/v1/auth/refresh", json={"refresh_token": revoked["refresh_token"]}).status == 401

    expired = signed_in(api, ada)
    move_clock(monkeypatch, timedelta(days=31))
    assert api.post("/v1/auth/refresh", json={"refresh_token": expired["refresh_token"]}).status == 401


def test_a_suspended_user_cannot_refresh(api: ApiClient, db: sa.Engine, ada: PasswordUser) -> None:
    tokens = signed_in(api, ada)
    with db.begin() as connection:
        connection.execute(sa.text("UPDATE users SET status = 'suspended' WHERE id = :id"), {"id": ada.id})
    assert api.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status == 401


# --- logout ---------------------------------------------------------------------------------------


def test_logout_revokes_the_callers_session_only(api: ApiClient, db: sa.Engine, ada: PasswordUser) -> None:
    phone = signed_in(api, ada)
    laptop = signed_in(api, ada)
    r = api.post("/v1/auth/logout", token=phone["access_token"])
    assert r.status == 204, r
    assert api.get("/v1/me", token=phone["access_token"]).status == 401
    assert api.get("/v1/me", token=laptop["access_token"]).status == 200
    [entry] = audit_rows(db, "auth.logout")
    assert entry.actor_user_id == ada.id


def test_logout_without_a_token_is_401(api: ApiClient, db: sa.Engine) -> None:
    r = api.post("/v1/auth/logout")
    assert r.status == 401 and r.json == {"message": "Unauthorized"}


def test_an_api_key_has_no_session_to_log_out(api: ApiClient, db: sa.Engine, ada: PasswordUser) -> None:
    with Session(db) as session, session.begin():
        account = make_account(session, session.get_one(User, ada.id))
        raw_key, _ = make_api_key(session, account, ada.id, ["account:read"])
    problem = assert_problem(api.post("/v1/auth/logout", token=raw_key), 400, "bad-request")
    assert "API keys have no session" in problem["detail"]
    # nor may a key see or end its owner's sessions
    assert_problem(api.get("/v1/me/sessions", token=raw_key), 403, "forbidden")


# --- listing and revoking sessions ----------------------------------------------------------------


def test_sessions_lists_live_sessions_and_marks_the_current_one(
    api: ApiClient, db: sa.Engine, ada: PasswordUser
) -> None:
    first = signed_in(api, ada, headers={"User-Agent": "phone"})
    second = signed_in(api, ada, headers={"User-Agent": "laptop"})
    dead = signed_in(api, ada, headers={"User-Agent": "old"})
    assert api.post("/v1/auth/logout", token=dead["access_token"]).status == 204
    someone_else = make_password_user(db)
    signed_in(api, someone_else)

    r = api.get("/v1/me/sessions", token=second["access_token"])
    assert r.status == 200, r
    items = r.json["items"]
    assert [item["user_agent"] for item in items] == ["laptop", "phone"]  # newest first
    assert [item["current"] for item in items] == [True, False]
    assert set(items[0]) == {"id", "ip", "user_agent", "created_at", "last_seen_at", "expires_at", "current"}
    assert items[0]["ip"] == "127.0.0.1"
    assert "hash" not in r.text and first["refresh_token"] not in r.text
    assert r.json["next_cursor"] is None


def test_sessions_are_paginated(api: ApiClient, db: sa.Engine, ada: PasswordUser) -> None:
    tokens = [signed_in(api, ada) for _ in range(3)]
    page = api.get("/v1/me/sessions", token=tokens[0]["access_token"], params={"limit": 2})
    assert page.status == 200 and len(page.json["items"]) == 2 and page.json["next_cursor"]
    rest = api.get(
        "/v1/me/sessions", token=tokens[0]["access_token"], params={"limit": 2, "cursor": page.json["next_cursor"]}
    )
    assert rest.status == 200 and len(rest.json["items"]) == 1 and rest.json["next_cursor"] is None
    ids = [item["id"] for item in page.json["items"] + rest.json["items"]]
    assert len(set(ids)) == 3


def test_expired_sessions_are_not_listed(
    api: ApiClient, db: sa.Engine, ada: PasswordUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = signed_in(api, ada)
    # the access token is checked with the real time; the listing uses the services' clock
    move_clock(monkeypatch, timedelta(days=31))
    r = api.get("/v1/me/sessions", token=tokens["access_token"])
    assert r.status == 200 and r.json["items"] == []


def test_revoking_one_of_my_sessions(api: ApiClient, db: sa.Engine, ada: PasswordUser) -> None:
    phone = signed_in(api, ada)
    laptop = signed_in(api, ada)
    [phone_session] = rows(
        db, "SELECT id FROM sessions WHERE access_token_hash = :h", h=hash_token(phone["access_token"])
    )
    r = api.delete(f"/v1/me/sessions/{phone_session.id}", token=laptop["access_token"])
    assert r.status == 204, r
    assert api.get("/v1/me", token=phone["access_token"]).status == 401
    assert api.post("/v1/auth/refresh", json={"refresh_token": phone["refresh_token"]}).status == 401
    assert api.get("/v1/me", token=laptop["access_token"]).status == 200
    [entry] = audit_rows(db, "session.revoke")
    assert entry.actor_user_id == ada.id and entry.target_id == str(phone_session.id)
    # a second revocation finds nothing live
    again = api.delete(f"/v1/me/sessions/{phone_session.id}", token=laptop["access_token"])
    assert_problem(again, 404, "not-found")


def test_another_users_session_is_404(api: ApiClient, db: sa.Engine, ada: PasswordUser) -> None:
    mine = signed_in(api, ada)
    grace = make_password_user(db)
    theirs = signed_in(api, grace)
    [their_session] = rows(db, "SELECT id FROM sessions WHERE user_id = :id", id=grace.id)
    r = api.delete(f"/v1/me/sessions/{their_session.id}", token=mine["access_token"])
    missing = api.delete(f"/v1/me/sessions/{uuid.uuid4()}", token=mine["access_token"])
    assert_problem(r, 404, "not-found")
    assert missing.status == 404 and missing.json["detail"] == r.json["detail"]
    assert api.get("/v1/me", token=theirs["access_token"]).status == 200
    assert audit_rows(db, "session.revoke") == []


def test_a_malformed_session_id_is_422(api: ApiClient, db: sa.Engine, ada: PasswordUser) -> None:
    mine = signed_in(api, ada)
    problem = assert_problem(api.delete("/v1/me/sessions/nope", token=mine["access_token"]), 422, "validation-error")
    assert problem["errors"][0]["field"] == "path.session_id"
