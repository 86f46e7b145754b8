"""Staff record payments and void invoices over HTTP: idempotent by reference, partial payments, reactivation."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.models.billing import Invoice, Order, Subscription, Transaction
from primecloud.models.iam import Account
from primecloud.models.system import AuditLog, Notification
from tests.conftest import ApiClient, ApiResponse, assert_problem
from tests.factories import Tenant, make_api_key, make_tenant
from tests.invoicing_factories import LineSpec, issue_invoice, make_staff_token, set_tax_rate

# 100.00 + 19 % = 119.00
LINES = [LineSpec("Storage", Decimal("1000"), Decimal("0.1"))]


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    tenant = make_tenant(db, "Acme")
    set_tax_rate(db, tenant.account_id, "0.19")
    return tenant


@pytest.fixture
def staff(db: sa.Engine) -> tuple[uuid.UUID, str]:
    return make_staff_token(db)


@pytest.fixture
def invoice_id(db: sa.Engine, acme: Tenant) -> uuid.UUID:
    return issue_invoice(db, acme.account_id, LINES)[0]


def pay(api: ApiClient, token: str, invoice_id: uuid.UUID, amount: str, reference: str, **extra: Any) -> ApiResponse:
    body = {"amount": amount, "currency": "EUR", "gateway": "bank", "reference": reference, **extra}
    return api.post(f"/v1/admin/invoices/{invoice_id}/payments", token=token, json=body)


def invoice_row(db: sa.Engine, invoice_id: uuid.UUID) -> Invoice:
    with Session(db, expire_on_commit=False) as session:
        return session.get_one(Invoice, invoice_id)


def test_partial_payments_add_up_and_the_last_one_settles(
    api: ApiClient, db: sa.Engine, acme: Tenant, staff: tuple[uuid.UUID, str], invoice_id: uuid.UUID
) -> None:
    staff_id, token = staff
    r = pay(api, token, invoice_id, "19.01", "SEPA-1", metadata={"payer": "Acme GmbH"})
    assert r.status == 201, r
    assert r.json["already_recorded"] is False
    transaction = r.json["transaction"]
    assert transaction["amount"] == "19.01" and transaction["status"] == "succeeded"
    assert transaction["gateway"] == "bank" and transaction["reference"] == "SEPA-1"
    assert transaction["metadata"] == {"payer": "Acme GmbH"} and transaction["account_id"] == str(acme.account_id)
    assert r.json["invoice"]["status"] == "open"
    assert (r.json["invoice"]["amount_paid"], r.json["invoice"]["balance_due"]) == ("19.01", "99.99")

    r = pay(api, token, invoice_id, "99.99", "SEPA-2")
    assert r.status == 201, r
    assert r.json["invoice"]["status"] == "paid" and r.json["invoice"]["balance_due"] == "0.00"
    row = invoice_row(db, invoice_id)
    assert row.status == "paid" and row.amount_paid == Decimal("119.00") and row.paid_at is not None

    with Session(db) as session:
        amounts = session.scalars(sa.select(Transaction.amount).order_by(Transaction.created_at)).all()
        assert list(amounts) == [Decimal("19.01"), Decimal("99.99")]
        entries = session.scalars(
            sa.select(AuditLog).where(AuditLog.action == "payment.record").order_by(AuditLog.created_at)
        ).all()
        assert [(e.account_id, e.actor_user_id, e.target_id) for e in entries] == [
            (acme.account_id, staff_id, str(invoice_id))
        ] * 2
        assert entries[0].new_value is not None and entries[1].new_value is not None
        assert entries[0].new_value["amount"] == "19.01" and entries[0].new_value["reference"] == "SEPA-1"
        assert entries[1].old_value == {"status": "open", "amount_paid": "19.01"}
        assert entries[1].new_value["status"] == "paid" and entries[1].new_value["amount_paid"] == "119.00"
        told = session.scalars(sa.select(Notification.user_id).where(Notification.type == "invoice.paid")).all()
        assert set(told) == {acme.members["owner"].user_id, acme.members["admin"].user_id}

    # the customer sees it paid
    r = api.get(f"/v1/accounts/{acme.account_id}/invoices/{invoice_id}", token=acme.token("owner"))
    assert (r.json["status"], r.json["amount_paid"], r.json["balance_due"]) == ("paid", "119.00", "0.00")
    assert [(p["amount"], p["gateway"], p["status"]) for p in r.json["payments"]] == [
        ("19.01", "bank", "succeeded"),
        ("99.99", "bank", "succeeded"),
    ]


def test_the_same_reference_again_returns_the_payment_and_changes_nothing(
    api: ApiClient, db: sa.Engine, staff: tuple[uuid.UUID, str], invoice_id: uuid.UUID
) -> None:
    _, token = staff
    first = pay(api, token, invoice_id, "50.00", "SEPA-77")
    assert first.status == 201, first
    again = pay(api, token, invoice_id, "50.00", "SEPA-77")
    assert again.status == 200, again
    assert again.json["already_recorded"] is True
    assert again.json["transaction"]["id"] == first.json["transaction"]["id"]
    assert again.json["invoice"]["amount_paid"] == "50.00"
    assert invoice_row(db, invoice_id).amount_paid == Decimal("50.00")
    with Session(db) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Transaction)) == 1
        assert (
            session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(AuditLog.action == "payment.record"))
            == 1
        )
    # the same reference for a different payment is a conflict, not a silent success
    assert_problem(pay(api, token, invoice_id, "60.00", "SEPA-77"), 409, "conflict")
    # another gateway may use the same reference
    assert pay(api, token, invoice_id, "10.00", "SEPA-77", gateway="stripe").status == 201


def test_a_replayed_settling_payment_is_still_200_after_the_invoice_is_paid(
    api: ApiClient, db: sa.Engine, staff: tuple[uuid.UUID, str], invoice_id: uuid.UUID
) -> None:
    _, token = staff
    assert pay(api, token, invoice_id, "119.00", "SEPA-FULL").status == 201
    again = pay(api, token, invoice_id, "119.00", "SEPA-FULL")
    assert again.status == 200 and again.json["already_recorded"] is True, again
    assert_problem(pay(api, token, invoice_id, "1.00", "SEPA-MORE"), 409, "conflict")


def test_concurrent_identical_payments_are_recorded_once(
    api: ApiClient, db: sa.Engine, staff: tuple[uuid.UUID, str], invoice_id: uuid.UUID
) -> None:
    _, token = staff
    results: list[ApiResponse] = []
    barrier = threading.Barrier(4)

    def send() -> None:
        barrier.wait(timeout=30)
        results.append(pay(ApiClient(api.base_url), token, invoice_id, "20.00", "SEPA-RACE"))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(r.status for r in results) == [200, 200, 200, 201], results
    assert invoice_row(db, invoice_id).amount_paid == Decimal("20.00")


@pytest.mark.parametrize(
    "case",
    [
        ("119.01", "EUR", "body.amount"),  # more than the balance
        ("10.001", "EUR", "body.amount"),  # below a cent
        ("10.00", "USD", "body.currency"),
        ("0", "EUR", "body.amount"),
        ("-5.00", "EUR", "body.amount"),
        ("ten", "EUR", "body.amount"),
    ],
)
def test_invalid_payments_are_refused(
    api: ApiClient, db: sa.Engine, staff: tuple[uuid.UUID, str], invoice_id: uuid.UUID, case: tuple[str, str, str]
) -> None:
    amount, currency, field = case
    _, token = staff
    r = api.post(
        f"/v1/admin/invoices/{invoice_id}/payments",
        token=token,
        json={"amount": amount, "currency": currency, "gateway": "bank", "reference": "SEPA-X"},
    )
    body = assert_problem(r, 422, "validation-error")
    assert body["errors"][0]["field"] == field, body
    assert invoice_row(db, invoice_id).amount_paid == Decimal("0.00")
    with Session(db) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Transaction)) == 0


def test_amounts_are_decimal_strings_never_json_numbers(
    api: ApiClient, db: sa.Engine, staff: tuple[uuid.UUID, str], invoice_id: uuid.UUID
) -> None:
    _, token = staff
    for amount in (10.1, 10, "NaN", "Infinity", True):
        r = api.post(
            f"/v1/admin/invoices/{invoice_id}/payments",
            token=token,
            json={"amount": amount, "currency": "EUR", "gateway": "bank", "reference": "FLOAT"},
        )
        body = assert_problem(r, 422, "validation-error")
        assert body["errors"][0]["field"] == "body.amount", body
    assert invoice_row(db, invoice_id).amount_paid == Decimal("0.00")


def test_an_overpayment_after_a_partial_one_is_refused(
    api: ApiClient, db: sa.Engine, staff: tuple[uuid.UUID, str], invoice_id: uuid.UUID
) -> None:
    _, token = staff
    assert pay(api, token, invoice_id, "100.00", "P1").status == 201
    body = assert_problem(pay(api, token, invoice_id, "19.01", "P2"), 422, "validation-error")
    assert "19.00" in body["detail"]


def test_void_and_paid_invoices_take_no_payment(
    api: ApiClient, db: sa.Engine, acme: Tenant, staff: tuple[uuid.UUID, str], invoice_id: uuid.UUID
) -> None:
    _, token = staff
    r = api.post(f"/v1/admin/invoices/{invoice_id}/void", token=token)
    assert r.status == 200, r
    assert_problem(pay(api, token, invoice_id, "10.00", "V1"), 409, "conflict")
    paid_id, _ = issue_invoice(db, acme.account_id, [LineSpec("Free", Decimal("1"), Decimal("0"))])
    assert_problem(pay(api, token, paid_id, "0.01", "V2"), 409, "conflict")
    assert_problem(pay(api, token, uuid.uuid4(), "10.00", "V3"), 404, "not-found")


def test_void_an_open_invoice(
    api: ApiClient, db: sa.Engine, acme: Tenant, staff: tuple[uuid.UUID, str], invoice_id: uuid.UUID
) -> None:
    staff_id, token = staff
    r = api.post(f"/v1/admin/invoices/{invoice_id}/void", token=token)
    assert r.status == 200, r
    assert r.json["status"] == "void" and r.json["balance_due"] == "0.00"
    assert invoice_row(db, invoice_id).status == "void"
    with Session(db) as session:
        entry = session.scalar(sa.select(AuditLog).where(AuditLog.action == "invoice.void"))
        assert entry is not None
        assert (entry.account_id, entry.actor_user_id, entry.target_id) == (acme.account_id, staff_id, str(invoice_id))
        assert entry.new_value is not None
        assert entry.old_value == {"status": "open"} and entry.new_value["status"] == "void"
    assert_problem(api.post(f"/v1/admin/invoices/{invoice_id}/void", token=token), 409, "conflict")


def test_paid_or_partially_paid_invoices_cannot_be_voided(
    api: ApiClient, db: sa.Engine, acme: Tenant, staff: tuple[uuid.UUID, str], invoice_id: uuid.UUID
) -> None:
    _, token = staff
    assert pay(api, token, invoice_id, "1.00", "PART").status == 201
    assert_problem(api.post(f"/v1/admin/invoices/{invoice_id}/void", token=token), 409, "conflict")
    other_id, _ = issue_invoice(db, acme.account_id, LINES)
    assert pay(api, token, other_id, "119.00", "FULL").status == 201
    assert_problem(api.post(f"/v1/admin/invoices/{other_id}/void", token=token), 409, "conflict")
    assert invoice_row(db, invoice_id).status == "open" and invoice_row(db, other_id).status == "paid"
    with Session(db) as session:
        assert (
            session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(AuditLog.action == "invoice.void"))
            == 0
        )


def test_voiding_an_order_invoice_cancels_the_order(
    api: ApiClient, db: sa.Engine, acme: Tenant, staff: tuple[uuid.UUID, str]
) -> None:
    from tests.invoicing_factories import make_vps_config

    plan = make_vps_config(db, name="Small")
    r = api.post(
        f"/v1/accounts/{acme.account_id}/orders",
        token=acme.token("owner"),
        json={"product": "vps", "vps_config_id": str(plan)},
    )
    assert r.status == 201, r
    _, token = staff
    assert api.post(f"/v1/admin/invoices/{r.json['invoice_id']}/void", token=token).status == 200
    with Session(db) as session:
        assert session.get_one(Order, uuid.UUID(r.json["id"])).status == "cancelled"
        assert session.scalar(sa.select(sa.func.count()).select_from(Subscription)) == 0


def test_full_payment_of_an_order_invoice_marks_the_order_paid_once(
    api: ApiClient, db: sa.Engine, acme: Tenant, staff: tuple[uuid.UUID, str]
) -> None:
    from tests.invoicing_factories import make_vps_config

    plan = make_vps_config(db, name="Small", price_monthly="10.00")
    r = api.post(
        f"/v1/accounts/{acme.account_id}/orders",
        token=acme.token("owner"),
        json={"product": "vps", "vps_config_id": str(plan)},
    )
    order_id, invoice = uuid.UUID(r.json["id"]), uuid.UUID(r.json["invoice_id"])
    _, token = staff
    assert pay(api, token, invoice, "5.00", "O1").status == 201  # half: the order waits
    with Session(db) as session:
        assert session.get_one(Order, order_id).status == "pending"
    assert pay(api, token, invoice, "6.90", "O2").status == 201  # 10.00 + 1.90 tax = 11.90
    assert pay(api, token, invoice, "6.90", "O2").status == 200  # a replay starts nothing twice
    with Session(db) as session:
        assert session.get_one(Order, order_id).status == "paid"
        subscriptions = session.scalars(sa.select(Subscription)).all()
        assert [(s.order_id, s.price, s.status) for s in subscriptions] == [(order_id, Decimal("10.00"), "active")]


def test_full_payment_reactivates_an_account_suspended_for_nonpayment(
    api: ApiClient, db: sa.Engine, acme: Tenant, staff: tuple[uuid.UUID, str]
) -> None:
    from primecloud.actor import Actor
    from primecloud.adapters import registry
    from primecloud.services import suspension

    long_ago = datetime.now(UTC) - timedelta(days=60)
    overdue_id, _ = issue_invoice(db, acme.account_id, LINES, now=long_ago)
    with Session(db) as session, session.begin():
        session.get_one(Invoice, overdue_id).status = "overdue"
        suspended = suspension.suspend_for_nonpayment(
            session,
            acme.account_id,
            invoice_id=overdue_id,
            actor=Actor.system("dunning"),
            now=datetime.now(UTC),
            credentials=registry.tenant_credentials,
            sftpgo=registry.sftpgo,
        )
        assert suspended
    _, token = staff
    # a partial payment leaves the suspension in place
    assert pay(api, token, overdue_id, "100.00", "R1").status == 201
    with Session(db) as session:
        assert session.get_one(Account, acme.account_id).status == "suspended"
    assert pay(api, token, overdue_id, "19.00", "R2").status == 201
    with Session(db) as session:
        assert session.get_one(Account, acme.account_id).status == "active"
        actions = session.scalars(
            sa.select(AuditLog.action).where(AuditLog.account_id == acme.account_id).order_by(AuditLog.created_at)
        ).all()
        assert "account.reactivate" in actions


@pytest.mark.parametrize("role", ["owner", "admin", "member", "viewer"])
def test_account_members_are_not_staff(
    api: ApiClient, db: sa.Engine, acme: Tenant, invoice_id: uuid.UUID, role: str
) -> None:
    assert_problem(pay(api, acme.token(role), invoice_id, "10.00", "M1"), 403, "forbidden")
    assert_problem(api.post(f"/v1/admin/invoices/{invoice_id}/void", token=acme.token(role)), 403, "forbidden")
    assert invoice_row(db, invoice_id).status == "open"


def test_staff_api_keys_are_refused(api: ApiClient, db: sa.Engine, acme: Tenant, invoice_id: uuid.UUID) -> None:
    staff_id, _ = make_staff_token(db)
    with Session(db) as session, session.begin():
        raw, _ = make_api_key(session, session.get_one(Account, acme.account_id), staff_id, ["billing:write"])
    assert_problem(pay(api, raw, invoice_id, "10.00", "K1"), 403, "forbidden")


def test_metadata_is_bounded(api: ApiClient, staff: tuple[uuid.UUID, str], invoice_id: uuid.UUID) -> None:
    _, token = staff
    r = pay(api, token, invoice_id, "10.00", "BIG", metadata={"note": "x" * 5000})
    body = assert_problem(r, 422, "validation-error")
    assert body["errors"][0]["field"] == "body.metadata"
    assert_problem(pay(api, token, invoice_id, "10.00", ""), 422, "validation-error")


def test_another_tenants_payment_does_not_touch_this_tenant(
    api: ApiClient, db: sa.Engine, acme: Tenant, staff: tuple[uuid.UUID, str], invoice_id: uuid.UUID
) -> None:
    other = make_tenant(db, "Other")
    other_invoice, _ = issue_invoice(db, other.account_id, LINES)
    _, token = staff
    assert pay(api, token, other_invoice, "100.00", "OTHER").status == 201  # no tax on that account
    assert invoice_row(db, invoice_id).amount_paid == Decimal("0.00")
    r = api.get(f"/v1/accounts/{acme.account_id}/invoices", token=acme.token("owner"), params={"status": "paid"})
    assert r.json["items"] == []


def test_settling_emails_a_receipt_and_a_mail_outage_does_not_lose_the_payment(
    api: ApiClient,
    db: sa.Engine,
    staff: tuple[uuid.UUID, str],
    invoice_id: uuid.UUID,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from primecloud.adapters.email import SesMailer
    from primecloud.errors import Unavailable

    sent: list[str] = []

    def failing_send(self: SesMailer, email: Any) -> None:
        sent.append(email.subject)
        raise Unavailable("The mail service is unavailable.")

    monkeypatch.setattr(SesMailer, "send", failing_send)
    total = str(invoice_row(db, invoice_id).total)

    r = pay(api, staff[1], invoice_id, total, "pi_receipt")

    assert r.status == 201, r
    invoice = invoice_row(db, invoice_id)
    assert invoice.status == "paid"
    assert sent == [f"PrimeCloud invoice {invoice.number} paid"]
    with Session(db) as session:
        paid_news = session.scalars(sa.select(Notification).where(Notification.type == "invoice.paid")).all()
    assert paid_news and all(n.emailed_at is None for n in paid_news)  # the in-app notice stands, not marked mailed
