"""Invoices over HTTP: list (keyset, status filter), one invoice with lines and balance, document links."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.models.billing import Invoice
from primecloud.models.iam import Account
from tests.conftest import ApiClient, assert_problem
from tests.factories import Tenant, make_api_key, make_tenant
from tests.invoicing_factories import LineSpec, draft_invoice, issue_invoice, set_tax_rate

LINES = [
    LineSpec("Storage 312.5 GiB-months", Decimal("312.5"), Decimal("0.0199"), "storage_bytes"),  # 6.21875 -> 6.22
    LineSpec("VPS Small \u2014 first month", Decimal("1"), Decimal("4.99")),
]
# 6.22 + 4.99 = 11.21; 19 % = 2.1299 -> 2.13; total 13.34


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    tenant = make_tenant(db, "Acme")
    set_tax_rate(db, tenant.account_id, "0.19")
    return tenant


def invoices_url(account_id: uuid.UUID) -> str:
    return f"/v1/accounts/{account_id}/invoices"


def test_owner_lists_issued_invoices_newest_first_with_money_as_strings(
    api: ApiClient, acme: Tenant, db: sa.Engine
) -> None:
    first_id, first_number = issue_invoice(db, acme.account_id, LINES)
    second_id, second_number = issue_invoice(db, acme.account_id, LINES[:1])
    with Session(db) as session, session.begin():
        draft_invoice(session, acme.account_id, LINES)  # billing still working on it: not shown

    r = api.get(invoices_url(acme.account_id), token=acme.token("owner"))
    assert r.status == 200, r
    assert [item["id"] for item in r.json["items"]] == [str(second_id), str(first_id)]
    assert r.json["next_cursor"] is None
    first = r.json["items"][1]
    assert first["number"] == first_number and second_number.startswith("INV-")
    assert first["status"] == "open" and first["kind"] == "order"
    assert (first["subtotal"], first["tax"], first["total"]) == ("11.21", "2.13", "13.34")
    assert (first["amount_paid"], first["balance_due"], first["currency"]) == ("0.00", "13.34", "EUR")
    assert first["issued_at"] and first["due_at"] and first["paid_at"] is None


def test_list_pages_with_a_cursor_and_filters_by_status(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    ids = [issue_invoice(db, acme.account_id, LINES)[0] for _ in range(3)]
    paid_id, _ = issue_invoice(db, acme.account_id, [LineSpec("Free", Decimal("1"), Decimal("0"))])

    r = api.get(invoices_url(acme.account_id), token=acme.token("admin"), params={"limit": 2})
    assert r.status == 200 and len(r.json["items"]) == 2 and r.json["next_cursor"], r
    r2 = api.get(
        invoices_url(acme.account_id), token=acme.token("admin"), params={"limit": 2, "cursor": r.json["next_cursor"]}
    )
    assert r2.status == 200 and r2.json["next_cursor"] is None, r2
    seen = [item["id"] for item in r.json["items"] + r2.json["items"]]
    assert seen == [str(i) for i in [paid_id, *reversed(ids)]]

    r = api.get(invoices_url(acme.account_id), token=acme.token("owner"), params={"status": "paid"})
    assert [item["id"] for item in r.json["items"]] == [str(paid_id)]
    assert r.json["items"][0]["balance_due"] == "0.00" and r.json["items"][0]["paid_at"]
    r = api.get(invoices_url(acme.account_id), token=acme.token("owner"), params={"status": "open"})
    assert {item["id"] for item in r.json["items"]} == {str(i) for i in ids}

    body = assert_problem(
        api.get(invoices_url(acme.account_id), token=acme.token("owner"), params={"status": "unpaid"}),
        422,
        "validation-error",
    )
    assert body["errors"][0]["field"] == "query.status"
    assert_problem(
        api.get(invoices_url(acme.account_id), token=acme.token("owner"), params={"cursor": "garbage"}),
        422,
        "validation-error",
    )


def test_get_shows_lines_amount_paid_and_balance_due(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    invoice_id, number = issue_invoice(db, acme.account_id, LINES)
    with Session(db) as session, session.begin():
        session.get_one(Invoice, invoice_id).amount_paid = Decimal("5.00")

    r = api.get(f"{invoices_url(acme.account_id)}/{invoice_id}", token=acme.token("owner"))
    assert r.status == 200, r
    body = r.json
    assert body["number"] == number and body["billing_name"] == "Acme"
    assert (body["total"], body["amount_paid"], body["balance_due"]) == ("13.34", "5.00", "8.34")
    assert body["documents"] == ["pdf", "csv"] and body["payments"] == []
    assert body["lines"] == [
        {
            "position": 1,
            "description": "Storage 312.5 GiB-months",
            "metric": "storage_bytes",
            "quantity": "312.500000",
            "unit_price": "0.01990000",
            "amount": "6.22",
        },
        {
            "position": 2,
            "description": "VPS Small \u2014 first month",
            "metric": None,
            "quantity": "1.000000",
            "unit_price": "4.99000000",
            "amount": "4.99",
        },
    ]


def test_document_links_download_the_real_pdf_and_csv(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    invoice_id, number = issue_invoice(db, acme.account_id, LINES)
    url = f"{invoices_url(acme.account_id)}/{invoice_id}/document"

    r = api.get(url, token=acme.token("owner"))  # pdf is the default
    assert r.status == 200, r
    assert r.json["format"] == "pdf" and r.json["filename"] == f"{number}.pdf" and r.json["method"] == "GET"
    expires_at = datetime.fromisoformat(r.json["expires_at"])
    assert timedelta(minutes=4) < expires_at - datetime.now(UTC) <= timedelta(minutes=5, seconds=5)
    download = requests.get(r.json["url"], timeout=30)
    assert download.status_code == 200 and download.content.startswith(b"%PDF-")
    assert f"{number}.pdf" in download.headers["content-disposition"]

    r = api.get(url, token=acme.token("admin"), params={"format": "csv"})
    assert r.status == 200 and r.json["filename"] == f"{number}.csv", r
    rows = list(csv.DictReader(io.StringIO(requests.get(r.json["url"], timeout=30).text)))
    lines = [Decimal(row["amount"]) for row in rows if row["type"] == "line"]
    totals = {row["type"]: Decimal(row["amount"]) for row in rows if row["type"] != "line"}
    assert lines == [Decimal("6.22"), Decimal("4.99")]
    assert sum(lines) == totals["subtotal"] and totals["subtotal"] + totals["tax"] == totals["total"] == Decimal(
        "13.34"
    )

    assert_problem(api.get(url, token=acme.token("owner"), params={"format": "xlsx"}), 422, "validation-error")


def test_a_draft_is_not_there_for_the_customer(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    with Session(db) as session, session.begin():
        draft_id = draft_invoice(session, acme.account_id, LINES).id
    assert_problem(api.get(f"{invoices_url(acme.account_id)}/{draft_id}", token=acme.token("owner")), 404, "not-found")
    assert_problem(
        api.get(f"{invoices_url(acme.account_id)}/{draft_id}/document", token=acme.token("owner")), 404, "not-found"
    )


def test_an_invoice_without_documents_is_a_conflict(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    invoice_id, _ = issue_invoice(db, acme.account_id, LINES)
    with Session(db) as session, session.begin():
        session.execute(
            sa.text("UPDATE customer_invoices SET csv_key = NULL WHERE invoice_id = :id"), {"id": invoice_id}
        )
    r = api.get(
        f"{invoices_url(acme.account_id)}/{invoice_id}/document", token=acme.token("owner"), params={"format": "csv"}
    )
    assert_problem(r, 409, "conflict")


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_cannot_see_invoices(api: ApiClient, acme: Tenant, db: sa.Engine, role: str) -> None:
    invoice_id, _ = issue_invoice(db, acme.account_id, LINES)
    for path in ("", f"/{invoice_id}", f"/{invoice_id}/document"):
        assert_problem(api.get(invoices_url(acme.account_id) + path, token=acme.token(role)), 403, "forbidden")


def test_another_tenants_invoice_is_not_found(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    invoice_id, _ = issue_invoice(db, acme.account_id, LINES)
    other = make_tenant(db, "Other")
    # through the other tenant's own account: no such invoice there
    for path in (f"/{invoice_id}", f"/{invoice_id}/document"):
        assert_problem(api.get(invoices_url(other.account_id) + path, token=other.token("owner")), 404, "not-found")
    assert api.get(invoices_url(other.account_id), token=other.token("owner")).json["items"] == []
    # through Acme's account: not a member, so the account itself does not exist for them
    assert_problem(api.get(invoices_url(acme.account_id), token=other.token("owner")), 404, "not-found")
    assert_problem(
        api.get(f"{invoices_url(acme.account_id)}/{invoice_id}", token=other.token("owner")), 404, "not-found"
    )


def test_api_keys_need_billing_read(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    invoice_id, _ = issue_invoice(db, acme.account_id, LINES)
    with Session(db) as session, session.begin():
        account = session.get_one(Account, acme.account_id)
        without, _ = make_api_key(session, account, acme.members["owner"].user_id, ["buckets:read"])
        with_scope, _ = make_api_key(session, account, acme.members["owner"].user_id, ["billing:read"])
    assert_problem(api.get(invoices_url(acme.account_id), token=without), 403, "forbidden")
    r = api.get(f"{invoices_url(acme.account_id)}/{invoice_id}", token=with_scope)
    assert r.status == 200 and r.json["id"] == str(invoice_id), r


def test_a_suspended_account_still_reads_its_invoices(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    invoice_id, _ = issue_invoice(db, acme.account_id, LINES)
    with Session(db) as session, session.begin():
        session.get_one(Account, acme.account_id).status = "suspended"
    assert api.get(invoices_url(acme.account_id), token=acme.token("owner")).status == 200
    assert api.get(f"{invoices_url(acme.account_id)}/{invoice_id}", token=acme.token("owner")).status == 200
    r = api.get(f"{invoices_url(acme.account_id)}/{invoice_id}/document", token=acme.token("owner"))
    assert r.status == 200 and r.json["url"], r


def test_unauthenticated_is_refused(api: ApiClient, acme: Tenant) -> None:
    r = api.get(invoices_url(acme.account_id))
    assert r.status == 401, r
