"""run_billing against a month computed by hand (tests/fixtures/billing_month.py): the invoice to the cent,
idempotent re-runs, concurrent runs, a failing account, and no float in the money path."""

from __future__ import annotations

import re
import threading
import typing
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from localrun.invoke import LocalLambda
from localrun.template import load_template
from primecloud import clock, money
from primecloud.adapters.email import Email
from primecloud.jobs import JobStats
from primecloud.models.billing import CustomerInvoice, Invoice, Subscription, UsageRecord
from primecloud.models.system import AuditLog, JobRun, Notification
from primecloud.services.billing import aggregation, drafts, rating
from tests.factories import make_account, make_user
from tests.fixtures.billing_month import (
    BILLED_ROWS,
    EXPECTED_LINES,
    EXPECTED_SUBTOTAL,
    EXPECTED_TAX,
    EXPECTED_TOTAL,
    GIB,
    PERIOD,
    PERIOD_END,
    PERIOD_START,
    hour,
    hourly,
    make_billing_month,
    seed_prices,
)
from tests.invoicing_factories import run_billing

ROOT = Path(__file__).resolve().parents[2]
RUN_AT = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)  # the monthly schedule: the 1st, 02:00 UTC


class RecordingMailer:
    def __init__(self) -> None:
        self.sent: list[Email] = []
        self.lock = threading.Lock()

    def send(self, email: Email) -> None:
        with self.lock:
            self.sent.append(email)


@pytest.fixture
def at_run_time(monkeypatch: pytest.MonkeyPatch) -> datetime:
    monkeypatch.setattr(clock, "now", lambda: RUN_AT)
    return RUN_AT


@pytest.fixture(scope="module")
def runtime(database_url: str, aws_server: dict[str, str]) -> LocalLambda:
    return LocalLambda(load_template(ROOT / "template.yaml"))


@pytest.fixture
def priced(db: sa.Engine) -> Iterator[None]:
    with Session(db) as session, session.begin():
        seed_prices(session)
    yield


def invoices(engine: sa.Engine) -> list[Invoice]:
    with Session(engine) as session:
        rows = session.scalars(sa.select(Invoice).order_by(Invoice.number)).all()
        for invoice in rows:
            _ = invoice.lines  # loaded while the session is open
        return list(rows)


def snapshot(engine: sa.Engine) -> dict[str, Any]:
    """Everything billing writes, to compare before and after a re-run."""
    with engine.connect() as connection:
        return {
            table: sorted(map(tuple, connection.execute(sa.text(query))))
            for table, query in {
                "invoices": "SELECT id, number, status, subtotal, tax, total, issued_at FROM invoices",
                "lines": "SELECT id, invoice_id, position, quantity, amount FROM invoice_lines",
                "customer_invoices": "SELECT id, invoice_id FROM customer_invoices",
                "sequences": "SELECT year, last_number FROM invoice_number_sequences",
                "marked": "SELECT invoice_id, count(*) FROM usage_records WHERE invoice_id IS NOT NULL GROUP BY 1",
                "notifications": "SELECT id FROM notifications",
                "audit": "SELECT id FROM audit_logs",
            }.items()
        }


