"""Sign-in through HTTP: tokens, audit entries, throttling per email and per IP, no user oracle."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa

from primecloud import passwords
from primecloud.services import auth
from primecloud.services.rate_limits import Window
from primecloud.tokens import hash_token
from tests.conftest import ApiClient, assert_problem
from tests.e2e.auth_support import audit_rows, login, make_password_user, move_clock, rows, unique_email


def test_login_returns_working_tokens_and_is_audited(api: ApiClient, db: sa.Engine) -> None:
    # given a user with a password
    user = make_password_user(db)
    # when they sign in (with their address in another case)
    r = login(api, user.email.upper(), headers={"User-Agent": "pytest-cli/2.0"})
    # then they get a session's tokens and their profile
    assert r.status == 200, r
    assert r.json["token_type"] == "Bearer" and r.json["expires_in"] == 900
    assert r.json["user"]["id"] == str(user.id) and r.json["user"]["last_login_at"] is not None
    assert api.get("/v1/me", token=r.json["access_token"]).status == 200
    [session_row] = rows(db, "SELECT * FROM sessions")
    assert session_row.refresh_token_hash == hash_token(r.json["refresh_token"])
    assert (session_row.ip, session_row.user_agent) == ("127.0.0.1", "pytest-cli/2.0")
    [user_row] = rows(db, "SELECT last_login_at FROM users")
    assert user_row.last_login_at is not None
    # and the success is audited for the user, outside any account
    [entry] = audit_rows(db, "auth.login")
    assert (entry.outcome, entry.severity, entry.account_id) == ("success", "info", None)
    assert entry.actor_user_id == user.id and entry.target_id == str(user.id)
    assert entry.new_value == {"session_id": str(session_row.id)}
    assert entry.ip == "127.0.0.1" and entry.request_id


def test_wrong_password_is_401_and_audited_without_the_password(api: ApiClient, db: sa.Engine) -> None:
    user = make_password_user(db)
    r = login(api, user.email, "not the right password")
    problem = assert_problem(r, 401, "unauthorized")
    assert problem["detail"] == "Invalid email or password."
    assert rows(db, "SELECT id FROM sessions") == []
    # the failure survives the request's rollback: audited, and counted against email and IP
    [entry] = audit_rows(db, "auth.login")
    assert (entry.outcome, entry.severity, entry.account_id) == ("failure", "warning", None)
    assert entry.actor_user_id is None and entry.target_id == str(user.id)
    assert entry.new_value == {"email": user.email}
    assert "not the right password" not in str(list(entry))
    counters = {row.bucket_key: row.count for row in rows(db, "SELECT bucket_key, count FROM rate_limits")}
    assert counters == {f"login:email:{user.email.lower()}": 1, "login:ip:127.0.0.1": 1}


def test_unknown_email_is_the_same_401_and_still_costs_a_hash_check(
    api: ApiClient, db: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a spy on password verification
    checked: list[str | None] = []
    real_verify = passwords.verify_password

    def spy(password_hash: str | None, password: str) -> bool:
        checked.append(password_hash)
        return real_verify(password_hash, password)

    monkeypatch.setattr(passwords, "verify_password", spy)
    known = make_password_user(db)
    # when someone signs in with an address nobody has, and with a known one and a wrong password
    unknown = login(api, unique_email("nobody"))
    wrong = login(api, known.email, "wrong password here")
    # then both answers are the same, and the unknown address was checked against the dummy hash
    assert unknown.status == wrong.status == 401
    assert unknown.json["detail"] == wrong.json["detail"]
    assert checked[0] is None and checked[1] is not None
    [unknown_entry, _] = audit_rows(db, "auth.login")
    assert unknown_entry.target_id is None and unknown_entry.outcome == "failure"


@pytest.mark.parametrize("status", ["suspended", "deleted"])
def test_suspended_or_deleted_user_cannot_sign_in(api: ApiClient, db: sa.Engine, status: str) -> None:
    user = make_password_user(db, status=status)
    r = login(api, user.email)  # the right password
    assert assert_problem(r, 401, "unauthorized")["detail"] == "Invalid email or password."
    assert rows(db, "SELECT id FROM sessions") == []
    [entry] = audit_rows(db, "auth.login")
    assert entry.outcome == "failure"


def test_failures_per_email_are_throttled_with_retry_after(
    api: ApiClient, db: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_password_user(db)
    # five failures are answered 401
    for _ in range(auth.LOGIN_FAILURES_PER_EMAIL.limit):
        assert login(api, user.email, "wrong password here").status == 401
    # then the address is throttled, even with the right password, before any check
    throttled = login(api, user.email)
    assert_problem(throttled, 429, "too-many-requests")
    assert 0 < int(throttled.headers["Retry-After"]) <= 15 * 60
    assert rows(db, "SELECT id FROM sessions") == []
    # the throttled attempt is audited too
    outcomes = [(entry.outcome, (entry.new_value or {}).get("reason")) for entry in audit_rows(db, "auth.login")]
    assert outcomes[-1] == ("failure", "rate_limited")
    # another address from the same IP is not affected
    other = make_password_user(db)
    assert login(api, other.email).status == 200
    # once the window is over, the right password works again
    move_clock(monkeypatch, timedelta(minutes=15, seconds=1))
    assert login(api, user.email).status == 200


def test_a_success_resets_the_email_counter(api: ApiClient, db: sa.Engine) -> None:
    user = make_password_user(db)
    for _ in range(auth.LOGIN_FAILURES_PER_EMAIL.limit - 1):
        assert login(api, user.email, "wrong password here").status == 401
    assert login(api, user.email).status == 200
    assert rows(db, "SELECT * FROM rate_limits WHERE bucket_key LIKE 'login:email:%'") == []
    # so the next failures start counting from zero again
    for _ in range(auth.LOGIN_FAILURES_PER_EMAIL.limit - 1):
        assert login(api, user.email, "wrong password here").status == 401
    assert login(api, user.email).status == 200


def test_concurrent_attempts_judge_exactly_the_limit(
    api: ApiClient, db: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a spy on password checks
    checked: list[str | None] = []
    real_verify = passwords.verify_password

    def spy(password_hash: str | None, password: str) -> bool:
        checked.append(password_hash)
        return real_verify(password_hash, password)

    monkeypatch.setattr(passwords, "verify_password", spy)
    user = make_password_user(db)
    limit = auth.LOGIN_FAILURES_PER_EMAIL.limit
    # when twice the limit of wrong passwords arrive at once
    with ThreadPoolExecutor(2 * limit) as pool:
        statuses = list(pool.map(lambda _: login(api, user.email, "wrong password here").status, range(2 * limit)))
    # then exactly the limit were judged, the rest throttled before any check
    assert sorted(statuses) == [401] * limit + [429] * limit
    assert len(checked) == limit
    [counter] = rows(db, "SELECT count FROM rate_limits WHERE bucket_key LIKE 'login:email:%'")
    assert counter.count == limit


def test_failures_per_ip_are_throttled_across_emails(api: ApiClient, db: sa.Engine) -> None:
    # given many failures from one IP, spread over addresses so that none hits its own limit
    per_email = auth.LOGIN_FAILURES_PER_EMAIL.limit - 1
    failures = 0
    while failures < auth.LOGIN_FAILURES_PER_IP.limit:
        email = unique_email("spray")
        for _ in range(min(per_email, auth.LOGIN_FAILURES_PER_IP.limit - failures)):
            assert login(api, email, "guessed password").status == 401
            failures += 1
    [ip_counter] = rows(db, "SELECT count FROM rate_limits WHERE bucket_key = 'login:ip:127.0.0.1'")
    assert ip_counter.count == auth.LOGIN_FAILURES_PER_IP.limit
    # when a real user signs in from that IP
    user = make_password_user(db)
    r = login(api, user.email)
    # then the IP is throttled
    assert_problem(r, 429, "too-many-requests")
    assert int(r.headers["Retry-After"]) > 0


def test_throttling_limits_are_configurable(api: ApiClient, db: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "LOGIN_FAILURES_PER_EMAIL", Window(limit=1, seconds=60))
    user = make_password_user(db)
    assert login(api, user.email, "wrong password here").status == 401
    r = login(api, user.email)
    assert r.status == 429 and 0 < int(r.headers["Retry-After"]) <= 60


@pytest.fixture
def one_connection_pool() -> Iterator[None]:
    """Run the functions with one database connection, as API functions are deployed."""
    from primecloud import db
    from primecloud.config import get_settings

    os.environ["DATABASE_POOL_SIZE"] = "1"
    get_settings.cache_clear()
    db.reset_engine()
    yield
    os.environ.pop("DATABASE_POOL_SIZE")
    get_settings.cache_clear()
    db.reset_engine()


def test_failures_are_recorded_with_a_one_connection_pool(
    api: ApiClient, db: sa.Engine, one_connection_pool: None
) -> None:
    # the failure's own transaction must not wait for the request's connection
    user = make_password_user(db)
    assert login(api, user.email, "wrong password here").status == 401
    assert len(audit_rows(db, "auth.login")) == 1
    assert login(api, user.email).status == 200


def test_login_with_a_malformed_body_is_refused(api: ApiClient, db: sa.Engine) -> None:
    problem = assert_problem(api.post("/v1/auth/login", json={"email": "a@b.test"}), 422, "validation-error")
    assert problem["errors"][0]["field"] == "body.password"
