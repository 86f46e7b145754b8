"""Dunning (the daily check_overdue job): overdue invoices, reminders, suspension after the grace period.

For each unpaid invoice past its due date, in a transaction of its own (one invoice's failure
never blocks the others, and a row lock on the invoice keeps a payment recorded meanwhile from
being chased):

- ``open`` becomes ``overdue`` (audit ``invoice.overdue``);
- reminders at the configured days past due (``DUNNING_REMINDER_DAYS``, "1,7,14") are stages
  1..N of ``invoices.reminder_stage``. A stage is claimed with a guarded
  ``UPDATE ... WHERE reminder_stage < n``, so each is sent at most once per invoice. A run that
  finds an invoice late enough for several stages (the job did not run for days) sends only the
  latest one; the stages it passed over count as done (``skipped_stages`` in the notification
  data and the audit entry) rather than sending three reminders at once;
- a reminder is one ``invoice.reminder`` notification per owner and admin of the account (each
  has their own read state) and an email to the account's billing email, or when it has none
  to each owner and admin. The stage is only kept when every email went out: a failed send rolls
  the stage and its notifications back and the next run tries again (emails sent before the
  failure may then be repeated: at least once, never silently lost);
- at ``DUNNING_SUSPEND_DAYS`` past due the invoice reaches its last stage (N+1) and the account is
  suspended (``suspension.suspend_for_nonpayment``: status, access keys, SFTP users, the members'
  notice, an audit entry) and the billing contacts are emailed; a backend or mail failure rolls all
  of it back (compensation switches the credentials back) for the next run. Each invoice suspends
  at most once, so an account staff reactivated by hand is not suspended again for the same invoice.

Re-runs on the same day change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import case, func, literal, or_, select, tuple_, update
from sqlalchemy.orm import Session

from primecloud.actor import Actor
from primecloud.adapters.email import Email, Mailer
from primecloud.config import Settings
from primecloud.enums import InvoiceStatus
from primecloud.errors import PrimeCloudError
from primecloud.jobs import JobStats
from primecloud.models.billing import Invoice
from primecloud.models.iam import Account
from primecloud.observability import logger
from primecloud.services import audit, notifications, suspension

if TYPE_CHECKING:
    from primecloud.db import Sessions

JOB = "check_overdue"
BATCH_SIZE = 200  # invoice ids read per statement; each invoice is still its own transaction


@dataclass(frozen=True)
class DunningPlan:
    """Reminder days (ascending, stages 1..N) and the suspension day (stage N+1)."""

    reminder_days: tuple[int, ...]
    suspend_days: int

    @classmethod
    def from_settings(cls, settings: Settings) -> DunningPlan:
        days = sorted({int(part) for part in settings.dunning_reminder_days.split(",") if part.strip()})
        if any(day < 0 for day in days) or settings.dunning_suspend_days < 0:
            raise ValueError("dunning days must not be negative")
        return cls(tuple(days), settings.dunning_suspend_days)

    @property
    def suspension_stage(self) -> int:
        return len(self.reminder_days) + 1

    def reminder_stage_for(self, days_late: int) -> int:
        """The latest reminder stage due ``days_late`` days past the due date (0: none yet)."""
        return sum(1 for day in self.reminder_days if day <= days_late)

    def next_stage_days(self) -> dict[int, int]:
        """For each stage already reached, how many days past due the next one (a reminder or suspension) is due."""
        upcoming = {stage: day for stage, day in enumerate(self.reminder_days)}
        upcoming[len(self.reminder_days)] = self.suspend_days
        return {stage: min(day, self.suspend_days) for stage, day in upcoming.items()}


@dataclass
class InvoiceOutcome:
    became_overdue: bool = False
    reminder_stage: int | None = None
    skipped_stages: list[int] = field(default_factory=list)
    suspended: bool = False
    emails: int = 0
    notifications: int = 0


def check_overdue(
    stats: JobStats,
    *,
    sessions: Sessions,
    now: datetime,
    settings: Settings,
    mailer: Mailer,
    credentials: suspension.TenantCredentialsFactory,
    sftpgo: suspension.SftpGoFactory,
) -> None:
    """The job's work: every invoice that needs something, one transaction each; counts go to ``stats``."""
    plan = DunningPlan.from_settings(settings)
    after: tuple[datetime, UUID] | None = None
    while True:
        with sessions() as session:
            batch = _invoices_needing_action(session, plan, now, after)
        for _due_at, invoice_id in batch:
            try:
                with sessions() as session:
                    outcome = process_invoice(
                        session,
                        invoice_id,
                        plan=plan,
                        now=now,
                        settings=settings,
                        mailer=mailer,
                        credentials=credentials,
                        sftpgo=sftpgo,
                    )
            except PrimeCloudError as exc:  # a mail or backend outage: this invoice waits for the next run
                logger.warning("dunning step failed", extra={"invoice": str(invoice_id), "error": type(exc).__name__})
                stats.fail(f"invoice {invoice_id}", f"{type(exc).__name__}: {exc.detail}")
                continue
            except Exception as exc:
                logger.exception("dunning step crashed", extra={"invoice_id": str(invoice_id)})
                stats.fail(f"invoice {invoice_id}", type(exc).__name__)
                continue
            _count(stats, outcome)
        if len(batch) < BATCH_SIZE:
            return
        after = batch[-1]


