"""Billing and usage: metered usage, versioned prices, invoices, payments, orders, subscriptions.

Money is Numeric(14, 2) in the currency's major unit; unit prices Numeric(18, 8) so sub-cent
per-GiB prices are exact; quantities Numeric(24, 6). Never float.

Financial records (invoices, transactions, orders, subscriptions) keep their account:
an account with any of them cannot be hard-deleted, only closed and anonymized.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    String,
    UniqueConstraint,
    false,
    func,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

import primecloud.models.iam  # loads the tables its foreign keys name (with storage below)
import primecloud.models.storage  # noqa: F401 - loads the tables its foreign keys name
from primecloud.models.base import Base, Timestamps, UUIDPrimaryKey
from primecloud.models.enums import (
    DeliveryStatus,
    InvoiceKind,
    InvoiceStatus,
    OrderStatus,
    PricingAction,
    Product,
    SubscriptionStatus,
    TransactionStatus,
    UsageMetric,
    one_of,
)

MONEY = Numeric(14, 2)
UNIT_PRICE = Numeric(18, 8)
QUANTITY = Numeric(24, 6)


class UsageRecord(Base, UUIDPrimaryKey, Timestamps):
    """One metric of one account (and bucket, when per bucket) for one collection period."""

    __tablename__ = "usage_records"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    # NO ACTION, not SET NULL: nulled rows of two buckets would collide in the unique index below.
    # A purged bucket keeps its (soft-deleted) row until its usage is past retention; deleting
    # the whole account still works, as its usage goes in the same statement.
    bucket_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("buckets.id"), index=True)
    metric: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[Decimal] = mapped_column(QUANTITY)
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(64))
    collected_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # Set when the record is billed on an invoice.
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("invoices.id", ondelete="SET NULL"), index=True)

    __table_args__ = (
        # Account-level records (no bucket) are unique too: NULL bucket_id counts as a value.
        Index(
            "uq_usage_records_account_bucket_metric_period",
            "account_id",
            "bucket_id",
            "metric",
            "period_start",
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
        Index(None, "account_id", "metric", "period_start"),
        one_of("metric", UsageMetric),
        CheckConstraint("period_end >= period_start", name="period_order"),
    )


class PricingConfig(Base, UUIDPrimaryKey, Timestamps):
    """One price version of a metric; the version in force is the latest effective_from <= t."""

    __tablename__ = "pricing_configs"

    metric: Mapped[str] = mapped_column(String(32))
    unit: Mapped[str] = mapped_column(String(32))  # shown to people: "GiB-month", "1,000 requests"
    unit_size: Mapped[Decimal] = mapped_column(QUANTITY)  # metric quantity per priced unit
    unit_price: Mapped[Decimal] = mapped_column(UNIT_PRICE)
    currency: Mapped[str] = mapped_column(String(3))
    included_quantity: Mapped[Decimal] = mapped_column(QUANTITY, server_default=text("0"))  # in units
    # Graduated tiers: [{"up_to": "<units or null>", "unit_price": "<decimal>"}, ...]
    tiers: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    effective_from: Mapped[datetime]
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)

    __table_args__ = (
        UniqueConstraint("metric", "currency", "effective_from"),
        one_of("metric", UsageMetric),
        CheckConstraint("unit_size > 0", name="unit_size_positive"),
        CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
    )


class PricingHistory(Base, UUIDPrimaryKey, Timestamps):
    """Every change to prices: what, who, when (kept when the price version itself goes)."""

    __tablename__ = "pricing_history"

    pricing_config_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("pricing_configs.id", ondelete="SET NULL"), index=True
    )
    metric: Mapped[str] = mapped_column(String(32), index=True)
    action: Mapped[str] = mapped_column(String(16))
    old_value: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    new_value: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    changed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    changed_at: Mapped[datetime] = mapped_column(server_default=func.now(), index=True)

    __table_args__ = (one_of("action", PricingAction),)


class VpsConfig(Base, UUIDPrimaryKey, Timestamps):
    """A server package that can be ordered."""

    __tablename__ = "vps_configs"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    cpu_cores: Mapped[int]
    memory_mb: Mapped[int]
    disk_gb: Mapped[int]
    bandwidth_gb: Mapped[int]
    price_monthly: Mapped[Decimal] = mapped_column(MONEY)
    price_hourly: Mapped[Decimal] = mapped_column(UNIT_PRICE)
    currency: Mapped[str] = mapped_column(String(3), server_default="EUR")
    is_active: Mapped[bool] = mapped_column(server_default=true())


class Order(Base, UUIDPrimaryKey, Timestamps):
    __tablename__ = "orders"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"), index=True)
    product: Mapped[str] = mapped_column(String(32))
    # Packages are retired with is_active, never deleted while ordered.
    vps_config_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("vps_configs.id", ondelete="RESTRICT"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), server_default=OrderStatus.PENDING.value)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))

    __table_args__ = (one_of("product", Product), one_of("status", OrderStatus))


class Subscription(Base, UUIDPrimaryKey, Timestamps):
    """A recurring product; its monthly price is a line on the account's usage invoice."""

    __tablename__ = "subscriptions"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"), index=True)
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"), index=True)
    product: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), server_default=SubscriptionStatus.ACTIVE.value)
    price: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    current_period_start: Mapped[datetime]
    current_period_end: Mapped[datetime]
    cancel_at_period_end: Mapped[bool] = mapped_column(server_default=false())

    __table_args__ = (one_of("product", Product), one_of("status", SubscriptionStatus))


