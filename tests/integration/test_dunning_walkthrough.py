"""Acceptance (issue 6): one invoice walked with an injected clock through issue, due, the 1-, 7- and 14-day
reminders, suspension at 30 days, payment and reactivation.

The invoice is issued by ``invoicing.issue``; the daily job is the deployed ``CheckOverdueFunction``
handler; the payment goes through ``POST /v1/admin/invoices/{invoice_id}/payments``. At every
stage: exactly one notification of the stage per recipient (owners and admins for invoice news,
every member for the account's status), exactly one email per stage that mails (moto's SES), and
the state of the account, its access key (moto's IAM) and its SFTP user (the SftpGo stub).
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from localrun.invoke import LocalLambda
from localrun.services.sftpgo_stub import SftpGoStub
from localrun.template import load_template
from primecloud import clock
from primecloud.adapters.documents import default_documents
from primecloud.adapters.email import default_mailer
from primecloud.config import get_settings
from primecloud.models.billing import Invoice
from primecloud.models.iam import Account
from primecloud.models.storage import SftpUser
from primecloud.services.billing import invoicing
from tests.conftest import ROOT, ApiClient
from tests.dunning_factories import audit_rows, invoice_row, notification_rows, sent_emails
from tests.e2e.sftp_support import sftpgo_stub  # noqa: F401 - a fixture
from tests.e2e.test_access_keys import create_key, iam_key_status, key_row
from tests.e2e.test_sftp_users import create_user
from tests.factories import Tenant, make_tenant
from tests.invoicing_factories import LineSpec, draft_invoice, make_staff_token, set_tax_rate

BILLING_EMAIL = "accounts-payable@walkthrough.test"
ISSUED = datetime.now(UTC).replace(microsecond=0)
DUE = ISSUED + timedelta(days=14)  # INVOICE_NET_DAYS


class Walk:
    """The injected clock, the job, and what changed since the last look."""

    def __init__(self, db: sa.Engine, tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
        self.db = db
        self.tenant = tenant
        self.now = ISSUED
        monkeypatch.setattr(clock, "now", lambda: self.now)
        self.runtime = LocalLambda(load_template(ROOT / "template.yaml"))
        self.emails_seen = len(sent_emails(BILLING_EMAIL))
        self.notifications_seen: set[uuid.UUID] = set()

    def at(self, days_after_due: float) -> None:
        self.now = DUE + timedelta(days=days_after_due)

    def check_overdue(self) -> dict[str, Any]:
        result: dict[str, Any] = self.runtime.invoke("CheckOverdueFunction", {"trigger": "manual"})
        assert result["status"] == "succeeded", result
        counts: dict[str, Any] = result["stats"]["counts"]
        return counts

    def new_emails(self) -> list[Any]:
        sent = sent_emails(BILLING_EMAIL)
        new, self.emails_seen = sent[self.emails_seen :], len(sent)
        return new

    def new_notifications(self) -> Counter[tuple[str, str]]:
        """(type, role of the recipient) of each notification made since the last look."""
        role_of = {member.user_id: role for role, member in self.tenant.members.items()}
        rows = [row for row in notification_rows(self.db) if row.id not in self.notifications_seen]
        self.notifications_seen |= {row.id for row in rows}
        assert all(row.account_id == self.tenant.account_id for row in rows)
        return Counter((row.type, role_of[row.user_id]) for row in rows if row.user_id is not None)

    def state(self, key: dict[str, str], stub: SftpGoStub, login: str) -> tuple[str, str, str, str, int]:
        """The account's status; the access key in the database and IAM; the SFTP user in the database and SftpGo."""
        with Session(self.db) as session:
            account = session.get_one(Account, self.tenant.account_id).status
            sftp_row = session.scalars(sa.select(SftpUser.status).where(SftpUser.username == login)).one()
        return (
            account,
            key_row(self.db, key["id"]).status,
            iam_key_status(key["access_key_id"]),
            sftp_row,
            stub.users[login]["status"],
        )


@pytest.fixture
def stub(sftpgo_stub: SftpGoStub) -> SftpGoStub:  # noqa: F811 - the fixture imported above
    return sftpgo_stub


INVOICE_NEWS = ("owner", "admin")
EVERYONE = ("owner", "admin", "member", "viewer")
ACTIVE = ("active", "active", "Active", "active", 1)
SUSPENDED = ("suspended", "disabled", "Inactive", "disabled", 0)


def one_each(kind: str, roles: tuple[str, ...]) -> Counter[tuple[str, str]]:
    return Counter({(kind, role): 1 for role in roles})


