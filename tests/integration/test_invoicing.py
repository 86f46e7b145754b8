"""invoicing.issue against PostgreSQL and moto S3/SES: numbering, dates, zero totals, documents, side effects."""

from __future__ import annotations

import csv
import io
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
import sqlalchemy as sa
from botocore.exceptions import ClientError
from pypdf import PdfReader
from sqlalchemy.orm import Session

from primecloud.adapters.documents import S3Documents, StoredDocument
from primecloud.adapters.email import Email
from primecloud.adapters.storage import PresignedRequest
from primecloud.config import Settings, get_settings
from primecloud.errors import Conflict, Unavailable
from primecloud.models.billing import CustomerInvoice, Invoice, InvoiceNumberSequence
from primecloud.models.system import AuditLog, Notification
from primecloud.services.billing import invoicing
from tests.factories import make_tenant
from tests.invoicing_factories import LineSpec, draft_invoice, set_tax_rate

NOW = datetime(2026, 3, 15, 10, 30, tzinfo=UTC)
LINES = [
    LineSpec("Storage - 312.5 GiB-months", Decimal("312.5"), Decimal("0.0199"), "storage_bytes"),  # 6.21875 -> 6.22
    LineSpec("VPS Small \u2014 first month", Decimal("1"), Decimal("4.99")),
    LineSpec("Egress 10.125 GiB", Decimal("10.125"), Decimal("0.05"), "egress_bytes"),  # 0.50625 -> 0.51
]


class RecordingMailer:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[Email] = []
        self.fail = fail

    def send(self, email: Email) -> None:
        if self.fail:
            raise Unavailable("The mail service is unavailable.")
        self.sent.append(email)


@pytest.fixture
def settings(aws_server: dict[str, str]) -> Settings:
    return Settings()


@pytest.fixture
def documents(aws_server: dict[str, str]) -> S3Documents:
    return S3Documents(region="us-east-1")


@pytest.fixture
def s3(aws_server: dict[str, str]) -> Any:
    return boto3.client("s3", endpoint_url=aws_server["AWS_ENDPOINT_URL"], region_name="us-east-1")


@pytest.fixture
def tenant(db: sa.Engine) -> Iterator[Any]:
    tenant = make_tenant(db, "Müller Hosting")
    set_tax_rate(db, tenant.account_id, "0.19", billing_email="billing@mueller.test")
    yield tenant


def _issue(
    engine: sa.Engine, account_id: uuid.UUID, lines: list[LineSpec], *, now: datetime = NOW, **kwargs: Any
) -> uuid.UUID:
    with Session(engine) as session, session.begin():
        invoice = draft_invoice(session, account_id, lines)
        invoicing.issue(session, invoice, now=now, **kwargs)
        return invoice.id