class Invoice(Base, UUIDPrimaryKey, Timestamps):
    __tablename__ = "invoices"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"), index=True)
    number: Mapped[str | None] = mapped_column(String(32), unique=True)  # assigned when issued
    kind: Mapped[str] = mapped_column(String(16))
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"), index=True)
    period_start: Mapped[datetime | None]
    period_end: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), server_default=InvoiceStatus.DRAFT.value)
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[Decimal] = mapped_column(MONEY, server_default=text("0"))
    tax: Mapped[Decimal] = mapped_column(MONEY, server_default=text("0"))
    total: Mapped[Decimal] = mapped_column(MONEY, server_default=text("0"))
    amount_paid: Mapped[Decimal] = mapped_column(MONEY, server_default=text("0"))
    issued_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    reminder_stage: Mapped[int] = mapped_column(server_default=text("0"))  # dunning reminders sent
    pdf_key: Mapped[str | None] = mapped_column(String(1024))

    lines: Mapped[list[InvoiceLine]] = relationship(
        order_by="InvoiceLine.position", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        # One usage invoice per account and period, however often billing runs.
        Index(
            "uq_invoices_usage_period",
            "account_id",
            "kind",
            "period_start",
            "period_end",
            unique=True,
            postgresql_where=text("kind = 'usage'"),
        ),
        Index(None, "status", "due_at"),  # the dunning scan
        one_of("kind", InvoiceKind),
        one_of("status", InvoiceStatus),
        CheckConstraint(
            "kind <> 'usage' OR (period_start IS NOT NULL AND period_end IS NOT NULL)",
            name="usage_has_period",
        ),
    )


class InvoiceLine(Base, UUIDPrimaryKey, Timestamps):
    __tablename__ = "invoice_lines"

    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(server_default=text("0"))  # order on the document
    description: Mapped[str] = mapped_column(String(500))
    metric: Mapped[str | None] = mapped_column(String(32))  # None: subscriptions, order items
    quantity: Mapped[Decimal] = mapped_column(QUANTITY)
    unit_price: Mapped[Decimal] = mapped_column(UNIT_PRICE)
    amount: Mapped[Decimal] = mapped_column(MONEY)


class CustomerInvoice(Base, UUIDPrimaryKey, Timestamps):
    """The document sent to the customer: billing details as of issue, rendered files, delivery."""

    __tablename__ = "customer_invoices"

    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), unique=True)
    billing_name: Mapped[str] = mapped_column(String(200))
    billing_email: Mapped[str | None] = mapped_column(String(320))
    billing_address: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    pdf_key: Mapped[str | None] = mapped_column(String(1024))
    csv_key: Mapped[str | None] = mapped_column(String(1024))
    delivery_status: Mapped[str] = mapped_column(String(16), server_default=DeliveryStatus.PENDING.value)
    delivered_at: Mapped[datetime | None]

    __table_args__ = (one_of("delivery_status", DeliveryStatus),)


class Transaction(Base, UUIDPrimaryKey, Timestamps):
    """A payment (or refund) against an invoice; recording the same reference twice is a no-op."""

    __tablename__ = "transactions"

    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id", ondelete="RESTRICT"), index=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"), index=True)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    gateway: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), server_default=TransactionStatus.PENDING.value)
    reference: Mapped[str] = mapped_column(String(255))
    # "metadata" is reserved on declarative classes, hence the attribute name.
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, server_default=text("'{}'::jsonb"))

    __table_args__ = (UniqueConstraint("gateway", "reference"), one_of("status", TransactionStatus))


class InvoiceNumberSequence(Base, UUIDPrimaryKey, Timestamps):
    """Gapless invoice numbers: the year's row is locked (FOR UPDATE) and bumped on issue."""

    __tablename__ = "invoice_number_sequences"

    year: Mapped[int] = mapped_column(unique=True)
    last_number: Mapped[int] = mapped_column(server_default=text("0"))


__all__ = [
    "CustomerInvoice",
    "Invoice",
    "InvoiceLine",
    "InvoiceNumberSequence",
    "Order",
    "PricingConfig",
    "PricingHistory",
    "Subscription",
    "Transaction",
    "UsageRecord",
    "VpsConfig",
]
