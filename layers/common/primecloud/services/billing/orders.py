"""VPS plans, orders and subscriptions.

Ordering a plan makes a pending order and issues its order invoice (the first month, taxed at the
account's rate). Paying that invoice in full (``payments.record_payment``; or at once when the
plan costs nothing) marks the order paid and starts a monthly subscription, whose price the
usage invoice then carries each month. Cancelling keeps the subscription to the end of its period.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import select, true
from sqlalchemy.orm import Session

from primecloud import clock
from primecloud.actor import Actor
from primecloud.config import Settings
from primecloud.enums import AccountStatus, InvoiceKind, InvoiceStatus, OrderStatus, Product, SubscriptionStatus
from primecloud.errors import AccountSuspended, Conflict, Invalid, NotFound
from primecloud.models.billing import Invoice, InvoiceLine, Order, Subscription, VpsConfig
from primecloud.models.iam import Account
from primecloud.money import invoice_totals, round_money
from primecloud.pagination import paginate
from primecloud.schemas.common import Page
from primecloud.schemas.orders import OrderCreate, OrderOut, SubscriptionOut, VpsPlanList, VpsPlanOut
from primecloud.services import audit
from primecloud.services.billing import invoicing
from primecloud.services.billing.subscription_terms import add_month

if TYPE_CHECKING:
    from primecloud.adapters.documents import DocumentStore
    from primecloud.adapters.email import Mailer


# --------------------------------------------------------------------------- plans


def list_plans(session: Session) -> VpsPlanList:
    """Active plans, cheapest first."""
    plans = session.scalars(
        select(VpsConfig).where(VpsConfig.is_active.is_(True)).order_by(VpsConfig.price_monthly, VpsConfig.name)
    )
    return VpsPlanList(items=[VpsPlanOut.model_validate(plan) for plan in plans])


# --------------------------------------------------------------------------- orders


def _order_out(order: Order, plan_name: str | None, invoice: Invoice | None) -> OrderOut:
    return OrderOut(
        id=order.id,
        product=order.product,
        vps_config_id=order.vps_config_id,
        plan_name=plan_name,
        status=order.status,
        amount=order.amount,
        currency=order.currency,
        invoice_id=invoice.id if invoice else None,
        invoice_number=invoice.number if invoice else None,
        created_at=order.created_at,
    )


def _invalid_plan(message: str) -> Invalid:
    return Invalid(
        f"body.vps_config_id: {message}",
        errors=[{"field": "body.vps_config_id", "message": message, "type": "vps_config"}],
    )


def create_order(
    session: Session,
    actor: Actor,
    account: Account,
    req: OrderCreate,
    *,
    now: datetime,
    storage: DocumentStore,
    mailer: Mailer,
    settings: Settings,
) -> OrderOut:
    """A pending order for an active plan and its issued order invoice (one line: the first month)."""
    if account.status != AccountStatus.ACTIVE:
        raise AccountSuspended("A suspended account cannot order; pay the overdue invoices first.")
    plan = session.get(VpsConfig, req.vps_config_id)
    if plan is None or not plan.is_active:
        raise _invalid_plan("not an active plan (see GET /v1/vps-plans)")
    if plan.currency != account.currency:
        raise _invalid_plan(f"this plan is priced in {plan.currency}, the account is billed in {account.currency}")

    amount = round_money(plan.price_monthly, plan.currency)
    order = Order(
        account_id=account.id,
        product=Product.VPS.value,
        vps_config_id=plan.id,
        status=OrderStatus.PENDING.value,
        amount=amount,
        currency=plan.currency,
    )
    session.add(order)
    session.flush()
    totals = invoice_totals([amount], account.tax_rate, plan.currency)
    invoice = Invoice(
        account_id=account.id,
        kind=InvoiceKind.ORDER.value,
        order_id=order.id,
        status=InvoiceStatus.DRAFT.value,
        currency=plan.currency,
        subtotal=totals.subtotal,
        tax=totals.tax,
        total=totals.total,
    )
    session.add(invoice)
    session.flush()
    session.add(
        InvoiceLine(
            invoice_id=invoice.id,
            position=1,
            description=f"VPS {plan.name} \u2014 first month",
            metric=None,
            quantity=1,
            unit_price=plan.price_monthly,
            amount=amount,
        )
    )
    session.flush()
    audit.record(
        session,
        actor,
        "order.create",
        account_id=account.id,
        target_type="order",
        target_id=order.id,
        new={
            "product": order.product,
            "vps_config_id": str(plan.id),
            "plan": plan.name,
            "amount": str(amount),
            "currency": order.currency,
            "invoice_id": str(invoice.id),
        },
    )
    invoicing.issue(session, invoice, now=now, storage=storage, mailer=mailer, settings=settings, actor=actor)
    if invoice.status == InvoiceStatus.PAID:  # a free plan: nothing to wait for
        fulfil(session, actor, order, now=now)
    session.flush()
    return _order_out(order, plan.name, invoice)


def list_orders(session: Session, account: Account, *, limit: int, cursor: str | None) -> Page[OrderOut]:
    """The account's orders, newest first, with their plan names and order invoices: one statement."""
    order_invoice = (
        select(Invoice.id, Invoice.number)
        .where(Invoice.order_id == Order.id, Invoice.status != InvoiceStatus.DRAFT.value)
        .order_by(Invoice.created_at.desc(), Invoice.id.desc())
        .limit(1)
        .lateral("order_invoice")
    )
    statement = (
        select(
            Order.id,
            Order.product,
            Order.vps_config_id,
            Order.status,
            Order.amount,
            Order.currency,
            Order.created_at,
            VpsConfig.name.label("plan_name"),
            order_invoice.c.id.label("invoice_id"),
            order_invoice.c.number.label("invoice_number"),
        )
        .outerjoin(VpsConfig, VpsConfig.id == Order.vps_config_id)
        .outerjoin(order_invoice, true())
        .where(Order.account_id == account.id)
    )
    return paginate(
        session,
        statement,
        keys=[Order.created_at, Order.id],
        limit=limit,
        cursor=cursor,
        to_item=lambda row: OrderOut.model_validate(row, from_attributes=True),
        rows=True,
    )