def test_the_hand_computed_month_is_invoiced_to_the_cent(
    db: sa.Engine, runtime: LocalLambda, at_run_time: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the month of tests/fixtures/billing_month.py (see its comments for the arithmetic)
    month = make_billing_month(db)
    # when the monthly schedule fires on Nov 1 (no params: the previous calendar month)
    result = runtime.invoke("RunBillingFunction", {"detail-type": "Scheduled Event", "source": "aws.scheduler"})
    assert result["status"] == "succeeded", result
    assert result["stats"]["period"] == PERIOD
    assert result["stats"]["counts"] == {
        "accounts_billed": 1,
        "accounts_skipped": 0,
        "accounts_failed": 0,
        "invoice_lines": 5,
    }
    assert result["stats"]["total_amount"] == {"EUR": "133.35"}
    assert result["stats"]["unpriced_metrics"] == ["ingress_bytes"]

    # then one open usage invoice with exactly the hand-computed lines and totals
    [invoice] = invoices(db)
    assert (invoice.account_id, invoice.kind, invoice.status, invoice.currency) == (
        month.account_id,
        "usage",
        "open",
        "EUR",
    )
    assert (invoice.period_start, invoice.period_end) == (PERIOD_START, PERIOD_END)
    assert invoice.number == "INV-2026-000001"
    assert invoice.issued_at == RUN_AT and invoice.due_at == RUN_AT + timedelta(days=14)
    assert [(line.position, line.metric, line.quantity, line.amount) for line in invoice.lines] == [
        (position, expected.metric, expected.quantity, expected.amount)
        for position, expected in enumerate(EXPECTED_LINES, start=1)
    ]
    for line, expected in zip(invoice.lines, EXPECTED_LINES, strict=True):
        for fragment in expected.description_has:
            assert fragment in line.description, (fragment, line.description)
    storage_line = invoice.lines[0]
    assert storage_line.description.startswith(
        "Object storage: 195.903226 GiB-months = time-weighted average of 1087 hourly samples over 744 h"
    )
    assert "price of 2026-10-15" in storage_line.description  # the version in force at the period end
    # with tiers or an included quantity the unit price is the average price of a unit
    assert storage_line.unit_price == (Decimal("4.65") / Decimal("195.903226")).quantize(
        Decimal("0.00000001"), rounding=ROUND_HALF_UP
    )
    assert invoice.lines[1].unit_price == Decimal("0.05")  # flat price: the price itself
    assert invoice.lines[4].unit_price == Decimal("12.99")
    assert (invoice.subtotal, invoice.tax, invoice.total) == (EXPECTED_SUBTOTAL, EXPECTED_TAX, EXPECTED_TOTAL)

    with Session(db) as session:
        # the billed usage rows name their invoice; unpriced and informational rows and other months do not
        marked = session.scalar(sa.select(sa.func.count()).where(UsageRecord.invoice_id == invoice.id))
        assert marked == BILLED_ROWS
        unmarked = dict(
            session.execute(
                sa.select(UsageRecord.metric, sa.func.count())
                .where(UsageRecord.invoice_id.is_(None))
                .group_by(UsageRecord.metric)
            ).all()
        )
        assert unmarked == {"ingress_bytes": 744, "object_count": 744, "storage_bytes": 1, "egress_bytes": 1}
        # issued through invoicing.issue: the document, the notification, the audit entry
        customer_invoice = session.scalars(sa.select(CustomerInvoice)).one()
        assert customer_invoice.pdf_key and customer_invoice.csv_key
        assert (
            session.execute(sa.select(sa.func.count()).where(Notification.type == "invoice.issued")).scalar_one() >= 1
        )
        assert session.scalar(sa.select(sa.func.count()).where(AuditLog.action == "invoice.issue")) == 1
        run = session.scalars(sa.select(JobRun)).one()
        assert run.job == "run_billing" and run.trigger == "schedule" and run.status == "succeeded"
        assert run.stats["counts"]["accounts_billed"] == 1


def test_rerunning_the_period_changes_nothing(db: sa.Engine, at_run_time: datetime) -> None:
    make_billing_month(db)
    first = run_billing(PERIOD_START, PERIOD_END, now=RUN_AT, mailer=RecordingMailer())
    assert first.counts["accounts_billed"] == 1
    before = snapshot(db)

    second = run_billing(PERIOD_START, PERIOD_END, now=RUN_AT + timedelta(hours=1), mailer=RecordingMailer())

    assert second.counts == {"accounts_billed": 0, "accounts_skipped": 1, "accounts_failed": 0}
    assert second.details["total_amount"] == {}
    assert snapshot(db) == before


def _usage_account(engine: sa.Engine, gib: int, *, tax_rate: str = "0") -> uuid.UUID:
    with Session(engine, expire_on_commit=False) as session, session.begin():
        account = make_account(session, make_user(session), name=f"Tenant {gib}")
        account.tax_rate = Decimal(tax_rate)
        hourly(session, account.id, None, "sftp_storage_bytes", gib * Decimal(GIB), hours=(hour(0), hour(743)))
        return account.id


def test_two_runs_started_at_once_make_one_invoice_per_account(db: sa.Engine, priced: None) -> None:
    accounts = [_usage_account(db, gib) for gib in (10, 20, 30, 40)]
    barrier = threading.Barrier(2)
    results: list[JobStats] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            # straight into run_billing, past the job's advisory lock: per-account safety on its own
            results.append(run_billing(PERIOD_START, PERIOD_END, now=RUN_AT, mailer=RecordingMailer()))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors

    issued = invoices(db)
    assert sorted(invoice.account_id for invoice in issued) == sorted(accounts)
    assert [invoice.number for invoice in issued] == [f"INV-2026-00000{n}" for n in range(1, 5)]  # gapless
    assert sum(r.counts["accounts_billed"] for r in results) == 4
    assert sum(r.counts["accounts_skipped"] for r in results) == 4
    assert all(r.counts["accounts_failed"] == 0 for r in results)
    # 10 GiB-months x 0.05 = 0.50 ... 40 x 0.05 = 2.00 (no tax)
    assert sorted(invoice.total for invoice in issued) == [
        Decimal("0.50"),
        Decimal("1.00"),
        Decimal("1.50"),
        Decimal("2.00"),
    ]


def test_two_job_invocations_at_once_run_once(db: sa.Engine, runtime: LocalLambda, priced: None) -> None:
    accounts = [_usage_account(db, gib) for gib in (1, 2)]
    barrier = threading.Barrier(2)
    answers: list[dict[str, Any]] = []

    def invoke() -> None:
        barrier.wait()
        answers.append(runtime.invoke("RunBillingFunction", {"trigger": "manual", "params": {"period": PERIOD}}))

    threads = [threading.Thread(target=invoke) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(answers) == 2
    assert sorted(invoice.account_id for invoice in invoices(db)) == sorted(accounts)
    billed = sum(a.get("stats", {}).get("counts", {}).get("accounts_billed", 0) for a in answers)
    assert billed == 2  # a second run either was refused (skipped) or found every invoice made


def test_one_failing_account_does_not_stop_the_others(db: sa.Engine, priced: None) -> None:
    good = _usage_account(db, 10)
    broken = _usage_account(db, 20)
    with Session(db) as session, session.begin():
        # a subscription in another currency than its account cannot go on the account's invoice
        session.add(
            Subscription(
                account_id=broken,
                product="vps",
                status="active",
                price=Decimal("5"),
                currency="USD",
                current_period_start=PERIOD_START,
                current_period_end=PERIOD_END,
            )
        )
    run = run_billing(PERIOD_START, PERIOD_END, now=RUN_AT, mailer=RecordingMailer())
    assert run.counts == {"accounts_billed": 1, "accounts_skipped": 0, "accounts_failed": 1, "invoice_lines": 1}
    assert [failure["subject"] for failure in run.failures] == [str(broken)]
    assert "USD" in run.failures[0]["error"]
    [invoice] = invoices(db)
    assert invoice.account_id == good
    with Session(db) as session:  # the failed account's transaction left nothing behind
        assert session.scalar(sa.select(sa.func.count()).where(UsageRecord.invoice_id.is_not(None))) == 744


def test_a_manual_run_names_its_period_and_a_bad_period_fails_the_run(db: sa.Engine, runtime: LocalLambda) -> None:
    ok = runtime.invoke("RunBillingFunction", {"trigger": "manual", "params": {"period": "2026-09"}})
    assert ok["status"] == "succeeded" and ok["stats"]["period"] == "2026-09"
    bad = runtime.invoke("RunBillingFunction", {"trigger": "manual", "params": {"period": "September"}})
    assert bad["status"] == "failed"
    running = runtime.invoke("RunBillingFunction", {"trigger": "manual", "params": {"period": "2099-01"}})
    assert running["status"] == "failed"
    with Session(db) as session:
        failed = session.get_one(JobRun, uuid.UUID(bad["run_id"]))
        assert failed.error and "not a month like 2026-10" in failed.error
        not_over = session.get_one(JobRun, uuid.UUID(running["run_id"]))
        assert not_over.error and "has not ended yet" in not_over.error
        assert session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 0


def test_subscription_only_zero_and_informational_accounts(db: sa.Engine, priced: None) -> None:
    with Session(db, expire_on_commit=False) as session, session.begin():
        owner = make_user(session)
        subscribed = make_account(session, owner, name="Only a VPS")
        session.add(
            Subscription(
                account_id=subscribed.id,
                product="vps",
                status="past_due",
                price=Decimal("7.50"),
                currency="EUR",
                current_period_start=datetime(2026, 9, 5, tzinfo=UTC),
                current_period_end=datetime(2026, 10, 5, tzinfo=UTC),
            )
        )
        free = make_account(session, owner, name="Within the included egress")
        hourly(session, free.id, None, "egress_bytes", Decimal(GIB), hours=(hour(0), hour(9)))  # 10 GiB < 100 included
        counted = make_account(session, owner, name="Only object counts")
        hourly(session, counted.id, None, "object_count", 5, hours=(hour(0), hour(743)))
        later = make_account(session, owner, name="Subscribed in November")
        session.add(
            Subscription(
                account_id=later.id,
                product="vps",
                status="active",
                price=Decimal("7.50"),
                currency="EUR",
                current_period_start=PERIOD_END,
                current_period_end=PERIOD_END + timedelta(days=30),
            )
        )
    run = run_billing(PERIOD_START, PERIOD_END, now=RUN_AT, mailer=RecordingMailer())
    # object counts alone and a subscription starting after the period put nobody on the list
    assert (run.counts["accounts_billed"], run.counts["accounts_skipped"]) == (2, 0)
    by_account = {invoice.account_id: invoice for invoice in invoices(db)}
    assert set(by_account) == {subscribed.id, free.id}
    assert [(line.metric, line.amount) for line in by_account[subscribed.id].lines] == [(None, Decimal("7.50"))]
    zero = by_account[free.id]
    assert zero.total == Decimal("0.00") and zero.status == "paid" and zero.paid_at == RUN_AT  # issued as paid
    assert "10 GiB included" in zero.lines[0].description


# --------------------------------------------------------------------------- no float in money paths

MONEY_PATH_MODULES = [
    "money.py",
    "services/billing/periods.py",
    "services/billing/aggregation.py",
    "services/billing/drafts.py",
    "services/billing/monthly_run.py",
    "services/billing/upcoming.py",
    "services/billing/rating.py",
    "services/billing/pricing.py",
    "services/billing/invoicing.py",
]


def test_a_float_is_refused_in_money_arithmetic() -> None:
    with pytest.raises(TypeError, match="never float"):
        money.as_decimal(0.1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        money.round_money(1.005, "EUR")  # type: ignore[arg-type]
    price = rating.Price(
        metric="egress_bytes",
        unit="GiB",
        unit_size=Decimal(GIB),
        unit_price=Decimal("0.09"),
        currency="EUR",
        included_quantity=Decimal(0),
        tiers=(),
        effective_from=PERIOD_START,
    )
    with pytest.raises(TypeError):
        rating.rate(2.5, price)  # type: ignore[arg-type]
    assert rating.rate(Decimal("2.5"), price).amount == Decimal("0.23")  # 0.225 half-up


def test_rating_and_billing_are_typed_decimal() -> None:
    hints = typing.get_type_hints(rating.rate)
    assert hints["units"] is Decimal and hints["return"] is rating.Rated
    for cls in (rating.Rated, rating.TierCharge, rating.Tier, drafts.DraftLine, aggregation.MetricUsage):
        for name, hint in typing.get_type_hints(cls).items():
            assert hint is not float and "float" not in str(hint), (cls, name, hint)


@pytest.mark.parametrize("module", MONEY_PATH_MODULES)
def test_money_path_modules_never_make_a_float(module: str) -> None:
    source = (ROOT / "layers" / "common" / "primecloud" / module).read_text()
    assert not re.search(r"\bfloat\s*\(", source), f"{module} converts to float"
    assert not re.search(r"\d\.\d+e[-+]?\d", source), f"{module} has a float literal in scientific notation"
