"""API keys through HTTP: minted by an admin, shown once, scoped, bounded by the creator's role, revocable."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.access import SCOPES
from primecloud.models.iam import Account, AccountMember, ApiKey
from primecloud.models.system import AuditLog
from primecloud.tokens import API_KEY_PREFIX, hash_token
from tests.conftest import ApiClient, ApiResponse, assert_problem
from tests.factories import Tenant, make_api_key, make_tenant


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Acme")


@pytest.fixture
def globex(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Globex")


def keys_path(tenant: Tenant) -> str:
    return f"/v1/accounts/{tenant.account_id}/api-keys"


def create_key(
    api: ApiClient, tenant: Tenant, scopes: list[str], *, as_role: str = "admin", **fields: Any
) -> ApiResponse:
    return api.post(keys_path(tenant), token=tenant.token(as_role), json={"name": "ci", "scopes": scopes, **fields})


def audit_rows(engine: sa.Engine, action: str) -> list[AuditLog]:
    with Session(engine) as session:
        return list(session.scalars(sa.select(AuditLog).where(AuditLog.action == action)))


def all_audit_json(engine: sa.Engine) -> str:
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT * FROM audit_logs")).mappings().all()
    return json.dumps([dict(row) for row in rows], default=str)


def key_row(engine: sa.Engine, key_id: str) -> ApiKey:
    with Session(engine) as session:
        return session.get_one(ApiKey, uuid.UUID(key_id))


def in_days(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


# --- create ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "status"), [("owner", 201), ("admin", 201), ("member", 403), ("viewer", 403)])
def test_who_may_create_keys(api: ApiClient, acme: Tenant, role: str, status: int) -> None:
    assert create_key(api, acme, ["account:read"], as_role=role).status == status


def test_the_secret_is_shown_once_and_stored_only_as_a_hash(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    expires_at = in_days(30)
    r = create_key(api, acme, ["buckets:write", "account:read", "buckets:write"], expires_at=expires_at)

    assert r.status == 201, r
    body = r.json
    secret = body["secret"]
    assert secret.startswith(API_KEY_PREFIX) and len(secret) > 40
    assert body["prefix"] == secret[:12]
    assert body["name"] == "ci" and body["scopes"] == ["account:read", "buckets:write"]  # sorted, no repeats
    assert body["created_by"] == str(acme.members["admin"].user_id)
    assert datetime.fromisoformat(body["expires_at"]) == datetime.fromisoformat(expires_at)
    assert body["revoked_at"] is None and body["last_used_at"] is None
    assert "key_hash" not in body

    row = key_row(db, body["id"])
    assert row.account_id == acme.account_id and row.key_hash == hash_token(secret)
    with db.connect() as connection:
        dump = json.dumps(
            [dict(r) for r in connection.execute(sa.text("SELECT * FROM api_keys")).mappings()], default=str
        )
    assert secret not in dump

    (entry,) = audit_rows(db, "api_key.create")
    assert entry.account_id == acme.account_id and entry.actor_user_id == acme.members["admin"].user_id
    assert entry.target_type == "api_key" and entry.target_id == body["id"]
    assert entry.new_value is not None and entry.new_value["scopes"] == ["account:read", "buckets:write"]
    audit_json = all_audit_json(db)
    assert secret not in audit_json and row.key_hash not in audit_json


def test_a_created_key_works_within_its_scopes(api: ApiClient, acme: Tenant) -> None:
    reader = create_key(api, acme, ["account:read"]).json["secret"]
    other = create_key(api, acme, ["buckets:read"]).json["secret"]

    r = api.get(f"/v1/accounts/{acme.account_id}", token=reader)
    assert r.status == 200, r
    assert r.json["my_role"] == "admin"  # the creator's role
    body = assert_problem(api.get(f"/v1/accounts/{acme.account_id}", token=other), 403, "forbidden")
    assert "account:read" in str(body["detail"])


def test_a_key_never_outranks_its_creators_current_role(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    secret = create_key(api, acme, ["account:read"]).json["secret"]
    assert api.get(keys_path(acme), token=secret).status == 200  # admin-only listing, as an admin
    with Session(db) as session, session.begin():  # the creator is demoted
        session.execute(
            sa.update(AccountMember).where(AccountMember.user_id == acme.members["admin"].user_id).values(role="viewer")
        )
    assert_problem(api.get(keys_path(acme), token=secret), 403, "forbidden")
    assert api.get(f"/v1/accounts/{acme.account_id}", token=secret).json["my_role"] == "viewer"


def test_a_key_cannot_create_keys(api: ApiClient, acme: Tenant) -> None:
    secret = create_key(api, acme, sorted(SCOPES), as_role="owner").json["secret"]
    r = api.post(keys_path(acme), token=secret, json={"name": "child", "scopes": ["account:read"]})
    body = assert_problem(r, 403, "forbidden")
    assert "API keys cannot create API keys" in str(body["detail"])


def test_expiry_may_be_up_to_a_year(api: ApiClient, acme: Tenant) -> None:
    assert create_key(api, acme, ["account:read"], expires_at=in_days(364)).status == 201
    assert create_key(api, acme, ["account:read"]).json["expires_at"] is None  # no expiry by default


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "ci", "scopes": ["account:read", "root:everything"]}, "body.scopes"),
        ({"name": "ci", "scopes": []}, "body.scopes"),
        ({"name": "ci", "scopes": "account:read"}, "body.scopes"),
        ({"name": "ci"}, "body.scopes"),
        ({"scopes": ["account:read"]}, "body.name"),
        ({"name": "", "scopes": ["account:read"]}, "body.name"),
        ({"name": "x" * 101, "scopes": ["account:read"]}, "body.name"),
        ({"name": "ci", "scopes": ["account:read"], "expires_at": in_days(-1)}, "body.expires_at"),
        ({"name": "ci", "scopes": ["account:read"], "expires_at": in_days(366)}, "body.expires_at"),
        ({"name": "ci", "scopes": ["account:read"], "expires_at": "2030-01-01T00:00:00"}, "body.expires_at"),
        ({"name": "ci", "scopes": ["account:read"], "expires_at": "soon"}, "body.expires_at"),
        ({"name": "ci", "scopes": ["account:read"], "key_hash": "0" * 64}, "body.key_hash"),
    ],
    ids=[
        "unknown-scope",
        "no-scopes",
        "scopes-not-a-list",
        "scopes-missing",
        "name-missing",
        "name-empty",
        "name-too-long",
        "expired-already",
        "beyond-a-year",
        "naive-datetime",
        "not-a-datetime",
        "unknown-field",
    ],
)
def test_bad_key_input_is_422_naming_the_field(
    api: ApiClient, acme: Tenant, db: sa.Engine, payload: dict[str, Any], field: str
) -> None:
    r = api.post(keys_path(acme), token=acme.token("owner"), json=payload)
    body = assert_problem(r, 422, "validation-error")
    assert field in [error["field"] for error in body["errors"]], body
    assert "root:everything" not in r.text  # the rejected value is never echoed
    with Session(db) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(ApiKey)) == 0


def test_malformed_json_is_400(api: ApiClient, acme: Tenant) -> None:
    r = api.post(keys_path(acme), token=acme.token("owner"), data="{", headers={"content-type": "application/json"})
    assert_problem(r, 400, "bad-request")


def test_another_tenants_keys_are_404(api: ApiClient, acme: Tenant, globex: Tenant) -> None:
    payload = {"name": "x", "scopes": ["account:read"]}
    assert_problem(api.post(keys_path(globex), token=acme.token("owner"), json=payload), 404, "not-found")
    assert_problem(api.get(keys_path(globex), token=acme.token("owner")), 404, "not-found")


def test_a_suspended_account_cannot_mint_keys(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    with Session(db) as session, session.begin():
        session.get_one(Account, acme.account_id).status = "suspended"
    assert_problem(create_key(api, acme, ["account:read"], as_role="owner"), 403, "account-suspended")
    assert api.get(keys_path(acme), token=acme.token("owner")).status == 200


# --- list -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "status"), [("owner", 200), ("admin", 200), ("member", 403), ("viewer", 403)])
def test_who_may_list_keys(api: ApiClient, acme: Tenant, role: str, status: int) -> None:
    assert api.get(keys_path(acme), token=acme.token(role)).status == status


def test_the_list_shows_prefixes_never_secrets(api: ApiClient, acme: Tenant, globex: Tenant, db: sa.Engine) -> None:
    secrets = [create_key(api, acme, ["account:read"], name=f"key {n}").json["secret"] for n in range(3)]
    create_key(api, globex, ["account:read"])  # another account's key never shows up

    r = api.get(keys_path(acme), token=acme.token("owner"))
    assert r.status == 200, r
    items = r.json["items"]
    assert [item["name"] for item in items] == ["key 2", "key 1", "key 0"]  # newest first
    assert set(items[0]) == {
        "id",
        "name",
        "prefix",
        "scopes",
        "created_by",
        "last_used_at",
        "expires_at",
        "revoked_at",
        "created_at",
    }
    assert [item["prefix"] for item in items] == [secret[:12] for secret in reversed(secrets)]
    assert not any(secret in r.text for secret in secrets)
    with Session(db) as session:
        assert not any(key_hash in r.text for key_hash in session.scalars(sa.select(ApiKey.key_hash)))

    first = api.get(keys_path(acme), token=acme.token("owner"), params={"limit": 2})
    assert [i["name"] for i in first.json["items"]] == ["key 2", "key 1"] and first.json["next_cursor"]
    rest = api.get(keys_path(acme), token=acme.token("owner"), params={"limit": 2, "cursor": first.json["next_cursor"]})
    assert [i["name"] for i in rest.json["items"]] == ["key 0"] and rest.json["next_cursor"] is None


def test_the_list_shows_last_use(api: ApiClient, acme: Tenant) -> None:
    secret = create_key(api, acme, ["account:read"]).json["secret"]
    api.get(f"/v1/accounts/{acme.account_id}", token=secret)
    (item,) = api.get(keys_path(acme), token=acme.token("owner")).json["items"]
    assert item["last_used_at"] is not None


def test_a_key_needs_account_read_to_list(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    with Session(db) as session, session.begin():
        account = session.get_one(Account, acme.account_id)
        raw, _ = make_api_key(session, account, acme.members["owner"].user_id, ["buckets:read"])
    assert_problem(api.get(keys_path(acme), token=raw), 403, "forbidden")


# --- revoke ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "status"), [("owner", 204), ("admin", 204), ("member", 403), ("viewer", 403)])
def test_who_may_revoke_keys(api: ApiClient, acme: Tenant, role: str, status: int) -> None:
    key_id = create_key(api, acme, ["account:read"]).json["id"]
    assert api.delete(f"{keys_path(acme)}/{key_id}", token=acme.token(role)).status == status


def test_a_revoked_key_is_refused_by_the_authorizer(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    created = create_key(api, acme, ["account:read"]).json
    assert api.get(f"/v1/accounts/{acme.account_id}", token=created["secret"]).status == 200

    r = api.delete(f"{keys_path(acme)}/{created['id']}", token=acme.token("owner"))
    assert r.status == 204 and r.text == ""
    refused = api.get(f"/v1/accounts/{acme.account_id}", token=created["secret"])
    assert refused.status == 401 and refused.json == {"message": "Unauthorized"}

    assert key_row(db, created["id"]).revoked_at is not None
    # revoking again is a no-op: 204, and no second audit entry
    assert api.delete(f"{keys_path(acme)}/{created['id']}", token=acme.token("owner")).status == 204
    (entry,) = audit_rows(db, "api_key.revoke")
    assert entry.account_id == acme.account_id and entry.target_id == created["id"]
    assert entry.actor_user_id == acme.members["owner"].user_id
    assert created["secret"] not in all_audit_json(db)

    (item,) = api.get(keys_path(acme), token=acme.token("owner")).json["items"]
    assert item["revoked_at"] is not None


def test_an_expired_key_is_refused(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    created = create_key(api, acme, ["account:read"], expires_at=in_days(1)).json
    assert api.get(f"/v1/accounts/{acme.account_id}", token=created["secret"]).status == 200
    # the authorizer compares with the real time, so move the key's expiry rather than the clock
    with Session(db) as session, session.begin():
        session.get_one(ApiKey, uuid.UUID(created["id"])).expires_at = datetime.now(UTC) - timedelta(seconds=1)
    assert api.get(f"/v1/accounts/{acme.account_id}", token=created["secret"]).status == 401


def test_a_key_may_revoke_a_key_with_account_write(api: ApiClient, acme: Tenant) -> None:
    target = create_key(api, acme, ["account:read"]).json
    reader = create_key(api, acme, ["account:read"]).json["secret"]
    writer = create_key(api, acme, ["account:write"]).json["secret"]
    assert_problem(api.delete(f"{keys_path(acme)}/{target['id']}", token=reader), 403, "forbidden")
    assert api.delete(f"{keys_path(acme)}/{target['id']}", token=writer).status == 204


def test_revoking_another_accounts_key_is_404(api: ApiClient, acme: Tenant, globex: Tenant, db: sa.Engine) -> None:
    globex_key = create_key(api, globex, ["account:read"]).json
    r = api.delete(f"{keys_path(acme)}/{globex_key['id']}", token=acme.token("owner"))
    assert_problem(r, 404, "not-found")
    assert api.delete(f"{keys_path(globex)}/{globex_key['id']}", token=acme.token("owner")).status == 404
    assert key_row(db, globex_key["id"]).revoked_at is None
    assert api.get(f"/v1/accounts/{globex.account_id}", token=globex_key["secret"]).status == 200
    assert_problem(api.delete(f"{keys_path(acme)}/{uuid.uuid4()}", token=acme.token("owner")), 404, "not-found")


def test_revoke_with_a_malformed_id_is_422(api: ApiClient, acme: Tenant) -> None:
    body = assert_problem(api.delete(f"{keys_path(acme)}/123", token=acme.token("owner")), 422, "validation-error")
    assert body["errors"][0]["field"] == "path.key_id"