def test_issue_numbers_dates_snapshot_notification_audit_and_email(
    db: sa.Engine, tenant: Any, documents: S3Documents, settings: Settings
) -> None:
    mailer = RecordingMailer()
    first = _issue(db, tenant.account_id, LINES, storage=documents, mailer=mailer, settings=settings)
    second = _issue(db, tenant.account_id, LINES[:1], storage=documents, mailer=mailer, settings=settings)
    with Session(db) as session:
        invoice = session.get(Invoice, first)
        assert invoice is not None
        assert invoice.number == "INV-2026-000001"
        assert invoice.status == "open" and invoice.paid_at is None
        assert invoice.issued_at == NOW and invoice.due_at == NOW + timedelta(days=14)
        # 6.22 + 4.99 + 0.51 = 11.72; 19 % of it = 2.2268 -> 2.23; total 13.95
        assert (invoice.subtotal, invoice.tax, invoice.total) == (Decimal("11.72"), Decimal("2.23"), Decimal("13.95"))
        assert session.get(Invoice, second).number == "INV-2026-000002"  # type: ignore[union-attr]
        customer = session.scalar(sa.select(CustomerInvoice).where(CustomerInvoice.invoice_id == first))
        assert customer is not None
        assert (customer.billing_name, customer.billing_email) == ("Müller Hosting", "billing@mueller.test")
        assert customer.pdf_key == invoice.pdf_key == f"invoices/{tenant.account_id}/INV-2026-000001.pdf"
        assert customer.csv_key == f"invoices/{tenant.account_id}/INV-2026-000001.csv"
        assert customer.delivery_status == "sent" and customer.delivered_at == NOW
        notified = session.scalars(
            sa.select(Notification).where(Notification.data["invoice_id"].astext == str(first))
        ).all()
        # owners and admins see invoices, so they are the ones told
        assert {n.user_id for n in notified} == {tenant.members["owner"].user_id, tenant.members["admin"].user_id}
        assert all(n.type == "invoice.issued" and n.account_id == tenant.account_id for n in notified)
        assert all(n.data["total"] == "13.95" and n.emailed_at == NOW for n in notified)
        entry = session.scalar(sa.select(AuditLog).where(AuditLog.target_id == str(first)))
        assert entry is not None and entry.action == "invoice.issue" and entry.account_id == tenant.account_id
        assert entry.new_value is not None
        assert entry.new_value["number"] == "INV-2026-000001" and entry.new_value["total"] == "13.95"
    assert [mail.to for mail in mailer.sent] == ["billing@mueller.test"] * 2
    assert "INV-2026-000001" in mailer.sent[0].subject
    assert "13.95 EUR" in mailer.sent[0].text and "2026-03-29" in mailer.sent[0].text


def test_numbers_restart_each_year(db: sa.Engine, tenant: Any, documents: S3Documents) -> None:
    mailer = RecordingMailer()
    _issue(db, tenant.account_id, LINES, storage=documents, mailer=mailer, settings=get_settings())
    new_year = datetime(2027, 1, 1, 0, 0, 5, tzinfo=UTC)
    next_year_id = _issue(
        db, tenant.account_id, LINES, now=new_year, storage=documents, mailer=mailer, settings=get_settings()
    )
    with Session(db) as session:
        assert session.get(Invoice, next_year_id).number == "INV-2027-000001"  # type: ignore[union-attr]
        rows = session.execute(sa.select(InvoiceNumberSequence.year, InvoiceNumberSequence.last_number))
        years = {year: last for year, last in rows}
        assert years == {2026: 1, 2027: 1}


def test_concurrent_issues_get_distinct_gapless_numbers(db: sa.Engine, tenant: Any, documents: S3Documents) -> None:
    # Ten transactions issue at once; every third one rolls back after taking its number.
    workers = 10
    barrier = threading.Barrier(workers)
    committed: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(index: int) -> None:
        try:
            with Session(db) as session:
                invoice = draft_invoice(session, tenant.account_id, LINES[:1])
                barrier.wait(timeout=30)
                invoicing.issue(
                    session, invoice, now=NOW, storage=documents, mailer=RecordingMailer(), settings=get_settings()
                )
                if index % 3 == 0:
                    session.rollback()
                    return
                number = invoice.number
                session.commit()
                with lock:
                    committed.append(str(number))
        except BaseException as exc:  # reported below, a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    # Indexes 0, 3, 6, 9 rolled back: six commits, numbered 1..6 without a gap or a repeat.
    assert sorted(committed) == [f"INV-2026-{n:06d}" for n in range(1, 7)]
    with Session(db) as session:
        numbers = session.scalars(sa.select(Invoice.number).where(Invoice.number.is_not(None))).all()
        assert sorted(n for n in numbers if n is not None) == sorted(committed)
        assert (
            session.scalar(sa.select(InvoiceNumberSequence.last_number).where(InvoiceNumberSequence.year == 2026)) == 6
        )