def _count(stats: JobStats, outcome: InvoiceOutcome | None) -> None:
    stats.add("invoices_checked")
    if outcome is None:
        return
    if outcome.became_overdue:
        stats.add("invoices_overdue")
    if outcome.reminder_stage is not None:
        stats.add(f"reminders_stage_{outcome.reminder_stage}")
    if outcome.skipped_stages:
        stats.add("reminder_stages_skipped", len(outcome.skipped_stages))
    if outcome.suspended:
        stats.add("accounts_suspended")
    if outcome.emails:
        stats.add("emails_sent", outcome.emails)
    if outcome.notifications:
        stats.add("notifications", outcome.notifications)


def _invoices_needing_action(
    session: Session, plan: DunningPlan, now: datetime, after: tuple[datetime, UUID] | None
) -> list[tuple[datetime, UUID]]:
    """Unpaid invoices past due that are open or late enough for their next stage, by due date."""
    next_days = case(plan.next_stage_days(), value=Invoice.reminder_stage, else_=literal(plan.suspend_days))
    statement = select(Invoice.due_at, Invoice.id).where(
        Invoice.status.in_(suspension.UNPAID_STATUSES),
        Invoice.due_at < now,
        Invoice.reminder_stage < plan.suspension_stage,
        or_(
            Invoice.status == InvoiceStatus.OPEN.value,
            Invoice.due_at + func.make_interval(0, 0, 0, next_days) <= now,
        ),
    )
    if after is not None:
        statement = statement.where(tuple_(Invoice.due_at, Invoice.id) > tuple_(*after))
    rows = session.execute(statement.order_by(Invoice.due_at, Invoice.id).limit(BATCH_SIZE))
    return [(due_at, invoice_id) for due_at, invoice_id in rows if due_at is not None]


def process_invoice(
    session: Session,
    invoice_id: UUID,
    *,
    plan: DunningPlan,
    now: datetime,
    settings: Settings,
    mailer: Mailer,
    credentials: suspension.TenantCredentialsFactory,
    sftpgo: suspension.SftpGoFactory,
) -> InvoiceOutcome | None:
    """What is due for one invoice, in the caller's transaction; None when nothing was (paid meanwhile...)."""
    invoice = session.scalar(select(Invoice).where(Invoice.id == invoice_id).with_for_update())
    if invoice is None or invoice.status not in suspension.UNPAID_STATUSES or invoice.due_at is None:
        return None
    if invoice.due_at >= now:
        return None
    actor = Actor.system(JOB)
    outcome = InvoiceOutcome()
    if invoice.status == InvoiceStatus.OPEN.value:
        invoice.status = InvoiceStatus.OVERDUE.value
        audit.record(
            session,
            actor,
            "invoice.overdue",
            account_id=invoice.account_id,
            target_type="invoice",
            target_id=invoice.id,
            old={"status": InvoiceStatus.OPEN.value},
            new={"status": InvoiceStatus.OVERDUE.value},
        )
        outcome.became_overdue = True
    session.flush()
    days_late = (now - invoice.due_at).days
    previous_stage = invoice.reminder_stage
    if days_late >= plan.suspend_days:
        if _claim_stage(session, invoice, plan.suspension_stage):
            outcome.skipped_stages = list(range(previous_stage + 1, plan.suspension_stage))
            _record_stage(
                session, actor, invoice, previous=previous_stage, stage=plan.suspension_stage, days_late=days_late
            )
            outcome.suspended = suspension.suspend_for_nonpayment(
                session,
                invoice.account_id,
                invoice_id=invoice.id,
                actor=actor,
                now=now,
                credentials=credentials,
                sftpgo=sftpgo,
            )
            if outcome.suspended:
                outcome.emails = _send_suspension_emails(session, invoice, mailer, settings, days_late)
        return outcome
    stage = plan.reminder_stage_for(days_late)
    if stage > previous_stage and _claim_stage(session, invoice, stage):
        outcome.reminder_stage = stage
        outcome.skipped_stages = list(range(previous_stage + 1, stage))
        _record_stage(session, actor, invoice, previous=previous_stage, stage=stage, days_late=days_late)
        sent = _remind(
            session,
            invoice,
            stage=stage,
            days_late=days_late,
            skipped=outcome.skipped_stages,
            mailer=mailer,
            settings=settings,
            now=now,
        )
        outcome.notifications, outcome.emails = sent
    return outcome