def test_one_invoice_from_issue_to_reactivation(
    api: ApiClient,
    db: sa.Engine,
    stub: SftpGoStub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    acme = make_tenant(db, "Walkthrough GmbH")
    set_tax_rate(db, acme.account_id, "0.19", billing_email=BILLING_EMAIL)
    key = create_key(api, acme, name="backup job").json
    login = create_user(api, acme).json["username"]
    _, staff_token = make_staff_token(db)
    walk = Walk(db, acme, monkeypatch)

    # --- issue: an open invoice due in 14 days; the billing contact gets it, owners and admins are told
    with Session(db) as session, session.begin():
        draft = draft_invoice(session, acme.account_id, [LineSpec("Storage plan", Decimal("1"), Decimal("100.00"))])
        invoicing.issue(
            session, draft, now=walk.now, storage=default_documents(), mailer=default_mailer(), settings=get_settings()
        )
        invoice_id = draft.id
    invoice = invoice_row(db, invoice_id)
    assert (invoice.status, invoice.total, invoice.due_at) == ("open", Decimal("119.00"), DUE)
    assert walk.new_notifications() == one_each("invoice.issued", INVOICE_NEWS)
    assert len(walk.new_emails()) == 1
    assert walk.state(key, stub, login) == ACTIVE

    # --- the day before it is due: nothing
    walk.at(-1)
    assert walk.check_overdue() == {}
    assert invoice_row(db, invoice_id).status == "open"

    # --- due: overdue from the due date on, the first reminder waits for day 1
    walk.at(0.25)
    assert walk.check_overdue()["invoices_overdue"] == 1
    assert (invoice_row(db, invoice_id).status, invoice_row(db, invoice_id).reminder_stage) == ("overdue", 0)
    assert walk.new_notifications() == Counter() and walk.new_emails() == []

    # --- reminders at 1, 7 and 14 days: each once, however often the job runs that day
    for stage, days in enumerate((1, 7, 14), start=1):
        walk.at(days)
        assert walk.check_overdue()[f"reminders_stage_{stage}"] == 1
        walk.at(days + 0.5)
        assert walk.check_overdue() == {}  # the same day again: nothing new

        assert invoice_row(db, invoice_id).reminder_stage == stage
        assert walk.new_notifications() == one_each("invoice.reminder", INVOICE_NEWS)
        (email,) = walk.new_emails()
        assert email.subject == f"Payment reminder: Invoice {invoice.number} is {days} day{'s' * (days > 1)} overdue"
        assert "119.00 EUR" in email.body
        assert walk.state(key, stub, login) == ACTIVE

    # --- 29 days: still nothing more
    walk.at(29.9)
    assert walk.check_overdue() == {}
    assert walk.new_notifications() == Counter() and walk.new_emails() == []

    # --- 30 days: suspended; access key off in IAM, SFTP login off in SftpGo; every member told
    walk.at(30)
    assert walk.check_overdue()["accounts_suspended"] == 1
    assert walk.state(key, stub, login) == SUSPENDED
    assert walk.new_notifications() == one_each("account.suspended", EVERYONE)
    (email,) = walk.new_emails()
    assert email.subject == "Walkthrough GmbH is suspended for non-payment"
    (entry,) = audit_rows(db, "account.suspend")
    assert (entry.severity, entry.actor_user_id, entry.account_id) == ("warning", None, acme.account_id)
    assert entry.new_value is not None and entry.new_value["invoice_id"] == str(invoice_id)
    assert invoice_row(db, invoice_id).reminder_stage == 4
    walk.at(30.5)
    assert walk.check_overdue() == {}  # suspended once

    # --- a suspended account can still be read, not changed
    assert api.get(f"/v1/accounts/{acme.account_id}", token=acme.token("owner")).status == 200
    r = api.post(f"/v1/accounts/{acme.account_id}/access-keys", token=acme.token("owner"), json={"name": "new"})
    assert r.status == 403 and r.json["type"].endswith("/account-suspended"), r

    # --- payment in full, recorded by staff: the invoice is paid and everything suspension disabled is back
    walk.at(31)
    r = api.post(
        f"/v1/admin/invoices/{invoice_id}/payments",
        token=staff_token,
        json={"amount": "119.00", "currency": "EUR", "gateway": "bank", "reference": "SEPA-2026-0042"},
    )
    assert r.status == 201, r
    paid = invoice_row(db, invoice_id)
    assert (paid.status, paid.amount_paid, paid.paid_at) == ("paid", Decimal("119.00"), walk.now)
    assert walk.state(key, stub, login) == ACTIVE
    assert walk.new_notifications() == one_each("invoice.paid", INVOICE_NEWS) + one_each(
        "account.reactivated", EVERYONE
    )
    receipt, reactivated_mail = walk.new_emails()  # one email each: the receipt, then the reactivation
    assert receipt.subject.endswith("paid") and "paid in full" in receipt.body
    assert reactivated_mail.subject == "Walkthrough GmbH is active again"
    (entry,) = audit_rows(db, "account.reactivate")
    assert entry.new_value is not None
    reactivated = {name: entry.new_value[name] for name in ("cause", "access_keys_enabled", "sftp_users_enabled")}
    assert reactivated == {"cause": "nonpayment", "access_keys_enabled": 1, "sftp_users_enabled": 1}

    # --- later runs leave the paid invoice and the active account alone
    walk.at(45)
    assert walk.check_overdue() == {}
    assert walk.state(key, stub, login) == ACTIVE
    with Session(db) as session:
        stages = session.scalars(sa.select(Invoice.reminder_stage).where(Invoice.id == invoice_id)).one()
    assert stages == 4
    assert walk.new_notifications() == Counter() and walk.new_emails() == []
