"""Issuing an invoice: gapless number, dates, customer document (PDF + CSV in S3), notification, email, audit.

``issue()`` turns a draft invoice (rows flushed, totals set) into an open one inside the
caller's transaction; the caller commits. Numbers are gapless per year: the year's
``invoice_number_sequences`` row is bumped with ``INSERT ... ON CONFLICT DO UPDATE``, which
locks it until the transaction ends, so a concurrent issue waits and a rolled-back one gives
its number back. The documents are written before the commit and removed again (the very
versions written) when the transaction does not commit.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from primecloud.actor import Actor
from primecloud.adapters.email import Email, Mailer
from primecloud.compensation import undo_unless_committed
from primecloud.config import Settings
from primecloud.enums import DeliveryStatus, InvoiceStatus
from primecloud.errors import Conflict, Unavailable
from primecloud.models.billing import CustomerInvoice, Invoice, InvoiceLine, InvoiceNumberSequence
from primecloud.models.iam import Account
from primecloud.money import minor_units, round_money
from primecloud.observability import logger
from primecloud.services import audit, notifications

if TYPE_CHECKING:
    from fpdf import FPDF

    from primecloud.adapters.documents import DocumentStore, StoredDocument

SELLER_NAME = "PrimeCloud"
SYSTEM_ACTOR = Actor.system("invoicing")
PDF_CONTENT_TYPE = "application/pdf"
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"


# --------------------------------------------------------------------------- numbering


def next_invoice_number(session: Session, year: int) -> str:
    """The next gapless number of ``year``; the sequence row stays locked until the transaction ends."""
    statement = (
        insert(InvoiceNumberSequence)
        .values(year=year, last_number=1)
        .on_conflict_do_update(
            index_elements=[InvoiceNumberSequence.year],
            set_={"last_number": InvoiceNumberSequence.last_number + 1, "updated_at": func.now()},
        )
        .returning(InvoiceNumberSequence.last_number)
    )
    number = session.execute(statement).scalar_one()
    return format_number(year, number)


def format_number(year: int, number: int) -> str:
    return f"INV-{year}-{number:06d}"


# --------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class DocumentData:
    """Everything a rendered invoice shows, taken from the rows at issue."""

    number: str
    kind: str
    status: str
    currency: str
    issued_at: datetime
    due_at: datetime
    period_start: datetime | None
    period_end: datetime | None
    seller_name: str
    seller_contact: list[str]
    billing_name: str
    billing_email: str | None
    billing_address: list[str]
    lines: list[InvoiceLine]
    subtotal: Decimal
    tax: Decimal
    tax_rate: Decimal
    total: Decimal


def format_money(amount: Decimal, currency: str) -> str:
    """``1234.5`` EUR -> ``1,234.50`` (the currency's minor unit, half-up)."""
    return f"{round_money(amount, currency):,.{minor_units(currency)}f}"


def format_quantity(quantity: Decimal) -> str:
    """Without trailing zeros and never in exponent form: ``312.500000`` -> ``312.5``."""
    text = f"{quantity:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_unit_price(price: Decimal) -> str:
    """At least two decimals, more only where the price has them (per-GiB prices are sub-cent)."""
    normalized = price.normalize()
    places = max(2, -int(normalized.as_tuple().exponent))
    return f"{price:.{places}f}"


def format_rate(rate: Decimal) -> str:
    return format_quantity(rate * 100) + " %"


# The PDF's fonts ship in the layer (primecloud/fonts, licenses beside them; docs/billing.md): DejaVu
# Sans for Latin, Greek, Cyrillic, Arabic and Hebrew; WenQuanYi Micro Hei for what it lacks (CJK, Hangul).
FONTS_DIR = Path(__file__).resolve().parents[2] / "fonts"
PDF_FONT = "DejaVuSans"
FALLBACK_FONT = "WenQuanYiMicroHei"


def _document_text(data: DocumentData) -> Iterator[str]:
    """Every character a customer or an operator chose (the fixed labels are Latin)."""
    yield from (data.seller_name, data.billing_name, data.billing_email or "", data.number, data.currency)
    yield from data.seller_contact
    yield from data.billing_address
    yield from (line.description for line in data.lines)


def _new_pdf(data: DocumentData) -> FPDF:
    """An A4 document with the Unicode fonts, text shaping (Arabic joining, right to left) switched on."""
    from fpdf import FPDF
    from fpdf.fonts import TTFFont

    pdf = FPDF(format="A4")
    pdf.add_font(PDF_FONT, "", FONTS_DIR / "DejaVuSans.ttf")
    pdf.add_font(PDF_FONT, "B", FONTS_DIR / "DejaVuSans-Bold.ttf")
    # Loading the CJK font costs ~0.25 s: only for a document with characters DejaVu Sans (either weight) lacks.
    regular, bold = pdf.fonts[PDF_FONT.lower()], pdf.fonts[PDF_FONT.lower() + "B"]
    covered = (
        set(regular.cmap) & set(bold.cmap) if isinstance(regular, TTFFont) and isinstance(bold, TTFFont) else set()
    )
    if any(ord(char) not in covered for text in _document_text(data) for char in text if not char.isspace()):
        pdf.add_font(FALLBACK_FONT, "", FONTS_DIR / "wqy-microhei.ttc", collection_font_number=0)
        pdf.set_fallback_fonts([FALLBACK_FONT], exact_match=False)  # bold CJK is drawn regular
    pdf.set_text_shaping(True)
    return pdf


def _day(value: datetime) -> str:
    return value.strftime("%Y-%m-%d")


_COLUMN_WIDTHS = (90.0, 30.0, 35.0, 35.0)  # description, quantity, unit price, amount (mm; A4 minus margins)


def _text_line(pdf: Any, value: str, *, size: int = 10, style: str = "", height: float = 5) -> None:
    pdf.set_font(PDF_FONT, style=style, size=size)
    pdf.cell(0, height, value, new_x="LMARGIN", new_y="NEXT")


def _pdf_heading(pdf: Any, data: DocumentData) -> None:
    _text_line(pdf, data.seller_name, size=16, style="B", height=8)
    for contact in data.seller_contact:
        _text_line(pdf, contact, size=9, height=4)
    pdf.ln(6)
    _text_line(pdf, f"Invoice {data.number}", size=14, style="B", height=7)
    _text_line(pdf, f"Issued: {_day(data.issued_at)}    Due: {_day(data.due_at)}")
    if data.period_start and data.period_end:
        _text_line(pdf, f"Service period: {_day(data.period_start)} to {_day(data.period_end)}")
    if data.status == InvoiceStatus.PAID:
        _text_line(pdf, "Status: paid")
    pdf.ln(4)
    _text_line(pdf, "Bill to", style="B")
    _text_line(pdf, data.billing_name)
    for address_line in data.billing_address:
        _text_line(pdf, address_line)
    if data.billing_email:
        _text_line(pdf, data.billing_email)
    pdf.ln(6)


def _pdf_lines(pdf: Any, data: DocumentData) -> None:
    widths = _COLUMN_WIDTHS
    pdf.set_font(PDF_FONT, style="B", size=9)
    for width, title, align in zip(widths, ("Description", "Quantity", "Unit price", "Amount"), "LRRR", strict=True):
        pdf.cell(width, 7, title, border="B", align=align)
    pdf.ln()
    pdf.set_font(PDF_FONT, size=9)
    for line in data.lines:
        description = line.description
        figures = (
            format_quantity(line.quantity),
            format_unit_price(line.unit_price),
            format_money(line.amount, data.currency),
        )
        # A long description wraps; the row is as tall as its lines, and moves whole to the next page.
        row_height = 6 * len(pdf.multi_cell(widths[0], 6, description, align="L", dry_run=True, output="LINES"))
        if pdf.will_page_break(row_height):
            pdf.add_page()
        top = pdf.get_y()
        pdf.multi_cell(widths[0], 6, description, align="L", new_x="RIGHT", new_y="TOP")
        for width, value in zip(widths[1:], figures, strict=True):
            pdf.cell(width, 6, value, align="R")
        pdf.set_y(top + row_height)
    pdf.ln(2)


def _pdf_totals(pdf: Any, data: DocumentData) -> None:
    rows = (
        ("Subtotal", data.subtotal, ""),
        (f"Tax ({format_rate(data.tax_rate)})", data.tax, ""),
        ("Total", data.total, "B"),
    )
    for label, amount, style in rows:
        pdf.set_font(PDF_FONT, style=style, size=10)
        pdf.cell(sum(_COLUMN_WIDTHS[:3]), 6, label, align="R")
        pdf.cell(_COLUMN_WIDTHS[3], 6, f"{format_money(amount, data.currency)} {data.currency}", align="R")
        pdf.ln()
    pdf.ln(6)
    if data.status == InvoiceStatus.PAID:
        _text_line(pdf, "Nothing to pay: this invoice is settled.", size=9)
    else:
        due = f"{format_money(data.total, data.currency)} {data.currency}"
        _text_line(pdf, f"Please pay {due} by {_day(data.due_at)}.", size=9)


def render_pdf(data: DocumentData) -> bytes:
    """A one-invoice PDF: seller, customer, number and dates, lines, subtotal, tax with its rate, total."""
    pdf = _new_pdf(data)
    pdf.set_title(f"Invoice {data.number}")
    pdf.set_author(data.seller_name)
    pdf.set_creator(data.seller_name)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    _pdf_heading(pdf, data)
    _pdf_lines(pdf, data)
    _pdf_totals(pdf, data)
    return bytes(pdf.output())


def _csv_text(text: str) -> str:
    """Text a spreadsheet would run as a formula (=, +, -, @ first) is kept as text with a leading quote."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


CSV_HEADER = ("type", "position", "description", "metric", "quantity", "unit_price", "amount", "currency")


def render_csv(data: DocumentData) -> bytes:
    """One row per line, then subtotal, tax and total rows; amounts as exact decimal strings."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for line in data.lines:
        writer.writerow(
            (
                "line",
                line.position,
                _csv_text(line.description),
                line.metric or "",
                format_quantity(line.quantity),
                format_unit_price(line.unit_price),
                str(round_money(line.amount, data.currency)),
                data.currency,
            )
        )
    writer.writerow(("subtotal", "", "Subtotal", "", "", "", str(data.subtotal), data.currency))
    writer.writerow(("tax", "", f"Tax ({format_rate(data.tax_rate)})", "", "", "", str(data.tax), data.currency))
    writer.writerow(("total", "", "Total", "", "", "", str(data.total), data.currency))
    return buffer.getvalue().encode("utf-8")


def document_key(invoice: Invoice, extension: str) -> str:
    return f"invoices/{invoice.account_id}/{invoice.number}.{extension}"


# --------------------------------------------------------------------------- issuing


def billing_contact(session: Session, account: Account) -> str | None:
    """The one address an invoice document names: the first of the billing recipients."""
    recipients = notifications.billing_recipients(session, account)
    return recipients[0] if recipients else None


def _address_lines(address: Any) -> list[str]:
    if not isinstance(address, dict):
        return []
    keys = ("line1", "line2", "postal_code", "city", "state", "country", "vat_id")
    return [str(address[key]) for key in keys if address.get(key)]


def _check_totals(invoice: Invoice, lines: list[InvoiceLine]) -> None:
    """A draft whose totals don't match its lines is a bug in the caller, never something to issue."""
    line_sum = round_money(sum((line.amount for line in lines), Decimal(0)), invoice.currency)
    if line_sum != invoice.subtotal or invoice.subtotal + invoice.tax != invoice.total:
        raise ValueError(f"invoice {invoice.id}: totals do not match its lines")


def _invoice_email(data: DocumentData, account: Account, settings: Settings) -> str:
    amount = f"{format_money(data.total, data.currency)} {data.currency}"
    if data.status == InvoiceStatus.PAID:
        ask = "There is nothing to pay: this invoice is settled."
    else:
        ask = f"Please pay {amount} by {_day(data.due_at)}."
    link = f"{settings.public_base_url.rstrip('/')}/accounts/{account.id}/invoices"
    return (
        f"Hello {data.billing_name},\n\n"
        f"invoice {data.number} of {amount} for your PrimeCloud account {account.name} was issued on "
        f"{_day(data.issued_at)}.\n{ask}\n\n"
        f"The invoice (PDF and CSV) is in the console: {link}\n"
    )


def issue(
    session: Session,
    invoice: Invoice,
    *,
    now: datetime,
    storage: DocumentStore,
    mailer: Mailer,
    settings: Settings,
    actor: Actor | None = None,
) -> Invoice:
    """Issue a flushed draft invoice in the caller's transaction (see the module docstring).

    ``storage`` is where the documents go. ``actor`` defaults to the system. A failing document
    upload raises ``Unavailable`` (nothing is kept); a failing email only marks the customer
    invoice's delivery as failed.
    """
    actor = actor or SYSTEM_ACTOR
    if invoice.status != InvoiceStatus.DRAFT or invoice.number is not None:
        raise Conflict(f"Invoice {invoice.id} is not a draft.")
    account = session.get(Account, invoice.account_id)
    if account is None:
        raise ValueError(f"invoice {invoice.id} names no account")
    lines = list(
        session.scalars(
            select(InvoiceLine)
            .where(InvoiceLine.invoice_id == invoice.id)
            .order_by(InvoiceLine.position, InvoiceLine.created_at)
        )
    )
    _check_totals(invoice, lines)

    invoice.number = next_invoice_number(session, now.astimezone(UTC).year)  # the year of issue, in UTC
    invoice.issued_at = now
    invoice.due_at = now + timedelta(days=settings.invoice_net_days)
    if invoice.total == 0:
        invoice.status = InvoiceStatus.PAID.value
        invoice.paid_at = now
    else:
        invoice.status = InvoiceStatus.OPEN.value

    billing_email = billing_contact(session, account)
    billing_address = account.settings.get("billing_address", {}) if isinstance(account.settings, dict) else {}
    customer_invoice = CustomerInvoice(
        invoice_id=invoice.id,
        billing_name=account.name,
        billing_email=billing_email,
        billing_address=billing_address if isinstance(billing_address, dict) else {},
    )
    session.add(customer_invoice)
    session.flush()

    data = DocumentData(
        number=invoice.number,
        kind=invoice.kind,
        status=invoice.status,
        currency=invoice.currency,
        issued_at=now,
        due_at=invoice.due_at,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        seller_name=SELLER_NAME,
        seller_contact=[settings.public_base_url, settings.sender_email],
        billing_name=account.name,
        billing_email=billing_email,
        billing_address=_address_lines(customer_invoice.billing_address),
        lines=lines,
        subtotal=invoice.subtotal,
        tax=invoice.tax,
        tax_rate=account.tax_rate,
        total=invoice.total,
    )
    _store_documents(
        session,
        invoice=invoice,
        customer_invoice=customer_invoice,
        data=data,
        store=storage,
        settings=settings,
    )

    notification_ids = notifications.notify(
        session,
        account_id=account.id,
        roles=notifications.BILLING_ROLES,
        type="invoice.issued",
        title=f"Invoice {invoice.number} issued",
        body=(
            f"Invoice {invoice.number} of {format_money(invoice.total, invoice.currency)} {invoice.currency}"
            + (" is settled." if invoice.status == InvoiceStatus.PAID else f" is due on {_day(invoice.due_at)}.")
        ),
        data={
            "invoice_id": str(invoice.id),
            "number": invoice.number,
            "total": str(invoice.total),
            "currency": invoice.currency,
            "status": invoice.status,
        },
    )
    audit.record(
        session,
        actor,
        "invoice.issue",
        account_id=account.id,
        target_type="invoice",
        target_id=invoice.id,
        new={
            "number": invoice.number,
            "kind": invoice.kind,
            "status": invoice.status,
            "total": str(invoice.total),
            "currency": invoice.currency,
            "due_at": invoice.due_at.isoformat(),
        },
    )
    session.flush()

    if billing_email:
        try:
            mailer.send(
                Email(
                    to=billing_email,
                    subject=f"PrimeCloud invoice {invoice.number}",
                    text=_invoice_email(data, account, settings),
                )
            )
        except Unavailable:
            # The invoice stands (it is in the console); delivery shows as failed for a resend.
            logger.warning("invoice email not sent", extra={"invoice_id": str(invoice.id)})
            customer_invoice.delivery_status = DeliveryStatus.FAILED.value
        else:
            customer_invoice.delivery_status = DeliveryStatus.SENT.value
            customer_invoice.delivered_at = now
            notifications.mark_emailed(session, notification_ids, now)
    session.flush()
    return invoice


def _store_documents(
    session: Session,
    *,
    invoice: Invoice,
    customer_invoice: CustomerInvoice,
    data: DocumentData,
    store: DocumentStore,
    settings: Settings,
) -> None:
    bucket = settings.documents_bucket
    written: list[StoredDocument] = []

    def remove_written() -> None:
        for document in written:
            store.delete_document(document)

    compensation = undo_unless_committed(session, "invoice documents", remove_written)
    try:
        pdf_key, csv_key = document_key(invoice, "pdf"), document_key(invoice, "csv")
        written.append(store.put_document(bucket, pdf_key, render_pdf(data), content_type=PDF_CONTENT_TYPE))
        written.append(store.put_document(bucket, csv_key, render_csv(data), content_type=CSV_CONTENT_TYPE))
    except Exception:
        compensation()  # at once: the caller may catch this and carry on with the same transaction
        raise
    invoice.pdf_key = pdf_key
    customer_invoice.pdf_key = pdf_key
    customer_invoice.csv_key = csv_key
