"""Invoices as customers see them, their documents, and payments staff record against them."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BeforeValidator, Field, field_validator

from primecloud.enums import InvoiceKind, InvoiceStatus, TransactionStatus
from primecloud.schemas.common import DecimalString, Schema

MAX_METADATA_BYTES = 4096


class InvoiceSummary(Schema):
    """An issued invoice in a listing; money as decimal strings in ``currency``."""

    id: UUID
    number: str | None
    kind: InvoiceKind
    status: InvoiceStatus
    currency: str
    subtotal: DecimalString
    tax: DecimalString
    total: DecimalString
    amount_paid: DecimalString
    balance_due: DecimalString = Field(description="total - amount_paid (0 once paid or void)")
    period_start: datetime | None
    period_end: datetime | None
    order_id: UUID | None
    issued_at: datetime | None
    due_at: datetime | None
    paid_at: datetime | None
    created_at: datetime


class InvoiceLineOut(Schema):
    position: int
    description: str
    metric: str | None
    quantity: DecimalString
    unit_price: DecimalString
    amount: DecimalString


class InvoicePaymentOut(Schema):
    """A payment received against the invoice."""

    id: UUID
    amount: DecimalString
    currency: str
    gateway: str
    status: TransactionStatus
    created_at: datetime


class InvoiceDetail(InvoiceSummary):
    """One invoice with its lines, the payments received and what is known about its document."""

    billing_name: str | None
    billing_email: str | None
    documents: list[Literal["pdf", "csv"]] = Field(description="Formats GET .../document can hand out")
    lines: list[InvoiceLineOut]
    payments: list[InvoicePaymentOut]


class InvoiceDocumentLink(Schema):
    """A short-lived link to download the document; it expires at ``expires_at``."""

    invoice_id: UUID
    format: Literal["pdf", "csv"]
    filename: str
    url: str
    method: Literal["GET"] = "GET"
    expires_at: datetime


def _decimal_string(value: Any) -> Any:
    """Money arrives as a decimal string: a JSON number may have lost its exact value already."""
    if isinstance(value, float | int) and not isinstance(value, bool):
        raise ValueError('send the amount as a decimal string, e.g. "12.34"')
    return value


PaymentMetadata = Annotated[
    dict[str, Any],
    Field(max_length=50, description=f"Gateway details kept with the payment (at most {MAX_METADATA_BYTES} bytes)"),
]


class PaymentCreate(Schema):
    """A payment a gateway reported (or staff received): recorded once per (gateway, reference)."""

    amount: Annotated[
        DecimalString,
        BeforeValidator(_decimal_string),
        Field(gt=0, max_digits=14, decimal_places=3, allow_inf_nan=False, description="A decimal string, e.g. '12.34'"),
    ]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217, the invoice's currency")]
    gateway: Annotated[
        str, Field(min_length=1, max_length=32, pattern=r"^[a-z0-9][a-z0-9_.-]*$", description="e.g. 'stripe', 'bank'")
    ]
    reference: Annotated[
        str, Field(min_length=1, max_length=255, description="The gateway's id of the payment (unique per gateway)")
    ]
    metadata: PaymentMetadata = Field(default_factory=dict)

    @field_validator("metadata")
    @classmethod
    def _small(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(value, separators=(",", ":"), default=str)) > MAX_METADATA_BYTES:
            raise ValueError(f"at most {MAX_METADATA_BYTES} bytes as JSON")
        return value


class TransactionOut(Schema):
    id: UUID
    invoice_id: UUID
    account_id: UUID
    amount: DecimalString
    currency: str
    gateway: str
    reference: str
    status: TransactionStatus
    metadata: dict[str, Any] = Field(validation_alias="metadata_")
    created_at: datetime


class PaymentRecorded(Schema):
    """The payment (new, or the one already recorded under this reference) and the invoice after it."""

    transaction: TransactionOut
    invoice: InvoiceSummary
    already_recorded: bool = Field(description="true: this reference was recorded before; nothing changed")
