"""Payments and voids, recorded by platform staff.

A payment is a ``transactions`` row, unique per (gateway, reference): reporting the same
payment again returns the row recorded the first time and changes nothing. Partial payments
add up in ``amount_paid``; the one that settles the balance marks the invoice paid, which
fulfils an order invoice (order paid, subscription started) and reactivates an account that
was suspended for non-payment (``primecloud.services.suspension``, when it is deployed).
The invoice row is locked (FOR UPDATE) first, so payments of one invoice are applied one at a time.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from primecloud.actor import Actor
from primecloud.adapters.email import Mailer
from primecloud.config import Settings
from primecloud.enums import AccountStatus, InvoiceKind, InvoiceStatus, TransactionStatus
from primecloud.errors import Conflict, Invalid, NotFound
from primecloud.models.billing import Invoice, Order, Transaction
from primecloud.models.iam import Account
from primecloud.money import minor_units, round_money
from primecloud.schemas.invoices import InvoiceSummary, PaymentCreate, PaymentRecorded, TransactionOut
from primecloud.services import audit, notifications
from primecloud.services.billing import invoices, orders

if TYPE_CHECKING:
    from primecloud.services.suspension import SftpGoFactory, TenantCredentialsFactory

PAYABLE = (InvoiceStatus.OPEN.value, InvoiceStatus.OVERDUE.value, InvoiceStatus.UNCOLLECTIBLE.value)
VOIDABLE = (InvoiceStatus.OPEN.value, InvoiceStatus.OVERDUE.value)


def _invalid(field: str, message: str) -> Invalid:
    return Invalid(f"body.{field}: {message}", errors=[{"field": f"body.{field}", "message": message, "type": field}])


def _locked_invoice(session: Session, invoice_id: UUID) -> Invoice:
    invoice = session.scalar(select(Invoice).where(Invoice.id == invoice_id).with_for_update())
    if invoice is None or invoice.status == InvoiceStatus.DRAFT:
        raise NotFound("No such invoice (or it is not issued yet).")
    return invoice


def _transaction_out(transaction: Transaction) -> TransactionOut:
    return TransactionOut.model_validate(transaction)


def _replay(transaction: Transaction, invoice: Invoice, req: PaymentCreate) -> PaymentRecorded:
    """The payment recorded before under this reference, when it is the same payment; else a conflict."""
    same = (
        transaction.invoice_id == invoice.id
        and transaction.amount == req.amount
        and transaction.currency == req.currency
    )
    if not same:
        raise Conflict(f"Reference {req.reference} of {req.gateway} is already recorded for another payment.")
    return PaymentRecorded(
        transaction=_transaction_out(transaction), invoice=invoices.summary(invoice), already_recorded=True
    )


def _by_reference(session: Session, gateway: str, reference: str) -> Transaction | None:
    return session.scalar(select(Transaction).where(Transaction.gateway == gateway, Transaction.reference == reference))


def _check_amount(invoice: Invoice, req: PaymentCreate) -> Decimal:
    if req.currency != invoice.currency:
        raise _invalid("currency", f"the invoice is in {invoice.currency}")
    amount = req.amount
    if round_money(amount, invoice.currency) != amount:
        raise _invalid("amount", f"at most {minor_units(invoice.currency)} decimal places in {invoice.currency}")
    balance = invoices.balance_due(invoice)
    if amount > balance:
        raise _invalid("amount", f"more than the balance due ({balance} {invoice.currency})")
    return amount


def record_payment(
    session: Session,
    actor: Actor,
    invoice_id: UUID,
    req: PaymentCreate,
    *,
    now: datetime,
    mailer: Mailer | None = None,
    credentials: TenantCredentialsFactory,
    sftpgo: SftpGoFactory,
    settings: Settings,
) -> tuple[PaymentRecorded, bool]:
    """Record a payment; returns the result and whether a new transaction was made.

    A payment that settles the invoice emails a receipt to the billing contact when a ``mailer``
    is given (a failed send is logged; the payment stands). The backends and settings serve a
    reactivation (``suspension.reactivate_after_payment``), built only when there is one."""
    invoice = _locked_invoice(session, invoice_id)
    existing = _by_reference(session, req.gateway, req.reference)
    if existing is not None:
        return _replay(existing, invoice, req), False
    if invoice.status not in PAYABLE:
        raise Conflict(f"Invoice {invoice.number} is {invoice.status}; it takes no payments.")
    amount = _check_amount(invoice, req)

    transaction = Transaction(
        invoice_id=invoice.id,
        account_id=invoice.account_id,
        amount=amount,
        currency=invoice.currency,
        gateway=req.gateway,
        status=TransactionStatus.SUCCEEDED.value,
        reference=req.reference,
        metadata_=req.metadata,
    )
    try:
        with session.begin_nested():
            session.add(transaction)
    except IntegrityError:
        # The same reference was recorded for another invoice at this very moment (the savepoint's
        # rollback took the pending row out of the session).
        raced = _by_reference(session, req.gateway, req.reference)
        if raced is None:
            raise
        return _replay(raced, invoice, req), False

    old = {"status": invoice.status, "amount_paid": str(invoice.amount_paid)}
    invoice.amount_paid += amount
    settled = invoice.amount_paid == invoice.total
    if settled:
        invoice.status = InvoiceStatus.PAID.value
        invoice.paid_at = now
    session.flush()
    audit.record(
        session,
        actor,
        "payment.record",
        account_id=invoice.account_id,
        target_type="invoice",
        target_id=invoice.id,
        old=old,
        new={
            "transaction_id": str(transaction.id),
            "amount": str(amount),
            "currency": invoice.currency,
            "gateway": req.gateway,
            "reference": req.reference,
            "status": invoice.status,
            "amount_paid": str(invoice.amount_paid),
        },
    )
    if settled:
        _settled(
            session, actor, invoice, now=now, mailer=mailer, credentials=credentials, sftpgo=sftpgo, settings=settings
        )
    session.flush()
    return PaymentRecorded(
        transaction=_transaction_out(transaction), invoice=invoices.summary(invoice), already_recorded=False
    ), True


def _settled(
    session: Session,
    actor: Actor,
    invoice: Invoice,
    *,
    now: datetime,
    mailer: Mailer | None,
    credentials: TenantCredentialsFactory,
    sftpgo: SftpGoFactory,
    settings: Settings,
) -> None:
    notification_ids = notifications.notify(
        session,
        account_id=invoice.account_id,
        roles=notifications.BILLING_ROLES,
        type="invoice.paid",
        title=f"Invoice {invoice.number} paid",
        body=f"Thank you: invoice {invoice.number} of {invoice.total} {invoice.currency} is paid in full.",
        data={"invoice_id": str(invoice.id), "number": invoice.number, "total": str(invoice.total)},
    )
    if mailer is not None:
        _mail_receipt(session, invoice, mailer, notification_ids, now)
    if invoice.kind == InvoiceKind.ORDER and invoice.order_id is not None:
        order = session.scalar(select(Order).where(Order.id == invoice.order_id).with_for_update())
        if order is not None:
            orders.fulfil(session, actor, order, now=now)
    _reactivate_if_suspended(
        session,
        actor,
        invoice.account_id,
        now=now,
        mailer=mailer,
        credentials=credentials,
        sftpgo=sftpgo,
        settings=settings,
    )


def _mail_receipt(
    session: Session, invoice: Invoice, mailer: Mailer, notification_ids: list[UUID], now: datetime
) -> None:
    account = session.get_one(Account, invoice.account_id)
    text = (
        f"Hello,\n\nthank you: invoice {invoice.number} of {invoice.total} {invoice.currency} for {account.name} "
        f"is paid in full ({now:%Y-%m-%d}).\n\nPrimeCloud billing\n"
    )
    notifications.mail_billing_contacts(
        session,
        account,
        mailer,
        subject=f"PrimeCloud invoice {invoice.number} paid",
        text=text,
        notification_ids=notification_ids,
        now=now,
    )


def _reactivate_if_suspended(
    session: Session,
    actor: Actor,
    account_id: UUID,
    *,
    now: datetime,
    mailer: Mailer | None,
    credentials: TenantCredentialsFactory,
    sftpgo: SftpGoFactory,
    settings: Settings,
) -> None:
    account = session.get(Account, account_id)
    if account is None or account.status != AccountStatus.SUSPENDED:
        return
    from primecloud.services import suspension  # the backends it drives load only when needed

    suspension.reactivate_after_payment(
        session,
        account_id,
        actor=actor,
        now=now,
        credentials=credentials,
        sftpgo=sftpgo,
        settings=settings,
        mailer=mailer,
    )


def void(
    session: Session,
    actor: Actor,
    invoice_id: UUID,
    *,
    now: datetime,
    credentials: TenantCredentialsFactory,
    sftpgo: SftpGoFactory,
    settings: Settings,
) -> InvoiceSummary:
    """Void an open or overdue invoice nothing was paid on; its pending order is cancelled."""
    invoice = _locked_invoice(session, invoice_id)
    if invoice.status not in VOIDABLE:
        raise Conflict(f"Invoice {invoice.number} is {invoice.status}; only open or overdue invoices can be voided.")
    if invoice.amount_paid > 0:
        raise Conflict(
            f"Invoice {invoice.number} is partially paid ({invoice.amount_paid} {invoice.currency});"
            " it cannot be voided."
        )
    old_status = invoice.status
    invoice.status = InvoiceStatus.VOID.value
    if invoice.order_id is not None:
        order = session.scalar(select(Order).where(Order.id == invoice.order_id).with_for_update())
        if order is not None:
            orders.cancel_order(session, order)
    session.flush()
    audit.record(
        session,
        actor,
        "invoice.void",
        account_id=invoice.account_id,
        target_type="invoice",
        target_id=invoice.id,
        old={"status": old_status},
        new={"status": invoice.status, "number": invoice.number, "total": str(invoice.total)},
        severity="warning",
    )
    # The debt is gone: an account suspended over it may come back (if nothing else is overdue).
    _reactivate_if_suspended(
        session,
        actor,
        invoice.account_id,
        now=now,
        mailer=None,
        credentials=credentials,
        sftpgo=sftpgo,
        settings=settings,
    )
    return invoices.summary(invoice)
