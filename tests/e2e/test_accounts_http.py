"""Accounts through HTTP: create, read (with this month's usage), change, close, transfer ownership."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud import clock
from primecloud.models.billing import UsageRecord
from primecloud.models.iam import Account, AccountMember, User
from primecloud.models.system import AuditLog, Notification
from tests.conftest import ApiClient, ApiResponse, assert_problem
from tests.factories import Tenant, make_api_key, make_session_token, make_tenant, make_user

ROLES = ["owner", "admin", "member", "viewer"]


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Acme")


@pytest.fixture
def globex(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Globex")


def audit_entries(db: sa.Engine, action: str) -> list[AuditLog]:
    with Session(db) as session:
        return list(session.scalars(sa.select(AuditLog).where(AuditLog.action == action)))


def load_account(db: sa.Engine, account_id: uuid.UUID) -> Account:
    with Session(db) as session:
        return session.get_one(Account, account_id)


def roles_in(db: sa.Engine, account_id: uuid.UUID) -> dict[uuid.UUID, str]:
    with Session(db) as session:
        rows = session.execute(
            sa.select(AccountMember.user_id, AccountMember.role).where(AccountMember.account_id == account_id)
        )
        return {user_id: role for user_id, role in rows}


# --- POST /v1/accounts ----------------------------------------------------------------------------


def test_any_user_creates_an_account_and_owns_it(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    viewer = acme.members["viewer"]
    r = api.post(
        "/v1/accounts",
        token=viewer.token,
        json={"name": "  Side Project  ", "billing_email": "bills@example.test", "currency": "USD"},
    )
    assert r.status == 201, r
    body = r.json
    assert body["name"] == "Side Project" and body["slug"] == "side-project"
    assert body["owner_user_id"] == str(viewer.user_id) and body["my_role"] == "owner"
    assert body["currency"] == "USD" and body["billing_email"] == "bills@example.test"
    assert body["status"] == "active" and body["member_count"] == 1 and body["bucket_count"] == 0
    assert body["usage_summary"] == {} and body["tax_rate"] == "0"
    new_id = uuid.UUID(body["id"])
    assert roles_in(db, new_id) == {viewer.user_id: "owner"}
    (entry,) = audit_entries(db, "account.create")
    assert entry.account_id == new_id and entry.actor_user_id == viewer.user_id
    assert entry.new_value == {"name": "Side Project", "slug": "side-project", "currency": "USD"}
    # the new account is reachable right away
    assert api.get(f"/v1/accounts/{new_id}", token=viewer.token).json["my_role"] == "owner"


def test_currency_defaults_and_slug_collisions_get_a_suffix(api: ApiClient, acme: Tenant) -> None:
    first = api.post("/v1/accounts", token=acme.token("owner"), json={"name": "Ünïcode & Co."})
    second = api.post("/v1/accounts", token=acme.token("owner"), json={"name": "Unicode Co"})
    assert first.status == second.status == 201, (first, second)
    assert first.json["slug"] == "unicode-co" and first.json["currency"] == "EUR"
    assert second.json["slug"].startswith("unicode-co-") and len(second.json["slug"]) == len("unicode-co-") + 6


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body.name"),
        ({"name": ""}, "body.name"),
        ({"name": "x" * 201}, "body.name"),
        ({"name": "Ok", "currency": "eur"}, "body.currency"),
        ({"name": "Ok", "currency": "EURO"}, "body.currency"),
        ({"name": "Ok", "billing_email": "not-an-address"}, "body.billing_email"),
        ({"name": "Ok", "slug": "mine"}, "body.slug"),
    ],
)
def test_create_rejects_bad_input_naming_the_field(
    api: ApiClient, acme: Tenant, body: dict[str, Any], field: str
) -> None:
    problem = assert_problem(api.post("/v1/accounts", token=acme.token("owner"), json=body), 422, "validation-error")
    assert field in [error["field"] for error in problem["errors"]]


def test_malformed_json_is_400(api: ApiClient, acme: Tenant) -> None:
    r = api.post("/v1/accounts", token=acme.token("owner"), data="{nope", headers={"content-type": "application/json"})
    assert_problem(r, 400, "bad-request")
    r = api.patch(
        f"/v1/accounts/{acme.account_id}",
        token=acme.token("owner"),
        data="{nope",
        headers={"content-type": "application/json"},
    )
    assert_problem(r, 400, "bad-request")


def test_an_api_key_cannot_create_accounts(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    with Session(db) as session, session.begin():
        raw, _ = make_api_key(
            session, session.get_one(Account, acme.account_id), acme.members["owner"].user_id, ["account:write"]
        )
    assert_problem(api.post("/v1/accounts", token=raw, json={"name": "Shadow"}), 403, "forbidden")


# --- GET /v1/accounts/{id}: usage summary ---------------------------------------------------------


def _usage(account_id: uuid.UUID, metric: str, quantity: str, start: datetime) -> UsageRecord:
    return UsageRecord(
        account_id=account_id,
        metric=metric,
        quantity=Decimal(quantity),
        period_start=start,
        period_end=start + timedelta(hours=1),
        source="test",
    )


@pytest.fixture
def march_15(monkeypatch: pytest.MonkeyPatch) -> datetime:
    now = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
    monkeypatch.setattr(clock, "now", lambda: now)
    return now


def test_usage_summary_sums_this_month_per_metric(
    api: ApiClient, acme: Tenant, globex: Tenant, db: sa.Engine, march_15: datetime
) -> None:
    march = datetime(2026, 3, 1, tzinfo=UTC)
    with Session(db) as session, session.begin():
        session.add_all(
            [
                _usage(acme.account_id, "egress_bytes", "1000.5", march),
                _usage(acme.account_id, "egress_bytes", "0.25", march + timedelta(days=3)),
                _usage(acme.account_id, "api_requests", "7", march + timedelta(days=14)),
                # last month and another account don't count
                _usage(acme.account_id, "egress_bytes", "999", march - timedelta(hours=1)),
                _usage(globex.account_id, "egress_bytes", "5", march),
            ]
        )
    r = api.get(f"/v1/accounts/{acme.account_id}", token=acme.token("viewer"))
    assert r.status == 200, r
    assert r.json["usage_summary"] == {"egress_bytes": "1000.750000", "api_requests": "7.000000"}


def test_get_account_is_two_statements(db: sa.Engine, acme: Tenant) -> None:
    """The access check, then one statement for the counts and the usage summary.

    Invoked directly: through the gateway, the authorizer's own query would land on the same engine.
    """
    from localrun.gateway.events import authorized_event
    from localrun.invoke import invoke
    from tests.conftest import count_statements

    owner = acme.members["owner"]
    path = {"account_id": str(acme.account_id)}
    event = authorized_event("GET", "/v1/accounts/{account_id}", path, str(owner.user_id))
    invoke("GetAccountFunction", copy.deepcopy(event))  # warm: imports and connection
    with count_statements() as statements:
        result = invoke("GetAccountFunction", event)
    assert result["statusCode"] == 200, result
    assert len(statements) == 2, statements.statements


# --- PATCH /v1/accounts/{id} ----------------------------------------------------------------------


@pytest.mark.parametrize(("role", "status"), [("owner", 200), ("admin", 200), ("member", 403), ("viewer", 403)])
def test_update_needs_admin(api: ApiClient, acme: Tenant, role: str, status: int) -> None:
    r = api.patch(f"/v1/accounts/{acme.account_id}", token=acme.token(role), json={"name": "Renamed"})
    assert r.status == status, r


def test_update_changes_fields_and_audits_old_and_new(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    r = api.patch(
        f"/v1/accounts/{acme.account_id}",
        token=acme.token("admin"),
        json={
            "name": "Acme GmbH",
            "billing_email": "ap@acme.test",
            "currency": "CHF",
            "tax_rate": "0.19",
            "settings": {"theme": "dark", "notify": {"invoices": True}},
        },
    )
    assert r.status == 200, r
    assert r.json["name"] == "Acme GmbH" and r.json["billing_email"] == "ap@acme.test"
    assert r.json["currency"] == "CHF" and Decimal(r.json["tax_rate"]) == Decimal("0.19")
    assert r.json["settings"] == {"theme": "dark", "notify": {"invoices": True}}
    assert r.json["my_role"] == "admin" and r.json["member_count"] == 4
    account = load_account(db, acme.account_id)
    assert account.tax_rate == Decimal("0.19") and account.currency == "CHF"
    (entry,) = audit_entries(db, "account.update")
    assert entry.account_id == acme.account_id and entry.actor_user_id == acme.members["admin"].user_id
    assert entry.old_value == {
        "name": "Acme",
        "billing_email": None,
        "currency": "EUR",
        "tax_rate": "0.0000",
        "settings": {},
    }
    assert entry.new_value is not None and entry.new_value["tax_rate"] == "0.19"

    # only what is sent changes; billing_email may be cleared with null
    r = api.patch(f"/v1/accounts/{acme.account_id}", token=acme.token("owner"), json={"billing_email": None})
    assert r.status == 200 and r.json["billing_email"] is None and r.json["name"] == "Acme GmbH"


def test_an_update_that_changes_nothing_is_not_audited(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    r = api.patch(f"/v1/accounts/{acme.account_id}", token=acme.token("owner"), json={"name": "Acme"})
    assert r.status == 200, r
    assert audit_entries(db, "account.update") == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tax_rate": "1.5"}, "body.tax_rate"),
        ({"tax_rate": "-0.01"}, "body.tax_rate"),
        ({"tax_rate": "0.123456"}, "body.tax_rate"),
        ({"tax_rate": 0.19}, "body.tax_rate"),
        ({"tax_rate": "lots"}, "body.tax_rate"),
        ({"tax_rate": None}, "body.tax_rate"),
        ({"name": None}, "body.name"),
        ({"name": ""}, "body.name"),
        ({"currency": "euro"}, "body.currency"),
        ({"billing_email": "nope"}, "body.billing_email"),
        ({"settings": []}, "body.settings"),
        ({"settings": {"blob": "x" * 20_000}}, "body.settings"),
        ({"slug": "taken"}, "body.slug"),
        ({"status": "active"}, "body.status"),
    ],
)
def test_update_rejects_bad_input_naming_the_field(
    api: ApiClient, acme: Tenant, body: dict[str, Any], field: str
) -> None:
    r = api.patch(f"/v1/accounts/{acme.account_id}", token=acme.token("owner"), json=body)
    problem = assert_problem(r, 422, "validation-error")
    assert field in [error["field"] for error in problem["errors"]], problem
    assert "x" * 50 not in r.text  # rejected values are not echoed


# --- DELETE /v1/accounts/{id} ---------------------------------------------------------------------


@pytest.mark.parametrize(("role", "status"), [("owner", 204), ("admin", 403), ("member", 403), ("viewer", 403)])
def test_delete_is_owner_only(api: ApiClient, acme: Tenant, role: str, status: int) -> None:
    r = api.delete(f"/v1/accounts/{acme.account_id}", token=acme.token(role))
    assert r.status == status, r


def test_deleted_account_is_404_for_every_member(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    assert api.delete(f"/v1/accounts/{acme.account_id}", token=acme.token("owner")).status == 204
    account = load_account(db, acme.account_id)
    assert account.deleted_at is not None and account.status == "closed"
    for role in ROLES:
        assert_problem(api.get(f"/v1/accounts/{acme.account_id}", token=acme.token(role)), 404, "not-found")
    assert api.get("/v1/me/accounts", token=acme.token("member")).json["items"] == []
    (entry,) = audit_entries(db, "account.delete")
    assert entry.account_id == acme.account_id and entry.severity == "warning"
    assert entry.actor_user_id == acme.members["owner"].user_id


# --- POST /v1/accounts/{id}/transfer-ownership ----------------------------------------------------


@pytest.mark.parametrize(("role", "status"), [("owner", 200), ("admin", 403), ("member", 403), ("viewer", 403)])
def test_transfer_is_owner_only(api: ApiClient, acme: Tenant, role: str, status: int) -> None:
    r = api.post(
        f"/v1/accounts/{acme.account_id}/transfer-ownership",
        token=acme.token(role),
        json={"user_id": str(acme.members["member"].user_id)},
    )
    assert r.status == status, r


def test_owner_transfers_and_becomes_admin(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    owner, member = acme.members["owner"], acme.members["member"]
    r = api.post(
        f"/v1/accounts/{acme.account_id}/transfer-ownership",
        token=owner.token,
        json={"user_id": str(member.user_id)},
    )
    assert r.status == 200, r
    assert r.json["owner_user_id"] == str(member.user_id) and r.json["my_role"] == "admin"
    roles = roles_in(db, acme.account_id)
    assert roles[member.user_id] == "owner" and roles[owner.user_id] == "admin"
    assert load_account(db, acme.account_id).owner_user_id == member.user_id
    (entry,) = audit_entries(db, "account.transfer_ownership")
    assert entry.severity == "warning" and entry.account_id == acme.account_id
    assert entry.target_id == str(member.user_id)
    assert entry.old_value == {"owner_user_id": str(owner.user_id), "new_owner_role": "member"}
    with Session(db) as session:
        note = session.scalars(sa.select(Notification)).one()
        assert note.user_id == member.user_id and note.type == "account.ownership_transferred"
    # the new owner now holds the owner-only powers, the old one no longer does
    assert api.delete(f"/v1/accounts/{acme.account_id}", token=owner.token).status == 403


def test_transfer_needs_a_member_of_the_account(api: ApiClient, acme: Tenant, globex: Tenant) -> None:
    url = f"/v1/accounts/{acme.account_id}/transfer-ownership"
    outsider = globex.members["owner"].user_id
    assert_problem(api.post(url, token=acme.token("owner"), json={"user_id": str(outsider)}), 404, "not-found")
    assert_problem(api.post(url, token=acme.token("owner"), json={"user_id": str(uuid.uuid4())}), 404, "not-found")
    me = acme.members["owner"].user_id
    assert_problem(api.post(url, token=acme.token("owner"), json={"user_id": str(me)}), 409, "conflict")
    problem = assert_problem(api.post(url, token=acme.token("owner"), json={"user_id": "x"}), 422, "validation-error")
    assert problem["errors"][0]["field"] == "body.user_id"


# --- tenancy: another tenant's ids ----------------------------------------------------------------


def _account_routes(account_id: uuid.UUID, user_id: uuid.UUID) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("GET", f"/v1/accounts/{account_id}", None),
        ("PATCH", f"/v1/accounts/{account_id}", {"name": "Mine now"}),
        ("DELETE", f"/v1/accounts/{account_id}", None),
        ("POST", f"/v1/accounts/{account_id}/transfer-ownership", {"user_id": str(user_id)}),
        ("GET", f"/v1/accounts/{account_id}/members", None),
        ("PATCH", f"/v1/accounts/{account_id}/members/{user_id}", {"role": "viewer"}),
        ("DELETE", f"/v1/accounts/{account_id}/members/{user_id}", None),
    ]


def test_every_account_route_is_404_for_another_tenant(
    api: ApiClient, acme: Tenant, globex: Tenant, db: sa.Engine
) -> None:
    for method, path, body in _account_routes(globex.account_id, globex.members["member"].user_id):
        r: ApiResponse = api.request(method, path, token=acme.token("owner"), json=body)
        assert r.status == 404, (method, path, r)
        assert r.json["type"].endswith("/not-found")
    # and nothing of Globex changed
    assert load_account(db, globex.account_id).deleted_at is None
    assert roles_in(db, globex.account_id)[globex.members["member"].user_id] == "member"


def test_another_tenants_member_is_404_in_my_account(api: ApiClient, acme: Tenant, globex: Tenant) -> None:
    stranger = globex.members["member"].user_id
    base = f"/v1/accounts/{acme.account_id}/members/{stranger}"
    assert_problem(api.patch(base, token=acme.token("owner"), json={"role": "viewer"}), 404, "not-found")
    assert_problem(api.delete(base, token=acme.token("owner")), 404, "not-found")


# --- suspension (through the platform admin routes) -----------------------------------------------


@pytest.fixture
def staff_token(db: sa.Engine) -> Iterator[str]:
    with Session(db) as session, session.begin():
        staff = make_user(session, platform_admin=True)
        token, _ = make_session_token(session, staff.id)
    yield token


def test_suspended_account_reads_but_does_not_change(
    api: ApiClient, acme: Tenant, db: sa.Engine, staff_token: str
) -> None:
    assert api.post(f"/v1/admin/accounts/{acme.account_id}/suspend", token=staff_token).status == 200
    url = f"/v1/accounts/{acme.account_id}"
    for role in ("owner", "admin"):
        r = api.patch(url, token=acme.token(role), json={"name": "Still mine"})
        assert_problem(r, 403, "account-suspended")
    for role in ROLES:
        assert api.get(url, token=acme.token(role)).json["status"] == "suspended"
        assert api.get(f"{url}/members", token=acme.token(role)).status == 200
    assert load_account(db, acme.account_id).name == "Acme"

    assert api.post(f"/v1/admin/accounts/{acme.account_id}/reactivate", token=staff_token).status == 200
    r = api.patch(url, token=acme.token("admin"), json={"name": "Back"})
    assert r.status == 200 and r.json["name"] == "Back" and r.json["status"] == "active"


def test_suspended_account_can_still_be_closed_and_ownership_moved(
    api: ApiClient, acme: Tenant, staff_token: str
) -> None:
    assert api.post(f"/v1/admin/accounts/{acme.account_id}/suspend", token=staff_token).status == 200
    r = api.post(
        f"/v1/accounts/{acme.account_id}/transfer-ownership",
        token=acme.token("owner"),
        json={"user_id": str(acme.members["admin"].user_id)},
    )
    assert r.status == 200, r
    assert api.delete(f"/v1/accounts/{acme.account_id}", token=acme.token("admin")).status == 204


def test_owner_only_routes_refuse_api_keys(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    with Session(db) as session, session.begin():
        owner = session.get_one(User, acme.members["owner"].user_id)
        raw, _ = make_api_key(
            session, session.get_one(Account, acme.account_id), owner.id, ["account:write", "members:write"]
        )
    url = f"/v1/accounts/{acme.account_id}"
    transfer = {"user_id": str(acme.members["admin"].user_id)}
    assert_problem(api.post(f"{url}/transfer-ownership", token=raw, json=transfer), 403, "forbidden")
    assert_problem(api.delete(url, token=raw), 403, "forbidden")
    # while a key with the scope may change the account's details
    assert api.patch(url, token=raw, json={"name": "Via key"}).status == 200


def test_money_terms_change_only_in_a_signed_in_session(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    with Session(db) as session, session.begin():
        owner = session.get_one(User, acme.members["owner"].user_id)
        raw, _ = make_api_key(session, session.get_one(Account, acme.account_id), owner.id, ["account:write"])
        before = session.get_one(Account, acme.account_id)
        name, currency, tax_rate = before.name, before.currency, before.tax_rate
    url = f"/v1/accounts/{acme.account_id}"
    for change in ({"tax_rate": "0.19"}, {"currency": "USD"}, {"name": "Renamed", "tax_rate": "0.05"}):
        body = assert_problem(api.patch(url, token=raw, json=change), 403, "forbidden")
        assert "signed-in session" in body["detail"], body
    account = load_account(db, acme.account_id)
    assert (account.name, account.currency, account.tax_rate) == (name, currency, tax_rate)
    assert audit_entries(db, "account.update") == []
    # the same change by the owner in person goes through
    r = api.patch(url, token=acme.token("owner"), json={"tax_rate": "0.05"})
    assert r.status == 200, r
    assert load_account(db, acme.account_id).tax_rate == Decimal("0.05")
