"""Reading invoices: the account's list, one invoice with its lines, a presigned link to its document.

Customers see issued invoices only; a draft (billing still working on it) is not theirs to see
yet and answers 404 like an invoice of another account.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

from sqlalchemy import ColumnElement, Row, ScalarSelect, Text, and_, cast, func, literal_column, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from primecloud.config import Settings
from primecloud.enums import InvoiceStatus
from primecloud.errors import Conflict, NotFound
from primecloud.models.billing import CustomerInvoice, Invoice, InvoiceLine, Transaction
from primecloud.models.iam import Account
from primecloud.pagination import paginate
from primecloud.schemas.common import Page
from primecloud.schemas.invoices import (
    InvoiceDetail,
    InvoiceDocumentLink,
    InvoiceLineOut,
    InvoicePaymentOut,
    InvoiceSummary,
)

if TYPE_CHECKING:
    from primecloud.adapters.documents import DocumentStore

DocumentFormat = Literal["pdf", "csv"]
_SETTLED = (InvoiceStatus.PAID.value, InvoiceStatus.VOID.value)


def balance_due(invoice: Invoice | Row[Any]) -> Decimal:
    """What is still owed: nothing on a paid or void invoice."""
    if invoice.status in _SETTLED:
        return Decimal("0.00")
    return invoice.total - invoice.amount_paid


# What a summary reads: summary() takes an Invoice or a row of these columns.
_SUMMARY_COLUMNS = (
    Invoice.id,
    Invoice.number,
    Invoice.kind,
    Invoice.status,
    Invoice.currency,
    Invoice.subtotal,
    Invoice.tax,
    Invoice.total,
    Invoice.amount_paid,
    Invoice.period_start,
    Invoice.period_end,
    Invoice.order_id,
    Invoice.issued_at,
    Invoice.due_at,
    Invoice.paid_at,
    Invoice.created_at,
)


def summary(invoice: Invoice | Row[Any]) -> InvoiceSummary:
    return InvoiceSummary(
        id=invoice.id,
        number=invoice.number,
        kind=invoice.kind,
        status=invoice.status,
        currency=invoice.currency,
        subtotal=invoice.subtotal,
        tax=invoice.tax,
        total=invoice.total,
        amount_paid=invoice.amount_paid,
        balance_due=balance_due(invoice),
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        order_id=invoice.order_id,
        issued_at=invoice.issued_at,
        due_at=invoice.due_at,
        paid_at=invoice.paid_at,
        created_at=invoice.created_at,
    )


def _issued(account: Account) -> ColumnElement[bool]:
    return and_(Invoice.account_id == account.id, Invoice.status != InvoiceStatus.DRAFT.value)


def list_invoices(
    session: Session, account: Account, *, status: InvoiceStatus | None, limit: int, cursor: str | None
) -> Page[InvoiceSummary]:
    """Newest first (by creation), optionally only one status."""
    # Plain columns, not entities: no ORM objects to build for a page of 100.
    statement = select(*_SUMMARY_COLUMNS).where(_issued(account))
    if status is not None:
        statement = statement.where(Invoice.status == status.value)
    return paginate(
        session,
        statement,
        keys=[Invoice.created_at, Invoice.id],
        limit=limit,
        cursor=cursor,
        to_item=summary,
        rows=True,
    )


def _get(session: Session, account: Account, invoice_id: UUID) -> Invoice:
    invoice = session.scalar(select(Invoice).where(Invoice.id == invoice_id, _issued(account)))
    if invoice is None:
        raise NotFound("No such invoice.")
    return invoice


def _customer_invoice(session: Session, invoice_id: UUID) -> CustomerInvoice | None:
    return session.scalar(select(CustomerInvoice).where(CustomerInvoice.invoice_id == invoice_id))


def _payments_json() -> ScalarSelect[Any]:
    """The invoice's payments as one JSON array, oldest first (amounts as text: never a float)."""
    payment = func.jsonb_build_object(
        "id",
        Transaction.id,
        "amount",
        cast(Transaction.amount, Text),
        "currency",
        Transaction.currency,
        "gateway",
        Transaction.gateway,
        "status",
        Transaction.status,
        "created_at",
        Transaction.created_at,
    )
    ordered = aggregate_order_by(payment, Transaction.created_at, Transaction.id)
    return (
        select(func.coalesce(func.jsonb_agg(ordered), literal_column("'[]'::jsonb")))
        .where(Transaction.invoice_id == Invoice.id)
        .scalar_subquery()
    )


def get_invoice(session: Session, account: Account, invoice_id: UUID) -> InvoiceDetail:
    """The invoice with its customer snapshot and payments in one statement, its lines in a second."""
    row = session.execute(
        select(Invoice, CustomerInvoice, _payments_json())
        .outerjoin(CustomerInvoice, CustomerInvoice.invoice_id == Invoice.id)
        .where(Invoice.id == invoice_id, _issued(account))
    ).first()
    if row is None:
        raise NotFound("No such invoice.")
    invoice, customer, payments = row
    lines = session.scalars(
        select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id).order_by(InvoiceLine.position, InvoiceLine.id)
    )
    documents: list[DocumentFormat] = []
    if customer is not None and customer.pdf_key:
        documents.append("pdf")
    if customer is not None and customer.csv_key:
        documents.append("csv")
    return InvoiceDetail(
        **summary(invoice).model_dump(),
        billing_name=customer.billing_name if customer else None,
        billing_email=customer.billing_email if customer else None,
        documents=documents,
        lines=[InvoiceLineOut.model_validate(line) for line in lines],
        payments=[InvoicePaymentOut.model_validate(payment) for payment in payments],
    )


def document_link(
    session: Session,
    *,
    store: DocumentStore,
    settings: Settings,
    account: Account,
    invoice_id: UUID,
    document_format: DocumentFormat,
) -> InvoiceDocumentLink:
    """A five-minute presigned GET of the invoice's PDF or CSV."""
    from primecloud.adapters.documents import DOCUMENT_URL_SECONDS

    invoice = _get(session, account, invoice_id)
    customer = _customer_invoice(session, invoice.id)
    key = None
    if customer is not None:
        key = customer.pdf_key if document_format == "pdf" else customer.csv_key
    if key is None:
        raise Conflict(f"Invoice {invoice.number} has no {document_format.upper()} document.")
    filename = f"{invoice.number}.{document_format}"
    request = store.presign_document(settings.documents_bucket, key, filename=filename, expires_in=DOCUMENT_URL_SECONDS)
    return InvoiceDocumentLink(
        invoice_id=invoice.id,
        format=document_format,
        filename=filename,
        url=request.url,
        expires_at=request.expires_at,
    )