def test_zero_total_is_issued_as_paid(db: sa.Engine, tenant: Any, documents: S3Documents, s3: Any) -> None:
    mailer = RecordingMailer()
    invoice_id = _issue(
        db,
        tenant.account_id,
        [LineSpec("Included storage", Decimal("3"), Decimal("0"))],
        storage=documents,
        mailer=mailer,
        settings=get_settings(),
    )
    with Session(db) as session:
        invoice = session.get(Invoice, invoice_id)
        assert invoice is not None
        assert invoice.status == "paid" and invoice.paid_at == NOW and invoice.total == Decimal("0.00")
        assert invoice.number == "INV-2026-000001"
        pdf_key = invoice.pdf_key
    body = s3.get_object(Bucket="primecloud-documents", Key=pdf_key)["Body"].read()
    assert body.startswith(b"%PDF")
    assert "nothing to pay" in mailer.sent[0].text.lower()


def test_documents_are_in_s3_and_add_up(db: sa.Engine, tenant: Any, documents: S3Documents, s3: Any) -> None:
    invoice_id = _issue(
        db, tenant.account_id, LINES, storage=documents, mailer=RecordingMailer(), settings=get_settings()
    )
    with Session(db) as session:
        customer = session.scalar(sa.select(CustomerInvoice).where(CustomerInvoice.invoice_id == invoice_id))
        assert customer is not None and customer.pdf_key and customer.csv_key
        pdf_key, csv_key = customer.pdf_key, customer.csv_key

    pdf = s3.get_object(Bucket="primecloud-documents", Key=pdf_key)
    assert pdf["ContentType"] == "application/pdf"
    pdf_bytes = pdf["Body"].read()
    assert pdf_bytes.startswith(b"%PDF-") and pdf_bytes.rstrip().endswith(b"%%EOF")
    assert b"INV-2026-000001" in pdf_bytes  # fpdf2 compresses page content; the title is in the info dict

    rows = list(csv.DictReader(io.StringIO(documents.get_document("primecloud-documents", csv_key).decode())))
    lines = [row for row in rows if row["type"] == "line"]
    totals = {row["type"]: Decimal(row["amount"]) for row in rows if row["type"] != "line"}
    assert [row["amount"] for row in lines] == ["6.22", "4.99", "0.51"]
    assert lines[1]["description"] == "VPS Small \u2014 first month"
    assert sum(Decimal(row["amount"]) for row in lines) == totals["subtotal"] == Decimal("11.72")
    assert totals["tax"] == Decimal("2.23") and rows[-2]["description"] == "Tax (19 %)"
    assert totals["subtotal"] + totals["tax"] == totals["total"] == Decimal("13.95")
    assert all(row["currency"] == "EUR" for row in rows)


def test_pdf_text_shows_the_invoice(db: sa.Engine, tenant: Any) -> None:
    with Session(db) as session:
        invoice = draft_invoice(session, tenant.account_id, LINES)
        data = invoicing.DocumentData(
            number="INV-2026-000042",
            kind="order",
            status="open",
            currency="EUR",
            issued_at=NOW,
            due_at=NOW + timedelta(days=14),
            period_start=None,
            period_end=None,
            seller_name="PrimeCloud",
            seller_contact=["https://primecloud.example"],
            billing_name="Müller Hosting",
            billing_email="billing@mueller.test",
            billing_address=["Hauptstr. 1", "Berlin"],
            lines=list(invoice.lines),
            subtotal=invoice.subtotal,
            tax=invoice.tax,
            tax_rate=Decimal("0.19"),
            total=invoice.total,
        )
        pdf = invoicing.render_pdf(data)
        session.rollback()
    # The fonts are embedded subsets (glyph ids in the page), so the text is read back as a viewer would.
    page_text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    for text in (
        "PrimeCloud",
        "Invoice INV-2026-000042",
        "Issued: 2026-03-15",
        "Due: 2026-03-29",
        "M\u00fcller Hosting",
        "VPS Small \u2014 first month",
        "312.5",
        "0.0199",
        "6.22",
        "Subtotal",
        "11.72 EUR",
        "Tax (19 %)",
        "2.23 EUR",
        "13.95 EUR",
    ):
        assert text in page_text, text


