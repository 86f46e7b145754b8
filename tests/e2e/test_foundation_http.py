"""The foundation through HTTP: health, the authorizer, the central tenant check, problem+json."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.models.iam import Account, ApiKey, User
from tests.conftest import ApiClient, assert_problem
from tests.factories import Tenant, make_account, make_api_key, make_session_token, make_tenant, make_user


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Acme")


@pytest.fixture
def globex(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Globex")


# --- health ---------------------------------------------------------------------------------------


def test_live_and_ready_answer_200(api: ApiClient) -> None:
    assert api.get("/health/live").json == {"status": "ok"}
    ready = api.get("/health/ready")
    assert ready.status == 200 and ready.json == {"status": "ok", "database": "ok"}


@pytest.fixture
def database_down() -> Iterator[None]:
    """Point the layer at a port where no database listens, then restore it."""
    from primecloud import db
    from primecloud.config import get_settings

    real = os.environ["DATABASE_URL"]
    os.environ["DATABASE_URL"] = "postgresql+pg8000://nobody@127.0.0.1:9/nothing"
    os.environ["DATABASE_CONNECT_TIMEOUT"] = "2"
    get_settings.cache_clear()
    db.reset_engine()
    yield
    os.environ["DATABASE_URL"] = real
    os.environ.pop("DATABASE_CONNECT_TIMEOUT")
    get_settings.cache_clear()
    db.reset_engine()


def test_ready_is_503_problem_when_the_database_is_down(api: ApiClient, database_down: None) -> None:
    body = assert_problem(api.get("/health/ready"), 503, "unavailable")
    assert body["detail"] == "The database is unreachable."


def test_a_route_is_503_when_the_database_is_down(api: ApiClient, acme: Tenant, database_down: None) -> None:
    # the authorizer itself needs the database: it passes the caller on as "unavailable" (no identity),
    # and the route answers 503 problem+json, not API Gateway's bare 500 (tests/e2e/test_edge_refusals.py)
    for method, path in [("GET", f"/v1/accounts/{acme.account_id}"), ("POST", "/v1/accounts")]:
        r = api.request(method, path, token=acme.token("owner"), json={"name": "New"} if method == "POST" else None)
        body = assert_problem(r, 503, "unavailable")
        assert body["detail"] == "The credentials could not be checked: the database is unavailable."


# --- the authorizer -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer pca_not-a-real-token"},
        {"Authorization": "Basic abc"},
    ],
    ids=["missing", "empty", "unknown", "wrong-scheme"],
)
def test_bad_credentials_are_401(api: ApiClient, acme: Tenant, headers: dict[str, str]) -> None:
    r = api.get("/v1/me", headers=headers)
    assert r.status == 401 and r.json == {"message": "Unauthorized"}


def test_me_answers_with_the_callers_profile(api: ApiClient, acme: Tenant) -> None:
    owner = acme.members["owner"]
    r = api.get("/v1/me", token=owner.token)
    assert r.status == 200, r
    assert r.json["id"] == str(owner.user_id) and r.json["email"] == owner.email
    assert "password_hash" not in r.json


def test_expired_and_revoked_session_tokens_are_401(api: ApiClient, db: sa.Engine) -> None:
    with Session(db) as session, session.begin():
        user = make_user(session)
        expired, _ = make_session_token(session, user.id, access_ttl=timedelta(seconds=-1))
        revoked, revoked_row = make_session_token(session, user.id)
        revoked_row.revoked_at = datetime.now(UTC)
    assert api.get("/v1/me", token=expired).status == 401
    assert api.get("/v1/me", token=revoked).status == 401


def test_suspended_user_is_refused(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    owner = acme.members["owner"]
    with db.begin() as connection:
        connection.execute(sa.text("UPDATE users SET status = 'suspended' WHERE id = :id"), {"id": owner.user_id})
    assert api.get("/v1/me", token=owner.token).status == 401


# --- the central tenant check ---------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "admin", "member", "viewer"])
def test_every_member_sees_the_account(api: ApiClient, acme: Tenant, role: str) -> None:
    r = api.get(f"/v1/accounts/{acme.account_id}", token=acme.token(role))
    assert r.status == 200, r
    assert r.json["id"] == str(acme.account_id)
    assert r.json["my_role"] == role
    assert r.json["member_count"] == 4 and r.json["bucket_count"] == 0
    assert isinstance(r.json["tax_rate"], str)  # decimals travel as strings


def test_another_tenants_account_is_404(api: ApiClient, acme: Tenant, globex: Tenant) -> None:
    r = api.get(f"/v1/accounts/{globex.account_id}", token=acme.token("owner"))
    assert_problem(r, 404, "not-found")
    # indistinguishable from an id that does not exist at all
    missing = api.get(f"/v1/accounts/{uuid.uuid4()}", token=acme.token("owner"))
    assert missing.status == 404 and missing.json["detail"] == r.json["detail"]


def test_malformed_id_is_422_naming_the_parameter(api: ApiClient, acme: Tenant) -> None:
    body = assert_problem(api.get("/v1/accounts/not-a-uuid", token=acme.token("owner")), 422, "validation-error")
    assert body["errors"][0]["field"] == "path.account_id"


def test_soft_deleted_account_is_404_for_its_members(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    with Session(db) as session, session.begin():
        session.get_one(Account, acme.account_id).deleted_at = datetime.now(UTC)
    assert api.get(f"/v1/accounts/{acme.account_id}", token=acme.token("owner")).status == 404


def test_suspended_account_can_still_be_read(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    with Session(db) as session, session.begin():
        session.get_one(Account, acme.account_id).status = "suspended"
    r = api.get(f"/v1/accounts/{acme.account_id}", token=acme.token("viewer"))
    assert r.status == 200 and r.json["status"] == "suspended"


# --- API keys -------------------------------------------------------------------------------------


def _key(db: sa.Engine, tenant: Tenant, scopes: list[str], **fields: object) -> str:
    with Session(db) as session, session.begin():
        account = session.get_one(Account, tenant.account_id)
        raw, _ = make_api_key(session, account, tenant.members["admin"].user_id, scopes, **fields)
    return raw


def test_api_key_with_the_scope_reads_the_account(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    raw = _key(db, acme, ["account:read"])
    r = api.get(f"/v1/accounts/{acme.account_id}", token=raw)
    assert r.status == 200 and r.json["my_role"] == "admin"  # a key acts with its creator's role
    with Session(db) as session:
        assert session.scalar(sa.select(ApiKey.last_used_at)) is not None


def test_api_key_without_the_scope_is_403(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    raw = _key(db, acme, ["buckets:read"])
    body = assert_problem(api.get(f"/v1/accounts/{acme.account_id}", token=raw), 403, "forbidden")
    assert "account:read" in str(body["detail"])


def test_api_key_is_bound_to_its_account(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    # the key's creator also belongs to a second account: the key still can't reach it
    with Session(db) as session, session.begin():
        admin = session.get_one(User, acme.members["admin"].user_id)
        second_id = make_account(session, admin, name="Second").id
    raw = _key(db, acme, ["account:read"])
    assert api.get(f"/v1/accounts/{second_id}", token=raw).status == 404
    # while the same user's session token reaches both
    assert api.get(f"/v1/accounts/{second_id}", token=acme.token("admin")).status == 200


def test_revoked_and_expired_api_keys_are_401(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    revoked = _key(db, acme, ["account:read"], revoked_at=datetime.now(UTC))
    expired = _key(db, acme, ["account:read"], expires_at=datetime.now(UTC) - timedelta(minutes=1))
    assert api.get(f"/v1/accounts/{acme.account_id}", token=revoked).status == 401
    assert api.get(f"/v1/accounts/{acme.account_id}", token=expired).status == 401


def test_unknown_route_is_404(api: ApiClient) -> None:
    r = api.get("/v1/does-not-exist")
    assert r.status == 404
