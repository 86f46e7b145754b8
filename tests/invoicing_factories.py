"""Rows for invoicing tests: draft invoices with lines, VPS plans, staff users."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.adapters.documents import default_documents
from primecloud.adapters.email import Mailer
from primecloud.config import get_settings
from primecloud.db import unit_of_work
from primecloud.jobs import JobStats
from primecloud.models.billing import Invoice, InvoiceLine, VpsConfig
from primecloud.models.iam import Account
from primecloud.money import invoice_totals, round_money
from primecloud.services.billing import monthly_run
from tests.factories import make_session_token, make_user


@dataclass(frozen=True)
class LineSpec:
    description: str
    quantity: Decimal
    unit_price: Decimal
    metric: str | None = None


def draft_invoice(
    session: Session,
    account_id: uuid.UUID,
    lines: Sequence[LineSpec],
    *,
    kind: str = "order",
    currency: str = "EUR",
    period: tuple[datetime, datetime] | None = None,
    order_id: uuid.UUID | None = None,
) -> Invoice:
    """A flushed draft with rounded line amounts and totals at the account's tax rate (what issue() expects)."""
    account = session.get(Account, account_id)
    assert account is not None
    amounts = [round_money(spec.quantity * spec.unit_price, currency) for spec in lines]
    totals = invoice_totals(amounts, account.tax_rate, currency)
    invoice = Invoice(
        account_id=account_id,
        kind=kind,
        order_id=order_id,
        status="draft",
        currency=currency,
        subtotal=totals.subtotal,
        tax=totals.tax,
        total=totals.total,
        period_start=period[0] if period else None,
        period_end=period[1] if period else None,
    )
    session.add(invoice)
    session.flush()
    for position, (spec, amount) in enumerate(zip(lines, amounts, strict=True), start=1):
        session.add(
            InvoiceLine(
                invoice_id=invoice.id,
                position=position,
                description=spec.description,
                metric=spec.metric,
                quantity=spec.quantity,
                unit_price=spec.unit_price,
                amount=amount,
            )
        )
    session.flush()
    return invoice


def set_tax_rate(engine: sa.Engine, account_id: uuid.UUID, rate: str, **fields: object) -> None:
    with Session(engine) as session, session.begin():
        account = session.get(Account, account_id)
        assert account is not None
        account.tax_rate = Decimal(rate)
        for name, value in fields.items():
            setattr(account, name, value)


def make_vps_config(
    engine: sa.Engine, *, name: str | None = None, price_monthly: str = "9.99", is_active: bool = True
) -> uuid.UUID:
    with Session(engine) as session, session.begin():
        config = VpsConfig(
            name=name or f"vps-{uuid.uuid4().hex[:8]}",
            cpu_cores=2,
            memory_mb=4096,
            disk_gb=80,
            bandwidth_gb=2000,
            price_monthly=Decimal(price_monthly),
            price_hourly=Decimal("0.0150"),
            currency="EUR",
            is_active=is_active,
        )
        session.add(config)
        session.flush()
        return config.id


def make_staff_token(engine: sa.Engine) -> tuple[uuid.UUID, str]:
    """A platform administrator and a live session token."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        user = make_user(session, platform_admin=True)
        token, _ = make_session_token(session, user.id)
        return user.id, token


class NullMailer:
    """Mail goes nowhere (tests that check mail use moto SES or their own recorder)."""

    def send(self, email: object) -> None:
        return None


def issue_invoice(
    engine: sa.Engine,
    account_id: uuid.UUID,
    lines: Sequence[LineSpec],
    *,
    now: datetime | None = None,
    kind: str = "order",
    period: tuple[datetime, datetime] | None = None,
    order_id: uuid.UUID | None = None,
) -> tuple[uuid.UUID, str]:
    """An issued invoice (documents in the documents bucket); returns its id and number."""
    from primecloud import clock
    from primecloud.adapters.documents import S3Documents
    from primecloud.config import get_settings
    from primecloud.services.billing import invoicing

    with Session(engine, expire_on_commit=False) as session, session.begin():
        invoice = draft_invoice(session, account_id, lines, kind=kind, period=period, order_id=order_id)
        invoicing.issue(
            session,
            invoice,
            now=now or clock.now(),
            storage=S3Documents(),
            mailer=NullMailer(),
            settings=get_settings(),
        )
        assert invoice.number is not None
        return invoice.id, invoice.number


def run_billing(period_start: datetime, period_end: datetime, *, now: datetime, mailer: Mailer) -> JobStats:
    """run_billing with the sessions, documents and settings the RunBilling job passes; the stats it filled."""
    stats = JobStats()
    monthly_run.run_billing(
        stats,
        period_start,
        period_end,
        now=now,
        sessions=unit_of_work,
        storage=default_documents(),
        mailer=mailer,
        settings=get_settings(),
    )
    return stats