def test_rollback_removes_the_documents(db: sa.Engine, tenant: Any, documents: S3Documents, s3: Any) -> None:
    with Session(db) as session:
        invoice = draft_invoice(session, tenant.account_id, LINES)
        invoicing.issue(session, invoice, now=NOW, storage=documents, mailer=RecordingMailer(), settings=get_settings())
        pdf_key = invoice.pdf_key
        assert s3.get_object(Bucket="primecloud-documents", Key=pdf_key)["Body"].read().startswith(b"%PDF")
        session.rollback()
    with pytest.raises(ClientError):
        s3.get_object(Bucket="primecloud-documents", Key=pdf_key)
    with Session(db) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 0
        # the number went back too: the next issue is 000001 again
    again = _issue(db, tenant.account_id, LINES, storage=documents, mailer=RecordingMailer(), settings=get_settings())
    with Session(db) as session:
        assert session.get(Invoice, again).number == "INV-2026-000001"  # type: ignore[union-attr]


class FailingCsvStore:
    """Stores the PDF, then fails on the CSV as an S3 outage would."""

    def __init__(self, inner: S3Documents) -> None:
        self.inner = inner
        self.deleted: list[StoredDocument] = []

    def put_document(self, bucket: str, key: str, body: bytes, *, content_type: str) -> StoredDocument:
        if key.endswith(".csv"):
            raise Unavailable("The storage backend failed PutObject (InternalError).")
        return self.inner.put_document(bucket, key, body, content_type=content_type)

    def get_document(self, bucket: str, key: str) -> bytes:
        return self.inner.get_document(bucket, key)

    def delete_document(self, document: StoredDocument) -> None:
        self.deleted.append(document)
        self.inner.delete_document(document)

    def presign_document(self, bucket: str, key: str, *, filename: str, expires_in: int = 300) -> PresignedRequest:
        return self.inner.presign_document(bucket, key, filename=filename, expires_in=expires_in)


def test_failed_upload_is_unavailable_and_leaves_nothing(
    db: sa.Engine, tenant: Any, documents: S3Documents, s3: Any
) -> None:
    store = FailingCsvStore(documents)
    with Session(db) as session:
        invoice = draft_invoice(session, tenant.account_id, LINES)
        with pytest.raises(Unavailable):
            invoicing.issue(session, invoice, now=NOW, storage=store, mailer=RecordingMailer(), settings=get_settings())
        session.rollback()
    assert [document.key for document in store.deleted] == [f"invoices/{tenant.account_id}/INV-2026-000001.pdf"]
    with pytest.raises(ClientError):
        s3.get_object(Bucket="primecloud-documents", Key=store.deleted[0].key)
    with Session(db) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 0
        assert session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 0


def test_failed_email_keeps_the_invoice_and_marks_delivery_failed(
    db: sa.Engine, tenant: Any, documents: S3Documents
) -> None:
    invoice_id = _issue(
        db, tenant.account_id, LINES, storage=documents, mailer=RecordingMailer(fail=True), settings=get_settings()
    )
    with Session(db) as session:
        assert session.get(Invoice, invoice_id).status == "open"  # type: ignore[union-attr]
        customer = session.scalar(sa.select(CustomerInvoice).where(CustomerInvoice.invoice_id == invoice_id))
        assert customer is not None and customer.delivery_status == "failed" and customer.delivered_at is None


def test_email_goes_through_ses_to_the_owner_without_billing_email(db: sa.Engine, documents: S3Documents) -> None:
    from moto.ses.models import ses_backends

    from primecloud.adapters.email import default_mailer

    other = make_tenant(db, "No Billing Mail Ltd")
    sent_before = len(ses_backends["123456789012"]["us-east-1"].sent_messages)
    _issue(db, other.account_id, LINES, storage=documents, mailer=default_mailer(), settings=get_settings())
    sent = ses_backends["123456789012"]["us-east-1"].sent_messages[sent_before:]
    assert len(sent) == 1
    assert sent[0].destinations["ToAddresses"] == [other.members["owner"].email]
    assert "INV-2026-000001" in sent[0].subject


