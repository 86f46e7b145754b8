"""Plans, orders and subscriptions over HTTP: ordering issues an order invoice; paying it starts a subscription."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.models.billing import CustomerInvoice, Invoice, InvoiceLine, Order, Subscription
from primecloud.models.iam import Account
from primecloud.models.system import AuditLog
from tests.conftest import ApiClient, assert_problem
from tests.factories import Tenant, make_api_key, make_tenant
from tests.invoicing_factories import make_staff_token, make_vps_config, set_tax_rate


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    tenant = make_tenant(db, "Acme")
    set_tax_rate(db, tenant.account_id, "0.19")
    return tenant


@pytest.fixture
def small_plan(db: sa.Engine) -> uuid.UUID:
    return make_vps_config(db, name="Small", price_monthly="9.99")


def orders_url(account_id: uuid.UUID) -> str:
    return f"/v1/accounts/{account_id}/orders"


def subscriptions_url(account_id: uuid.UUID) -> str:
    return f"/v1/accounts/{account_id}/subscriptions"


def order(api: ApiClient, tenant: Tenant, plan_id: uuid.UUID, role: str = "owner") -> dict[str, object]:
    r = api.post(
        orders_url(tenant.account_id), token=tenant.token(role), json={"product": "vps", "vps_config_id": str(plan_id)}
    )
    assert r.status == 201, r
    body: dict[str, object] = r.json
    return body


def test_plans_are_public_active_and_cheapest_first(api: ApiClient, db: sa.Engine) -> None:
    large = make_vps_config(db, name="Large", price_monthly="39.00")
    small = make_vps_config(db, name="Small", price_monthly="9.99")
    make_vps_config(db, name="Retired", price_monthly="1.00", is_active=False)
    r = api.get("/v1/vps-plans")  # no token
    assert r.status == 200, r
    assert [plan["name"] for plan in r.json["items"]] == ["Small", "Large"]
    assert [plan["id"] for plan in r.json["items"]] == [str(small), str(large)]
    assert r.json["items"][0] == {
        "id": str(small),
        "name": "Small",
        "cpu_cores": 2,
        "memory_mb": 4096,
        "disk_gb": 80,
        "bandwidth_gb": 2000,
        "price_monthly": "9.99",
        "price_hourly": "0.01500000",
        "currency": "EUR",
    }


def test_ordering_makes_a_pending_order_and_issues_its_invoice(
    api: ApiClient, acme: Tenant, db: sa.Engine, small_plan: uuid.UUID
) -> None:
    body = order(api, acme, small_plan, role="admin")
    assert body["status"] == "pending" and body["product"] == "vps" and body["plan_name"] == "Small"
    assert body["amount"] == "9.99" and body["currency"] == "EUR" and body["vps_config_id"] == str(small_plan)
    assert str(body["invoice_number"]).startswith("INV-")

    with Session(db) as session:
        row = session.get_one(Order, uuid.UUID(str(body["id"])))
        assert (row.account_id, row.status, row.amount) == (acme.account_id, "pending", Decimal("9.99"))
        invoice = session.get_one(Invoice, uuid.UUID(str(body["invoice_id"])))
        assert (invoice.kind, invoice.order_id, invoice.status) == ("order", row.id, "open")
        # 9.99 + 19 % (1.8981 -> 1.90) = 11.89
        assert (invoice.subtotal, invoice.tax, invoice.total) == (Decimal("9.99"), Decimal("1.90"), Decimal("11.89"))
        (line,) = session.scalars(sa.select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id)).all()
        assert line.description == "VPS Small \u2014 first month"
        assert (line.quantity, line.unit_price, line.amount) == (Decimal(1), Decimal("9.99"), Decimal("9.99"))
        customer = session.scalar(sa.select(CustomerInvoice).where(CustomerInvoice.invoice_id == invoice.id))
        assert customer is not None and customer.pdf_key and customer.csv_key
        actions = session.scalars(
            sa.select(AuditLog.action).where(AuditLog.account_id == acme.account_id).order_by(AuditLog.created_at)
        ).all()
        assert list(actions) == ["order.create", "invoice.issue"]
        entry = session.scalar(sa.select(AuditLog).where(AuditLog.action == "order.create"))
        assert entry is not None and entry.actor_user_id == acme.members["admin"].user_id
        assert entry.new_value is not None
        assert entry.new_value["amount"] == "9.99" and entry.new_value["plan"] == "Small"
        assert session.scalar(sa.select(sa.func.count()).select_from(Subscription)) == 0

    r = api.get(orders_url(acme.account_id), token=acme.token("owner"))
    assert r.status == 200 and [item["id"] for item in r.json["items"]] == [body["id"]], r
    assert r.json["items"][0]["invoice_id"] == body["invoice_id"]
    r = api.get(f"/v1/accounts/{acme.account_id}/invoices/{body['invoice_id']}", token=acme.token("owner"))
    assert r.status == 200 and r.json["total"] == "11.89" and r.json["order_id"] == body["id"], r


def test_paying_the_order_invoice_starts_the_subscription(
    api: ApiClient, acme: Tenant, db: sa.Engine, small_plan: uuid.UUID
) -> None:
    body = order(api, acme, small_plan)
    _, staff = make_staff_token(db)
    r = api.post(
        f"/v1/admin/invoices/{body['invoice_id']}/payments",
        token=staff,
        json={"amount": "11.89", "currency": "EUR", "gateway": "stripe", "reference": "pi_123"},
    )
    assert r.status == 201, r
    assert r.json["invoice"]["status"] == "paid"

    r = api.get(orders_url(acme.account_id), token=acme.token("owner"))
    assert r.json["items"][0]["status"] == "paid"
    r = api.get(subscriptions_url(acme.account_id), token=acme.token("admin"))
    assert r.status == 200, r
    (subscription,) = r.json["items"]
    assert subscription["order_id"] == body["id"] and subscription["product"] == "vps"
    assert subscription["status"] == "active" and subscription["cancel_at_period_end"] is False
    assert subscription["price"] == "9.99" and subscription["currency"] == "EUR"
    start = datetime.fromisoformat(subscription["current_period_start"])
    end = datetime.fromisoformat(subscription["current_period_end"])
    assert timedelta(days=28) <= end - start <= timedelta(days=31)
    assert (end.day, end.time()) == (start.day, start.time()) or end.day < start.day  # clamped at a month's end
    with Session(db) as session:
        entry = session.scalar(sa.select(AuditLog).where(AuditLog.action == "subscription.start"))
        assert entry is not None and entry.target_id == subscription["id"]


def test_cancel_at_period_end_once(api: ApiClient, acme: Tenant, db: sa.Engine, small_plan: uuid.UUID) -> None:
    body = order(api, acme, small_plan)
    _, staff = make_staff_token(db)
    api.post(
        f"/v1/admin/invoices/{body['invoice_id']}/payments",
        token=staff,
        json={"amount": "11.89", "currency": "EUR", "gateway": "stripe", "reference": "pi_cancel"},
    )
    (subscription,) = api.get(subscriptions_url(acme.account_id), token=acme.token("owner")).json["items"]
    url = f"{subscriptions_url(acme.account_id)}/{subscription['id']}/cancel"

    for role in ("member", "viewer"):
        assert_problem(api.post(url, token=acme.token(role)), 403, "forbidden")
    r = api.post(url, token=acme.token("admin"))
    assert r.status == 200, r
    assert r.json["cancel_at_period_end"] is True and r.json["status"] == "active"
    assert r.json["current_period_end"] == subscription["current_period_end"]
    assert_problem(api.post(url, token=acme.token("owner")), 409, "conflict")

    with Session(db) as session:
        row = session.get_one(Subscription, uuid.UUID(subscription["id"]))
        assert row.cancel_at_period_end is True
        entries = session.scalars(sa.select(AuditLog).where(AuditLog.action == "subscription.cancel")).all()
        assert len(entries) == 1 and entries[0].actor_user_id == acme.members["admin"].user_id
        assert entries[0].new_value is not None
        assert entries[0].new_value["cancel_at_period_end"] is True

    other = make_tenant(db, "Other")
    other_url = f"{subscriptions_url(other.account_id)}/{subscription['id']}/cancel"
    assert_problem(api.post(other_url, token=other.token("owner")), 404, "not-found")
    assert_problem(api.post(url, token=other.token("owner")), 404, "not-found")


def test_a_free_plan_is_paid_and_subscribed_at_once(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    free = make_vps_config(db, name="Trial", price_monthly="0.00")
    body = order(api, acme, free)
    assert body["status"] == "paid"
    with Session(db) as session:
        invoice = session.get_one(Invoice, uuid.UUID(str(body["invoice_id"])))
        assert invoice.status == "paid" and invoice.total == Decimal("0.00") and invoice.paid_at is not None
    (subscription,) = api.get(subscriptions_url(acme.account_id), token=acme.token("owner")).json["items"]
    assert subscription["price"] == "0.00" and subscription["status"] == "active"


def test_inactive_unknown_or_foreign_currency_plans_are_refused(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    retired = make_vps_config(db, name="Retired", is_active=False)
    dollars = make_vps_config(db, name="Dollar")
    with Session(db) as session, session.begin():
        session.execute(sa.text("UPDATE vps_configs SET currency = 'USD' WHERE id = :id"), {"id": dollars})
    for plan_id in (retired, uuid.uuid4(), dollars):
        r = api.post(
            orders_url(acme.account_id),
            token=acme.token("owner"),
            json={"product": "vps", "vps_config_id": str(plan_id)},
        )
        body = assert_problem(r, 422, "validation-error")
        assert body["errors"][0]["field"] == "body.vps_config_id"
    for bad in (
        {"product": "backup", "vps_config_id": str(retired)},
        {"product": "vps"},
        {"product": "vps", "vps_config_id": "x"},
    ):
        assert_problem(
            api.post(orders_url(acme.account_id), token=acme.token("owner"), json=bad), 422, "validation-error"
        )
    with Session(db) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Order)) == 0
        assert session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 0


def test_a_suspended_account_cannot_order_but_still_lists(
    api: ApiClient, acme: Tenant, db: sa.Engine, small_plan: uuid.UUID
) -> None:
    with Session(db) as session, session.begin():
        session.get_one(Account, acme.account_id).status = "suspended"
    r = api.post(
        orders_url(acme.account_id),
        token=acme.token("owner"),
        json={"product": "vps", "vps_config_id": str(small_plan)},
    )
    assert_problem(r, 403, "account-suspended")
    assert api.get(orders_url(acme.account_id), token=acme.token("owner")).status == 200
    assert api.get(subscriptions_url(acme.account_id), token=acme.token("owner")).status == 200
    with Session(db) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Order)) == 0


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_cannot_order_or_see_orders(
    api: ApiClient, acme: Tenant, db: sa.Engine, small_plan: uuid.UUID, role: str
) -> None:
    r = api.post(
        orders_url(acme.account_id), token=acme.token(role), json={"product": "vps", "vps_config_id": str(small_plan)}
    )
    assert_problem(r, 403, "forbidden")
    assert_problem(api.get(orders_url(acme.account_id), token=acme.token(role)), 403, "forbidden")
    assert_problem(api.get(subscriptions_url(acme.account_id), token=acme.token(role)), 403, "forbidden")


def test_another_tenant_cannot_order_for_or_list_this_account(
    api: ApiClient, acme: Tenant, db: sa.Engine, small_plan: uuid.UUID
) -> None:
    order(api, acme, small_plan)
    other = make_tenant(db, "Other")
    r = api.post(
        orders_url(acme.account_id),
        token=other.token("owner"),
        json={"product": "vps", "vps_config_id": str(small_plan)},
    )
    assert_problem(r, 404, "not-found")
    assert_problem(api.get(orders_url(acme.account_id), token=other.token("owner")), 404, "not-found")
    assert api.get(orders_url(other.account_id), token=other.token("owner")).json["items"] == []
    assert api.get(subscriptions_url(other.account_id), token=other.token("owner")).json["items"] == []


def test_api_key_scopes(api: ApiClient, acme: Tenant, db: sa.Engine, small_plan: uuid.UUID) -> None:
    with Session(db) as session, session.begin():
        account = session.get_one(Account, acme.account_id)
        reader, _ = make_api_key(session, account, acme.members["owner"].user_id, ["billing:read"])
        writer, writer_key = make_api_key(session, account, acme.members["owner"].user_id, ["billing:write"])
        writer_key_id = writer_key.id
    payload = {"product": "vps", "vps_config_id": str(small_plan)}
    assert_problem(api.post(orders_url(acme.account_id), token=reader, json=payload), 403, "forbidden")
    r = api.post(orders_url(acme.account_id), token=writer, json=payload)
    assert r.status == 201, r
    assert api.get(orders_url(acme.account_id), token=reader).status == 200
    with Session(db) as session:
        entry = session.scalar(sa.select(AuditLog).where(AuditLog.action == "order.create"))
        assert entry is not None and entry.actor_api_key_id == writer_key_id


def test_orders_page_with_a_cursor(api: ApiClient, acme: Tenant, db: sa.Engine, small_plan: uuid.UUID) -> None:
    ids = [order(api, acme, small_plan)["id"] for _ in range(3)]
    r = api.get(orders_url(acme.account_id), token=acme.token("owner"), params={"limit": 2})
    assert len(r.json["items"]) == 2 and r.json["next_cursor"], r
    r2 = api.get(
        orders_url(acme.account_id), token=acme.token("owner"), params={"limit": 2, "cursor": r.json["next_cursor"]}
    )
    assert [item["id"] for item in r.json["items"] + r2.json["items"]] == list(reversed(ids))
    numbers = [item["invoice_number"] for item in r.json["items"] + r2.json["items"]]
    assert len(set(numbers)) == 3


def test_an_order_retried_with_its_idempotency_key_is_made_once(
    api: ApiClient, acme: Tenant, db: sa.Engine, small_plan: uuid.UUID
) -> None:
    payload = {"product": "vps", "vps_config_id": str(small_plan)}
    headers = {"Idempotency-Key": "order-7f3c2a"}
    first = api.post(orders_url(acme.account_id), token=acme.token("owner"), json=payload, headers=headers)
    again = api.post(orders_url(acme.account_id), token=acme.token("owner"), json=payload, headers=headers)
    assert first.status == again.status == 201, (first, again)
    assert again.json == first.json and again.headers.get("Idempotent-Replayed") == "true"
    with Session(db) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Order)) == 1
        assert session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 1
