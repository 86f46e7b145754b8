"""check_overdue's rules against PostgreSQL: overdue, each reminder stage once, skipped stages, email failures
retried, suspension once per invoice (access keys in moto's IAM), reactivation after payment, job-run counts."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.actor import Actor
from primecloud.adapters import registry
from primecloud.adapters.email import Email
from primecloud.adapters.tenant_aws import AwsTenantCredentials
from primecloud.config import Settings, get_settings
from primecloud.db import system_scope_throughout, unit_of_work
from primecloud.errors import Unavailable
from primecloud.jobs import JobStats
from primecloud.models.billing import Invoice
from primecloud.models.iam import Account
from primecloud.services import suspension
from primecloud.services.billing import dunning
from tests.conftest import ApiClient
from tests.dunning_factories import audit_rows, invoice_row, make_open_invoice, notification_rows
from tests.e2e.test_access_keys import create_key, iam_key_status, key_row
from tests.factories import Tenant, make_tenant

ISSUED = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
DUE = ISSUED + timedelta(days=14)


class RecordingMailer:
    def __init__(self) -> None:
        self.sent: list[Email] = []
        self.failing = False

    def send(self, email: Email) -> None:
        if self.failing:
            raise Unavailable("The mail service is unavailable.")
        self.sent.append(email)


@pytest.fixture
def mailer() -> RecordingMailer:
    return RecordingMailer()


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    tenant = make_tenant(db, "Acme")
    set_billing_email(db, tenant.account_id, "billing@acme.test")
    return tenant


def set_billing_email(engine: sa.Engine, account_id: uuid.UUID, email: str | None) -> None:
    with Session(engine) as session, session.begin():
        session.get_one(Account, account_id).billing_email = email


def account_status(engine: sa.Engine, account_id: uuid.UUID) -> str:
    with Session(engine) as session:
        return session.get_one(Account, account_id).status


Run = Callable[..., JobStats]


@pytest.fixture
def run(mailer: RecordingMailer) -> Run:
    """One check_overdue pass at ``days`` after the due date (fractions allowed)."""

    def run_at(days: float, **settings: Any) -> JobStats:
        stats = JobStats()
        with system_scope_throughout("test: check_overdue's work"):  # as run_job runs it
            dunning.check_overdue(
                stats,
                sessions=unit_of_work,
                now=DUE + timedelta(days=days),
                settings=Settings(**settings),
                mailer=mailer,
                credentials=registry.tenant_credentials,
                sftpgo=registry.sftpgo,
            )
        return stats

    return run_at


def reminders(engine: sa.Engine) -> list[tuple[int, uuid.UUID | None]]:
    return [(row.data["stage"], row.user_id) for row in notification_rows(engine, type="invoice.reminder")]


# --------------------------------------------------------------------------- the plan


def test_the_plan_reads_the_settings() -> None:
    plan = dunning.DunningPlan.from_settings(Settings(DUNNING_REMINDER_DAYS="14, 1,7", DUNNING_SUSPEND_DAYS=30))
    assert plan.reminder_days == (1, 7, 14) and plan.suspension_stage == 4
    assert [plan.reminder_stage_for(days) for days in (0, 1, 6, 7, 10, 14, 40)] == [0, 1, 1, 2, 2, 3, 3]
    assert plan.next_stage_days() == {0: 1, 1: 7, 2: 14, 3: 30}
    short = dunning.DunningPlan.from_settings(Settings(DUNNING_REMINDER_DAYS="1,7,14", DUNNING_SUSPEND_DAYS=10))
    assert short.next_stage_days() == {0: 1, 1: 7, 2: 10, 3: 10}


# --------------------------------------------------------------------------- overdue and reminders


def test_an_invoice_not_yet_due_is_left_alone(db: sa.Engine, acme: Tenant, run: Run, mailer: RecordingMailer) -> None:
    invoice_id = make_open_invoice(db, acme.account_id, issued_at=ISSUED)
    stats = run(-0.5)
    assert invoice_row(db, invoice_id).status == "open" and stats.counts == {}
    assert mailer.sent == [] and notification_rows(db) == []


def test_a_day_past_due_is_overdue_and_one_reminder_goes_out_once(
    db: sa.Engine, acme: Tenant, run: Run, mailer: RecordingMailer
) -> None:
    invoice_id = make_open_invoice(db, acme.account_id, issued_at=ISSUED, number="INV-2026-000042")

    stats = run(0.5)  # due, but the first reminder is a day later
    invoice = invoice_row(db, invoice_id)
    assert (invoice.status, invoice.reminder_stage) == ("overdue", 0)
    assert stats.counts == {"invoices_checked": 1, "invoices_overdue": 1}
    (entry,) = audit_rows(db, "invoice.overdue")
    assert entry.actor_user_id is None and entry.new_value == {"status": "overdue"}
    assert run(0.9).counts == {}  # nothing is due yet: the invoice is not even looked at

    stats = run(1.2)
    assert invoice_row(db, invoice_id).reminder_stage == 1
    assert stats.counts == {
        "invoices_checked": 1,
        "reminders_stage_1": 1,
        "emails_sent": 1,
        "notifications": 2,
    }
    owner, admin = acme.members["owner"].user_id, acme.members["admin"].user_id
    assert sorted(reminders(db), key=str) == sorted([(1, owner), (1, admin)], key=str)
    (email,) = mailer.sent
    assert email.to == "billing@acme.test" and "INV-2026-000042" in email.subject and "119.00 EUR" in email.text
    note = notification_rows(db, type="invoice.reminder")[0]
    assert note.account_id == acme.account_id and note.emailed_at is not None
    assert note.data["invoice_id"] == str(invoice_id) and note.data["days_overdue"] == 1
    assert note.data["amount_due"] == "119.00" and note.data["skipped_stages"] == []

    for days in (1.5, 2, 6.9):  # re-runs before the next stage change nothing
        assert run(days).counts == {}
    assert len(mailer.sent) == 1 and len(reminders(db)) == 2


def test_each_stage_is_sent_once_in_order(db: sa.Engine, acme: Tenant, run: Run, mailer: RecordingMailer) -> None:
    invoice_id = make_open_invoice(db, acme.account_id, issued_at=ISSUED)
    for days in (1, 1, 7, 7.5, 14, 14, 29):
        run(days)
    assert invoice_row(db, invoice_id).reminder_stage == 3
    assert sorted({stage for stage, _ in reminders(db)}) == [1, 2, 3] and len(reminders(db)) == 6
    assert len(mailer.sent) == 3
    stages = [entry.new_value for entry in audit_rows(db, "invoice.dunning_stage")]
    assert [(value or {})["reminder_stage"] for value in stages] == [1, 2, 3]


def test_a_run_that_finds_an_invoice_ten_days_late_sends_only_the_seven_day_reminder(
    db: sa.Engine, acme: Tenant, run: Run, mailer: RecordingMailer
) -> None:
    invoice_id = make_open_invoice(db, acme.account_id, issued_at=ISSUED)

    stats = run(10)

    assert invoice_row(db, invoice_id).reminder_stage == 2
    assert stats.counts["reminders_stage_2"] == 1 and stats.counts["reminder_stages_skipped"] == 1
    assert {stage for stage, _ in reminders(db)} == {2} and len(mailer.sent) == 1
    assert notification_rows(db, type="invoice.reminder")[0].data["skipped_stages"] == [1]
    run(11)
    assert len(mailer.sent) == 1  # stage 1 counts as done: never sent late
    run(14)
    assert len(mailer.sent) == 2 and invoice_row(db, invoice_id).reminder_stage == 3


def test_without_a_billing_email_the_owners_and_admins_are_emailed(
    db: sa.Engine, acme: Tenant, run: Run, mailer: RecordingMailer
) -> None:
    set_billing_email(db, acme.account_id, None)
    make_open_invoice(db, acme.account_id, issued_at=ISSUED)
    run(1)
    assert sorted(email.to for email in mailer.sent) == sorted(
        [acme.members["owner"].email, acme.members["admin"].email]
    )


def test_a_failed_email_leaves_the_stage_for_the_next_run(
    db: sa.Engine, acme: Tenant, run: Run, mailer: RecordingMailer
) -> None:
    invoice_id = make_open_invoice(db, acme.account_id, issued_at=ISSUED)
    mailer.failing = True

    stats = run(1)

    invoice = invoice_row(db, invoice_id)
    assert (invoice.status, invoice.reminder_stage) == ("open", 0)  # the whole step rolled back
    assert reminders(db) == [] and audit_rows(db, "invoice.dunning_stage") == []
    (failure,) = stats.failures
    assert failure["subject"] == f"invoice {invoice_id}" and "Unavailable" in failure["error"]

    mailer.failing = False
    stats = run(1.1)
    assert invoice_row(db, invoice_id).reminder_stage == 1 and len(mailer.sent) == 1 and len(reminders(db)) == 2
    assert stats.failures == []


def test_one_failing_invoice_does_not_hold_up_the_others(
    db: sa.Engine, acme: Tenant, run: Run, mailer: RecordingMailer
) -> None:
    globex = make_tenant(db, "Globex")
    set_billing_email(db, globex.account_id, "billing@globex.test")
    failing = make_open_invoice(db, acme.account_id, issued_at=ISSUED - timedelta(hours=1))
    fine = make_open_invoice(db, globex.account_id, issued_at=ISSUED)
    send = mailer.send

    def refuse_acme(email: Email) -> None:
        if email.to == "billing@acme.test":
            raise Unavailable("The mail service is unavailable.")
        send(email)

    mailer.send = refuse_acme  # type: ignore[method-assign]
    stats = run(1)
    assert invoice_row(db, failing).reminder_stage == 0 and invoice_row(db, fine).reminder_stage == 1
    assert len(stats.failures) == 1 and stats.counts["reminders_stage_1"] == 1


def test_paid_void_and_draft_invoices_are_never_chased(
    db: sa.Engine, acme: Tenant, run: Run, mailer: RecordingMailer
) -> None:
    ids = [make_open_invoice(db, acme.account_id, issued_at=ISSUED) for _ in range(3)]
    with Session(db) as session, session.begin():
        for invoice_id, status in zip(ids, ("paid", "void", "uncollectible"), strict=True):
            session.get_one(Invoice, invoice_id).status = status
    run(40)
    assert mailer.sent == [] and notification_rows(db) == [] and account_status(db, acme.account_id) == "active"


def test_an_invoice_paid_between_the_scan_and_its_step_is_skipped(db: sa.Engine, acme: Tenant) -> None:
    invoice_id = make_open_invoice(db, acme.account_id, issued_at=ISSUED)
    with Session(db) as session, session.begin():
        session.get_one(Invoice, invoice_id).status = "paid"
    with Session(db) as session, session.begin():
        outcome = dunning.process_invoice(
            session,
            invoice_id,
            plan=dunning.DunningPlan.from_settings(Settings()),
            now=DUE + timedelta(days=30),
            settings=Settings(),
            mailer=RecordingMailer(),
            credentials=registry.tenant_credentials,
            sftpgo=registry.sftpgo,
        )
    assert outcome is None and account_status(db, acme.account_id) == "active"


# --------------------------------------------------------------------------- suspension


def test_thirty_days_past_due_suspends_the_account_once(
    api: ApiClient, db: sa.Engine, acme: Tenant, run: Run, mailer: RecordingMailer
) -> None:
    key = create_key(api, acme).json
    invoice_id = make_open_invoice(db, acme.account_id, issued_at=ISSUED)
    run(14)

    stats = run(30)

    assert account_status(db, acme.account_id) == "suspended"
    assert stats.counts["accounts_suspended"] == 1 and stats.counts["emails_sent"] == 1
    assert invoice_row(db, invoice_id).reminder_stage == 4
    assert key_row(db, key["id"]).status == "disabled" and iam_key_status(key["access_key_id"]) == "Inactive"
    (entry,) = audit_rows(db, "account.suspend")
    assert entry.severity == "warning" and entry.actor_user_id is None and entry.account_id == acme.account_id
    assert entry.new_value is not None
    assert entry.new_value["cause"] == "nonpayment" and entry.new_value["invoice_id"] == str(invoice_id)
    assert entry.new_value["access_keys_disabled"] == 1
    suspended = notification_rows(db, type="account.suspended")
    assert {row.user_id for row in suspended} == {member.user_id for member in acme.members.values()}
    assert "suspended" in mailer.sent[-1].subject and mailer.sent[-1].to == "billing@acme.test"

    sent = len(mailer.sent)
    assert run(31).counts == {} and run(60).counts == {}
    assert len(mailer.sent) == sent and len(audit_rows(db, "account.suspend")) == 1


def test_a_run_after_a_long_pause_suspends_without_a_burst_of_reminders(
    db: sa.Engine, acme: Tenant, run: Run, mailer: RecordingMailer
) -> None:
    make_open_invoice(db, acme.account_id, issued_at=ISSUED)
    stats = run(45)
    assert account_status(db, acme.account_id) == "suspended"
    assert reminders(db) == [] and len(mailer.sent) == 1
    assert stats.counts["reminder_stages_skipped"] == 3


def test_staff_reactivation_is_not_undone_by_the_same_invoice(
    db: sa.Engine, acme: Tenant, run: Run, mailer: RecordingMailer
) -> None:
    make_open_invoice(db, acme.account_id, issued_at=ISSUED)
    run(30)
    with Session(db) as session, session.begin():
        suspension.reactivate_by_staff(
            session,
            Actor(),
            acme.account_id,
            "promised to pay",
            credentials=registry.tenant_credentials,
            sftpgo=registry.sftpgo,
        )
    run(31)
    assert account_status(db, acme.account_id) == "active"


def test_an_account_already_suspended_is_not_suspended_again(
    db: sa.Engine, acme: Tenant, run: Run, mailer: RecordingMailer
) -> None:
    invoice_id = make_open_invoice(db, acme.account_id, issued_at=ISSUED)
    with Session(db) as session, session.begin():
        suspension.suspend_by_staff(
            session, Actor(), acme.account_id, "abuse", credentials=registry.tenant_credentials, sftpgo=registry.sftpgo
        )
    stats = run(30)
    assert invoice_row(db, invoice_id).reminder_stage == 4 and "accounts_suspended" not in stats.counts
    assert len(audit_rows(db, "account.suspend")) == 1 and mailer.sent == []


def test_a_backend_failure_leaves_the_suspension_for_the_next_run(
    api: ApiClient, db: sa.Engine, acme: Tenant, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = create_key(api, acme, name="one").json, create_key(api, acme, name="two").json
    invoice_id = make_open_invoice(db, acme.account_id, issued_at=ISSUED)
    run(14)
    disable = AwsTenantCredentials.disable

    def fail_on_second(self: AwsTenantCredentials, access_key_id: str) -> None:
        if access_key_id == second["access_key_id"]:
            raise Unavailable("IAM failed UpdateAccessKey (Throttling).")
        disable(self, access_key_id)

    monkeypatch.setattr(AwsTenantCredentials, "disable", fail_on_second)
    stats = run(30)

    assert len(stats.failures) == 1
    assert account_status(db, acme.account_id) == "active" and invoice_row(db, invoice_id).reminder_stage == 3
    assert iam_key_status(first["access_key_id"]) == "Active" and key_row(db, first["id"]).status == "active"
    assert notification_rows(db, type="account.suspended") == [] and audit_rows(db, "account.suspend") == []

    monkeypatch.setattr(AwsTenantCredentials, "disable", disable)
    assert run(30.5).counts["accounts_suspended"] == 1
    assert {iam_key_status(key["access_key_id"]) for key in (first, second)} == {"Inactive"}


def test_a_failed_suspension_email_rolls_the_suspension_back(
    api: ApiClient, db: sa.Engine, acme: Tenant, run: Run, mailer: RecordingMailer
) -> None:
    key = create_key(api, acme).json
    make_open_invoice(db, acme.account_id, issued_at=ISSUED)
    run(14)
    mailer.failing = True
    assert len(run(30).failures) == 1
    assert account_status(db, acme.account_id) == "active" and iam_key_status(key["access_key_id"]) == "Active"


# --------------------------------------------------------------------------- reactivation after payment


def pay(engine: sa.Engine, invoice_id: uuid.UUID) -> None:
    with Session(engine) as session, session.begin():
        invoice = session.get_one(Invoice, invoice_id)
        invoice.status, invoice.amount_paid = "paid", invoice.total


def reactivate_after_payment(engine: sa.Engine, account_id: uuid.UUID, days: float) -> bool:
    with Session(engine) as session, session.begin():
        return suspension.reactivate_after_payment(
            session,
            account_id,
            actor=Actor.system("payment"),
            now=DUE + timedelta(days=days),
            credentials=registry.tenant_credentials,
            sftpgo=registry.sftpgo,
            settings=get_settings(),
        )


def test_payment_reactivates_only_when_no_other_invoice_is_past_the_grace_period(
    api: ApiClient, db: sa.Engine, acme: Tenant, run: Run
) -> None:
    key = create_key(api, acme).json
    first = make_open_invoice(db, acme.account_id, issued_at=ISSUED)
    second = make_open_invoice(db, acme.account_id, issued_at=ISSUED + timedelta(days=2))
    run(33)
    assert account_status(db, acme.account_id) == "suspended"

    pay(db, first)
    assert reactivate_after_payment(db, acme.account_id, 33.5) is False  # the second is 31.5 days late
    assert account_status(db, acme.account_id) == "suspended"

    pay(db, second)
    assert reactivate_after_payment(db, acme.account_id, 34) is True
    assert account_status(db, acme.account_id) == "active"
    assert iam_key_status(key["access_key_id"]) == "Active" and key_row(db, key["id"]).status == "active"
    (entry,) = audit_rows(db, "account.reactivate")
    assert entry.new_value is not None and entry.new_value["cause"] == "nonpayment"
    assert entry.new_value["access_keys_enabled"] == 1
    assert len(notification_rows(db, type="account.reactivated")) == 4
    assert reactivate_after_payment(db, acme.account_id, 35) is False  # nothing left to do


def test_a_younger_unpaid_invoice_does_not_block_reactivation(db: sa.Engine, acme: Tenant, run: Run) -> None:
    old = make_open_invoice(db, acme.account_id, issued_at=ISSUED)
    make_open_invoice(db, acme.account_id, issued_at=ISSUED + timedelta(days=20))
    run(30)
    pay(db, old)
    assert reactivate_after_payment(db, acme.account_id, 31) is True


def test_payment_does_not_lift_a_suspension_by_staff(db: sa.Engine, acme: Tenant) -> None:
    with Session(db) as session, session.begin():
        suspension.suspend_by_staff(
            session, Actor(), acme.account_id, "abuse", credentials=registry.tenant_credentials, sftpgo=registry.sftpgo
        )
    assert reactivate_after_payment(db, acme.account_id, 1) is False
    assert account_status(db, acme.account_id) == "suspended"


def test_reactivation_of_an_active_or_unknown_account_does_nothing(db: sa.Engine, acme: Tenant) -> None:
    assert reactivate_after_payment(db, acme.account_id, 1) is False
    assert reactivate_after_payment(db, uuid.uuid4(), 1) is False


# --------------------------------------------------------------------------- the job


def test_the_job_records_its_counts(db: sa.Engine, acme: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    from localrun.invoke import LocalLambda
    from localrun.template import load_template
    from primecloud import clock
    from tests.conftest import ROOT

    make_open_invoice(db, acme.account_id, issued_at=ISSUED)
    monkeypatch.setattr(clock, "now", lambda: DUE + timedelta(days=1))
    monkeypatch.setattr(dunning, "_send", lambda _mailer, recipients, _subject, _text: len(recipients))
    runtime = LocalLambda(load_template(ROOT / "template.yaml"))

    result = runtime.invoke("CheckOverdueFunction", {"trigger": "manual"})

    assert result["status"] == "succeeded", result
    assert result["stats"]["counts"] == {
        "invoices_checked": 1,
        "invoices_overdue": 1,
        "reminders_stage_1": 1,
        "emails_sent": 1,
        "notifications": 2,
    }
    with db.connect() as connection:
        stats = connection.execute(
            sa.text("SELECT stats FROM job_runs WHERE id = :id"), {"id": result["run_id"]}
        ).scalar_one()
    assert stats["counts"] == result["stats"]["counts"]