def fulfil(session: Session, actor: Actor, order: Order, *, now: datetime) -> Subscription | None:
    """Mark a pending order paid and start its subscription (current period: now .. a month later).

    Nothing happens for an order that is no longer pending, so a repeated call is harmless.
    """
    if order.status != OrderStatus.PENDING:
        return None
    price = order.amount
    if order.vps_config_id is not None:
        plan = session.get(VpsConfig, order.vps_config_id)
        price = plan.price_monthly if plan is not None else price
    order.status = OrderStatus.PAID.value
    subscription = Subscription(
        account_id=order.account_id,
        order_id=order.id,
        product=order.product,
        status=SubscriptionStatus.ACTIVE.value,
        price=price,
        currency=order.currency,
        current_period_start=now,
        current_period_end=add_month(now),
        cancel_at_period_end=False,
    )
    session.add(subscription)
    session.flush()
    audit.record(
        session,
        actor,
        "subscription.start",
        account_id=order.account_id,
        target_type="subscription",
        target_id=subscription.id,
        new={
            "order_id": str(order.id),
            "product": order.product,
            "price": str(price),
            "currency": order.currency,
            "current_period_end": subscription.current_period_end.isoformat(),
        },
    )
    return subscription


def cancel_order(session: Session, order: Order) -> None:
    """A pending order whose invoice was voided will never be paid."""
    if order.status == OrderStatus.PENDING:
        order.status = OrderStatus.CANCELLED.value


# --------------------------------------------------------------------------- subscriptions


def list_subscriptions(session: Session, account: Account, *, limit: int, cursor: str | None) -> Page[SubscriptionOut]:
    return paginate(
        session,
        select(Subscription).where(Subscription.account_id == account.id),
        keys=[Subscription.created_at, Subscription.id],
        limit=limit,
        cursor=cursor,
        to_item=SubscriptionOut.model_validate,
    )


def cancel_subscription(session: Session, actor: Actor, account: Account, subscription_id: UUID) -> SubscriptionOut:
    """Cancel at the end of the current period (the month paid for runs out); twice is a conflict."""
    subscription = session.scalar(
        select(Subscription)
        .where(Subscription.id == subscription_id, Subscription.account_id == account.id)
        .with_for_update()
    )
    if subscription is None:
        raise NotFound("No such subscription.")
    if subscription.status == SubscriptionStatus.CANCELLED or subscription.cancel_at_period_end:
        raise Conflict("This subscription is already cancelled.")
    from primecloud.services.billing.subscription_terms import cancellation_end

    subscription.cancel_at_period_end = True
    subscription.current_period_end = cancellation_end(subscription, clock.now())
    session.flush()
    audit.record(
        session,
        actor,
        "subscription.cancel",
        account_id=account.id,
        target_type="subscription",
        target_id=subscription.id,
        old={"cancel_at_period_end": False},
        new={"cancel_at_period_end": True, "ends_at": subscription.current_period_end.isoformat()},
    )
    return SubscriptionOut.model_validate(subscription)