def test_issuing_twice_is_a_conflict(db: sa.Engine, tenant: Any, documents: S3Documents) -> None:
    with Session(db) as session:
        invoice = draft_invoice(session, tenant.account_id, LINES)
        invoicing.issue(session, invoice, now=NOW, storage=documents, mailer=RecordingMailer(), settings=get_settings())
        with pytest.raises(Conflict):
            invoicing.issue(
                session, invoice, now=NOW, storage=documents, mailer=RecordingMailer(), settings=get_settings()
            )
        session.rollback()


def test_totals_not_matching_lines_are_refused(db: sa.Engine, tenant: Any, documents: S3Documents) -> None:
    with Session(db) as session:
        invoice = draft_invoice(session, tenant.account_id, LINES)
        invoice.total += Decimal("0.01")
        with pytest.raises(ValueError, match="totals"):
            invoicing.issue(
                session, invoice, now=NOW, storage=documents, mailer=RecordingMailer(), settings=get_settings()
            )
        session.rollback()


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("312.500000"), "312.5"),
        (Decimal("1.000000"), "1"),
        (Decimal("0.000100"), "0.0001"),
        (Decimal("10"), "10"),
    ],
)
def test_format_quantity(value: Decimal, text: str) -> None:
    assert invoicing.format_quantity(value) == text


def test_format_money_and_unit_price() -> None:
    assert invoicing.format_money(Decimal("1234.5"), "EUR") == "1,234.50"
    assert invoicing.format_money(Decimal("0.125"), "EUR") == "0.13"
    assert invoicing.format_unit_price(Decimal("0.01990000")) == "0.0199"
    assert invoicing.format_unit_price(Decimal("9.99000000")) == "9.99"
    assert invoicing.format_unit_price(Decimal("5")) == "5.00"


def test_demo_seed_adds_the_vps_plans_once(db: sa.Engine) -> None:
    from localrun.seed import DEMO_VPS_PLANS, seed_vps_plans
    from primecloud.models.billing import VpsConfig

    for _ in range(2):
        with Session(db) as session, session.begin():
            seed_vps_plans(session)
    with Session(db) as session:
        plans = session.scalars(sa.select(VpsConfig).order_by(VpsConfig.price_monthly)).all()
        assert [(plan.name, plan.price_monthly, plan.is_active) for plan in plans] == [
            (name, Decimal(monthly), True) for name, *_, monthly, _hourly in DEMO_VPS_PLANS
        ]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (datetime(2026, 1, 31, 9, 0, tzinfo=UTC), datetime(2026, 2, 28, 9, 0, tzinfo=UTC)),
        (datetime(2028, 1, 31, 9, 0, tzinfo=UTC), datetime(2028, 2, 29, 9, 0, tzinfo=UTC)),
        (datetime(2026, 12, 15, 23, 59, tzinfo=UTC), datetime(2027, 1, 15, 23, 59, tzinfo=UTC)),
        (datetime(2026, 3, 15, 10, 30, tzinfo=UTC), datetime(2026, 4, 15, 10, 30, tzinfo=UTC)),
    ],
)
def test_a_subscription_period_is_one_calendar_month(start: datetime, end: datetime) -> None:
    from primecloud.services.billing.subscription_terms import add_month

    assert add_month(start) == end


def test_csv_keeps_formula_like_descriptions_as_text(db: sa.Engine, tenant: Any, documents: S3Documents) -> None:
    invoice_id = _issue(
        db,
        tenant.account_id,
        [LineSpec('=HYPERLINK("http://evil")', Decimal("1"), Decimal("1.00"))],
        storage=documents,
        mailer=RecordingMailer(),
        settings=get_settings(),
    )
    with Session(db) as session:
        customer = session.scalar(sa.select(CustomerInvoice).where(CustomerInvoice.invoice_id == invoice_id))
        assert customer is not None and customer.csv_key
        csv_key = customer.csv_key
    rows = list(csv.DictReader(io.StringIO(documents.get_document("primecloud-documents", csv_key).decode())))
    assert rows[0]["description"] == '\'=HYPERLINK("http://evil")'
