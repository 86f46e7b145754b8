"""Rows the dunning and notification tests need: open invoices, notifications, what was emailed."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.models.billing import Invoice
from primecloud.models.system import AuditLog, Notification
from primecloud.services import notifications


def make_open_invoice(
    engine: sa.Engine,
    account_id: uuid.UUID,
    *,
    issued_at: datetime,
    net_days: int = 14,
    total: Decimal = Decimal("119.00"),
    number: str | None = None,
) -> uuid.UUID:
    """An issued, unpaid order invoice, as ``invoicing.issue`` leaves one (without the documents)."""
    with Session(engine) as session, session.begin():
        invoice = Invoice(
            account_id=account_id,
            number=number or f"INV-T-{uuid.uuid4().hex[:10]}",
            kind="order",
            status="open",
            currency="EUR",
            subtotal=total,
            tax=Decimal("0"),
            total=total,
            issued_at=issued_at,
            due_at=issued_at + timedelta(days=net_days),
        )
        session.add(invoice)
        session.flush()
        return invoice.id


def invoice_row(engine: sa.Engine, invoice_id: uuid.UUID) -> Invoice:
    with Session(engine, expire_on_commit=False) as session:
        return session.get_one(Invoice, invoice_id)


def notify(engine: sa.Engine, **fields: Any) -> list[uuid.UUID]:
    """``notifications.notify`` in a transaction of its own."""
    with Session(engine) as session, session.begin():
        return notifications.notify(session, **{"title": "Hello", "type": "test.hello", **fields})


def notification_rows(engine: sa.Engine, *, type: str | None = None) -> list[Notification]:
    with Session(engine, expire_on_commit=False) as session:
        statement = sa.select(Notification).order_by(Notification.created_at, Notification.id)
        if type is not None:
            statement = statement.where(Notification.type == type)
        return list(session.scalars(statement))


def audit_rows(engine: sa.Engine, action: str) -> list[AuditLog]:
    with Session(engine, expire_on_commit=False) as session:
        return list(
            session.scalars(
                sa.select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.created_at, AuditLog.id)
            )
        )


def sent_emails(to: str | None = None) -> list[Any]:
    """What moto's SES has sent so far (optionally to one address)."""
    from moto.ses.models import ses_backends

    sent = ses_backends["123456789012"]["us-east-1"].sent_messages
    return [m for m in sent if to is None or to in m.destinations.get("ToAddresses", [])]