def _claim_stage(session: Session, invoice: Invoice, stage: int) -> bool:
    """Move the invoice to ``stage`` unless it is there already (or further): True when this call did."""
    result = session.execute(
        update(Invoice)
        .where(Invoice.id == invoice.id, Invoice.reminder_stage < stage)
        .values(reminder_stage=stage, updated_at=func.now())
        .returning(Invoice.id),
        execution_options={"synchronize_session": False},
    )
    claimed = result.first() is not None
    if claimed:
        session.refresh(invoice, ["reminder_stage"])
    return claimed


def _record_stage(
    session: Session, actor: Actor, invoice: Invoice, *, previous: int, stage: int, days_late: int
) -> None:
    audit.record(
        session,
        actor,
        "invoice.dunning_stage",
        account_id=invoice.account_id,
        target_type="invoice",
        target_id=invoice.id,
        old={"reminder_stage": previous},
        new={"reminder_stage": stage, "days_overdue": days_late, "skipped_stages": list(range(previous + 1, stage))},
    )


def _amount_due(invoice: Invoice) -> Decimal:
    return invoice.total - invoice.amount_paid


def _label(invoice: Invoice) -> str:
    return invoice.number or f"of {invoice.created_at:%Y-%m-%d}"


def _remind(
    session: Session,
    invoice: Invoice,
    *,
    stage: int,
    days_late: int,
    skipped: list[int],
    mailer: Mailer,
    settings: Settings,
    now: datetime,
) -> tuple[int, int]:
    account = session.get_one(Account, invoice.account_id)
    amount = f"{_amount_due(invoice)} {invoice.currency}"
    due = f"{invoice.due_at:%Y-%m-%d}"
    title = f"Invoice {_label(invoice)} is {days_late} day{'s' if days_late != 1 else ''} overdue"
    body = f"{amount} was due on {due}. Please pay it to keep {account.name} active."
    made = notifications.notify(
        session,
        account_id=account.id,
        roles=notifications.BILLING_ROLES,
        type="invoice.reminder",
        title=title,
        body=body,
        data={
            "invoice_id": str(invoice.id),
            "number": invoice.number,
            "stage": stage,
            "skipped_stages": skipped,
            "days_overdue": days_late,
            "amount_due": str(_amount_due(invoice)),
            "currency": invoice.currency,
            "due_at": invoice.due_at.isoformat() if invoice.due_at else None,
        },
    )
    text = (
        f"Hello,\n\ninvoice {_label(invoice)} of {account.name} ({amount}) was due on {due} and is "
        f"{days_late} days overdue. Please pay it; an account whose invoice is still unpaid "
        f"{settings.dunning_suspend_days} days after its due date is suspended.\n\n"
        f"Your invoices are in the console: {_invoices_link(settings, account)}\n"
    )
    emails = _send(mailer, notifications.billing_recipients(session, account), f"Payment reminder: {title}", text)
    notifications.mark_emailed(session, made, now)
    return len(made), emails


def _send_suspension_emails(
    session: Session, invoice: Invoice, mailer: Mailer, settings: Settings, days_late: int
) -> int:
    account = session.get_one(Account, invoice.account_id)
    text = (
        f"Hello,\n\n{account.name} is suspended: invoice {_label(invoice)} "
        f"({_amount_due(invoice)} {invoice.currency}) is {days_late} days overdue. Its data stays readable, "
        "but nothing can be created or uploaded, and its access keys and SFTP logins are disabled until the "
        "invoice is paid; paying it reactivates everything.\n\n"
        f"Your invoices are in the console: {_invoices_link(settings, account)}\n"
    )
    return _send(
        mailer, notifications.billing_recipients(session, account), f"{account.name} is suspended for non-payment", text
    )


def _invoices_link(settings: Settings, account: Account) -> str:
    return f"{settings.public_base_url.rstrip('/')}/accounts/{account.id}/invoices"


def _send(mailer: Mailer, recipients: list[str], subject: str, text: str) -> int:
    for recipient in recipients:
        mailer.send(Email(to=recipient, subject=subject, text=text))
    return len(recipients)
