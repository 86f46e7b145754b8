"""The audit log through HTTP: an account's owners and admins read its entries (filters, keyset pages,
newest first), platform staff read every account's; nobody can change or delete an entry."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from localrun.template import load_template
from primecloud.models.iam import Account
from primecloud.models.system import AuditLog
from tests.conftest import ROOT, ApiClient, assert_problem, count_statements
from tests.factories import Tenant, make_api_key, make_session_token, make_tenant, make_user

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Acme")


@pytest.fixture
def globex(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Globex")


@pytest.fixture
def staff_token(db: sa.Engine) -> str:
    with Session(db) as session, session.begin():
        user = make_user(session, platform_admin=True)
        token, _ = make_session_token(session, user.id)
        return token


def add_entries(db: sa.Engine, tenant: Tenant, entries: list[dict[str, Any]]) -> list[uuid.UUID]:
    with Session(db) as session, session.begin():
        rows = [AuditLog(account_id=tenant.account_id, **entry) for entry in entries]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


@pytest.fixture
def acme_log(db: sa.Engine, acme: Tenant, globex: Tenant) -> list[uuid.UUID]:
    """Five Acme entries, one minute apart (oldest first), and one of Globex."""
    owner, admin = acme.members["owner"].user_id, acme.members["admin"].user_id
    ids = add_entries(
        db,
        acme,
        [
            {"action": "bucket.create", "actor_user_id": owner, "target_type": "bucket", "target_id": "b1"},
            {"action": "bucket.delete", "actor_user_id": admin, "target_type": "bucket", "target_id": "b1"},
            {"action": "member.remove", "actor_user_id": owner, "target_type": "user", "target_id": "u9"},
            {"action": "bucketx.odd", "actor_user_id": admin, "severity": "warning"},
            {"action": "account.update", "actor_user_id": owner, "severity": "critical", "new_value": {"name": "A"}},
        ],
    )
    with Session(db) as session, session.begin():
        for minute, entry_id in enumerate(ids):
            session.get_one(AuditLog, entry_id).created_at = T0 + timedelta(minutes=minute)
    add_entries(db, globex, [{"action": "bucket.create", "actor_user_id": globex.members["owner"].user_id}])
    return ids


def log_url(tenant: Tenant) -> str:
    return f"/v1/accounts/{tenant.account_id}/audit-logs"


def ids_of(body: dict[str, Any]) -> list[uuid.UUID]:
    return [uuid.UUID(item["id"]) for item in body["items"]]


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_owners_and_admins_read_the_log_newest_first(
    api: ApiClient, acme: Tenant, acme_log: list[uuid.UUID], role: str
) -> None:
    r = api.get(log_url(acme), token=acme.token(role))
    assert r.status == 200, r
    assert ids_of(r.json) == list(reversed(acme_log)), "only Acme's entries, newest first"
    newest = r.json["items"][0]
    assert newest["action"] == "account.update" and newest["severity"] == "critical"
    assert newest["new_value"] == {"name": "A"} and newest["account_id"] == str(acme.account_id)


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_may_not(api: ApiClient, acme: Tenant, acme_log: list[uuid.UUID], role: str) -> None:
    assert_problem(api.get(log_url(acme), token=acme.token(role)), 403, "forbidden")


def test_another_tenant_gets_404(api: ApiClient, acme: Tenant, globex: Tenant, acme_log: list[uuid.UUID]) -> None:
    assert_problem(api.get(log_url(acme), token=globex.token("owner")), 404, "not-found")


def test_filters(api: ApiClient, acme: Tenant, acme_log: list[uuid.UUID]) -> None:
    token = acme.token("admin")
    created, deleted, removed, odd, updated = acme_log

    def query(**params: Any) -> list[uuid.UUID]:
        r = api.get(log_url(acme), token=token, params=params)
        assert r.status == 200, r
        return ids_of(r.json)

    assert query(action="bucket.create") == [created]
    assert query(action="bucket.") == [deleted, created], "a prefix ends with '.'"
    assert query(action="bucket*") == [odd, deleted, created]
    assert query(action="bucket") == [], "without a mark it is exact"
    assert query(actor_user_id=str(acme.members["admin"].user_id)) == [odd, deleted]
    assert query(target_type="bucket", target_id="b1") == [deleted, created]
    assert query(severity="critical") == [updated]
    since, until = (T0 + timedelta(minutes=1)).isoformat(), (T0 + timedelta(minutes=3)).isoformat()
    assert query(**{"from": since, "to": until}) == [removed, deleted], "from inclusive, to exclusive"
    bad = assert_problem(
        api.get(log_url(acme), token=token, params={"from": until, "to": since}), 422, "validation-error"
    )
    assert bad["errors"][0]["field"] == "query.from"
    assert_problem(api.get(log_url(acme), token=token, params={"severity": "loud"}), 422, "validation-error")
    assert_problem(api.get(log_url(acme), token=token, params={"actor_user_id": "x"}), 422, "validation-error")


def test_keyset_pages(api: ApiClient, acme: Tenant, acme_log: list[uuid.UUID]) -> None:
    seen: list[uuid.UUID] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        r = api.get(log_url(acme), token=acme.token("owner"), params=params)
        assert r.status == 200, r
        seen += ids_of(r.json)
        cursor = r.json["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(acme_log))


def test_a_listing_reads_the_log_in_one_statement_whatever_its_size(
    api: ApiClient, db: sa.Engine, acme: Tenant, acme_log: list[uuid.UUID]
) -> None:
    add_entries(db, acme, [{"action": f"bulk.{n}"} for n in range(60)])
    with count_statements() as counted:
        r = api.get(log_url(acme), token=acme.token("owner"), params={"limit": 50})
    assert r.status == 200 and len(r.json["items"]) == 50
    # one query for the page, however many entries (the authorizer's and the membership lookups aside)
    assert len([s for s in counted.statements if "audit_logs" in s]) == 1


def test_api_keys_need_the_audit_scope(api: ApiClient, db: sa.Engine, acme: Tenant, acme_log: list[uuid.UUID]) -> None:
    with Session(db) as session, session.begin():
        account = session.get_one(Account, acme.account_id)
        owner = acme.members["owner"].user_id
        with_scope, _ = make_api_key(session, account, owner, ["audit:read"])
        without, _ = make_api_key(session, account, owner, ["buckets:read"])
    assert api.get(log_url(acme), token=with_scope).status == 200
    assert_problem(api.get(log_url(acme), token=without), 403, "forbidden")


def test_staff_read_every_account(
    api: ApiClient, acme: Tenant, globex: Tenant, acme_log: list[uuid.UUID], staff_token: str
) -> None:
    everything = api.get("/v1/admin/audit-logs", token=staff_token)
    assert everything.status == 200, everything
    accounts = {item["account_id"] for item in everything.json["items"]}
    assert {str(acme.account_id), str(globex.account_id)} <= accounts
    only_globex = api.get(
        "/v1/admin/audit-logs", token=staff_token, params={"account_id": str(globex.account_id), "action": "bucket."}
    )
    assert [item["account_id"] for item in only_globex.json["items"]] == [str(globex.account_id)]
    assert_problem(api.get("/v1/admin/audit-logs", token=acme.token("owner")), 403, "forbidden")


def test_entries_have_no_update_or_delete_path(api: ApiClient, acme: Tenant, acme_log: list[uuid.UUID]) -> None:
    # no route of the API writes to an audit path: listing is all there is
    template = load_template(ROOT / "template.yaml")
    audit_routes = {(route.method, route.path) for route in template.routes if "audit" in route.path}
    assert audit_routes == {("GET", "/v1/accounts/{account_id}/audit-logs"), ("GET", "/v1/admin/audit-logs")}
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        r = api.request(method, f"{log_url(acme)}/{acme_log[0]}", token=acme.token("owner"))
        assert r.status in (403, 404), r
        r = api.request(method, log_url(acme), token=acme.token("owner"))
        assert r.status in (403, 404), r
