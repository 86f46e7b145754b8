"""Suspending and reactivating accounts: the status, the backend credentials, the members' notice, the audit entry.

Two causes suspend an account: dunning (an invoice unpaid past the grace period,
``suspend_for_nonpayment``) and platform staff (``suspend_by_staff``). Both disable the account's
active access keys in the storage backend and its SFTP users in SftpGo (the hooks in
``access_keys`` and ``sftp_users`` record what they switched, so reactivation switches back exactly
those), tell every member and write an ``account.suspend`` audit entry naming the cause.

All or nothing: a backend that fails on any credential makes the whole call raise ``Unavailable``
(503 on a route, a retry on the next run of the job); the database changes roll back with the
transaction and what was already switched in the backends is switched back (compensation).

A full payment lifts only a suspension for nonpayment (``reactivate_after_payment``), and only
once no other invoice of the account is unpaid past the grace period; staff lift any suspension.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from primecloud.actor import Actor
from primecloud.adapters.email import Mailer
from primecloud.config import Settings
from primecloud.enums import AccessKeyStatus, AccountStatus, InvoiceStatus
from primecloud.errors import Conflict, NotFound, PrimeCloudError, Unavailable
from primecloud.models.billing import Invoice
from primecloud.models.iam import Account
from primecloud.models.storage import AccessKey
from primecloud.models.system import AuditLog
from primecloud.observability import logger
from primecloud.schemas.iam import AccountOut
from primecloud.services import access_keys, audit, notifications, sftp_users

if TYPE_CHECKING:
    from primecloud.adapters.sftpgo import SftpGoClient
    from primecloud.adapters.storage import TenantCredentials

NONPAYMENT = "nonpayment"
STAFF = "staff"
UNPAID_STATUSES = (InvoiceStatus.OPEN.value, InvoiceStatus.OVERDUE.value)

# The backends come as factories (``registry.tenant_credentials``, ``registry.sftpgo``): built only
# when an account's status changes, SftpGo only when the account has SFTP users.
SftpGoFactory = Callable[[], "SftpGoClient"]
TenantCredentialsFactory = Callable[[], "TenantCredentials"]


# --------------------------------------------------------------------------- dunning


def suspend_for_nonpayment(
    session: Session,
    account_id: UUID,
    *,
    invoice_id: UUID,
    actor: Actor,
    now: datetime,
    credentials: TenantCredentialsFactory,
    sftpgo: SftpGoFactory,
) -> bool:
    """Suspend the account for the unpaid ``invoice_id``; False when it is not active (or gone).

    Raises ``Unavailable`` when a backend fails; the caller's transaction must then roll back.
    """
    account = _locked_account(session, account_id)
    if account is None or account.status != AccountStatus.ACTIVE.value:
        return False
    _suspend(
        session,
        actor,
        account,
        cause=NONPAYMENT,
        reason="Invoice unpaid past the grace period",
        details={"invoice_id": str(invoice_id), "at": now.isoformat()},
        credentials=credentials,
        sftpgo=sftpgo,
    )
    return True


def reactivate_after_payment(
    session: Session,
    account_id: UUID,
    *,
    actor: Actor,
    now: datetime,
    credentials: TenantCredentialsFactory,
    sftpgo: SftpGoFactory,
    settings: Settings,
    mailer: Mailer | None = None,
) -> bool:
    """After a full payment: lift a suspension for nonpayment; False when there is nothing to lift.

    With a ``mailer`` the billing contact is told by email too (a failed send is logged: the
    account is active either way, and the in-app notification says so).

    Nothing is lifted when the account is not suspended, when staff suspended it (their
    suspension is theirs to lift), or while another invoice is still unpaid past the grace period.
    Raises ``Unavailable`` when a backend fails (the caller's transaction must roll back).
    """
    account = _locked_account(session, account_id)
    if account is None or account.status != AccountStatus.SUSPENDED.value:
        return False
    cause = _latest_suspension_cause(session, account_id)
    if cause != NONPAYMENT:
        logger.info("payment does not lift this suspension", extra={"account_id": str(account_id), "cause": cause})
        return False
    grace = timedelta(days=settings.dunning_suspend_days)
    still_unpaid = session.scalar(
        select(
            exists().where(
                Invoice.account_id == account_id,
                Invoice.status.in_(UNPAID_STATUSES),
                Invoice.due_at <= now - grace,
            )
        )
    )
    if still_unpaid:
        return False
    notification_ids = _reactivate(
        session,
        actor,
        account,
        cause=NONPAYMENT,
        reason="Overdue invoices paid",
        credentials=credentials,
        sftpgo=sftpgo,
    )
    if mailer is not None:
        _mail_reactivation(session, account, mailer, notification_ids, now)
    return True


def _mail_reactivation(
    session: Session, account: Account, mailer: Mailer, notification_ids: list[UUID], now: datetime
) -> None:
    text = (
        f"Hello,\n\nthe overdue invoices of {account.name} are paid, and the account is active again: "
        "its access keys and SFTP logins work as before.\n\nPrimeCloud billing\n"
    )
    notifications.mail_billing_contacts(
        session,
        account,
        mailer,
        subject=f"{account.name} is active again",
        text=text,
        notification_ids=notification_ids,
        now=now,
    )


# --------------------------------------------------------------------------- platform staff


def suspend_by_staff(
    session: Session,
    actor: Actor,
    account_id: UUID,
    reason: str | None,
    *,
    credentials: TenantCredentialsFactory,
    sftpgo: SftpGoFactory,
) -> AccountOut:
    """Staff suspend an active account (404 unknown or closed, 409 not active)."""
    account = _staff_target(session, account_id, AccountStatus.ACTIVE, AccountStatus.SUSPENDED)
    _suspend(session, actor, account, cause=STAFF, reason=reason, details={}, credentials=credentials, sftpgo=sftpgo)
    return AccountOut.model_validate(account)


def reactivate_by_staff(
    session: Session,
    actor: Actor,
    account_id: UUID,
    reason: str | None,
    *,
    credentials: TenantCredentialsFactory,
    sftpgo: SftpGoFactory,
) -> AccountOut:
    """Staff reactivate a suspended account, whatever suspended it (404 unknown or closed, 409 not suspended)."""
    account = _staff_target(session, account_id, AccountStatus.SUSPENDED, AccountStatus.ACTIVE)
    _reactivate(session, actor, account, cause=STAFF, reason=reason, credentials=credentials, sftpgo=sftpgo)
    return AccountOut.model_validate(account)


def _staff_target(session: Session, account_id: UUID, from_status: AccountStatus, to_status: AccountStatus) -> Account:
    account = _locked_account(session, account_id)
    if account is None:
        raise NotFound("No such account.")
    if account.status != from_status:
        raise Conflict(f"The account is {account.status}; only a {from_status} account can become {to_status}.")
    return account


# --------------------------------------------------------------------------- the work


def _locked_account(session: Session, account_id: UUID) -> Account | None:
    return session.scalar(
        select(Account).where(Account.id == account_id, Account.deleted_at.is_(None)).with_for_update()
    )


def _backends(
    credentials: TenantCredentialsFactory, sftpgo: SftpGoFactory
) -> tuple[TenantCredentials, sftp_users.SftpBackends]:
    tenant_credentials = credentials()
    return tenant_credentials, sftp_users.SftpBackends(sftpgo=sftpgo, credentials=lambda: tenant_credentials)


def _suspend(
    session: Session,
    actor: Actor,
    account: Account,
    *,
    cause: str,
    reason: str | None,
    details: dict[str, Any],
    credentials: TenantCredentialsFactory,
    sftpgo: SftpGoFactory,
) -> None:
    tenant_credentials, sftp_backends = _backends(credentials, sftpgo)
    account.status = AccountStatus.SUSPENDED.value
    session.flush()
    keys_disabled = access_keys.disable_all_for_account(session, tenant_credentials, account.id, actor=actor)
    keys_left = session.scalar(
        select(func.count())
        .select_from(AccessKey)
        .where(AccessKey.account_id == account.id, AccessKey.status == AccessKeyStatus.ACTIVE.value)
    )
    if keys_left:
        raise Unavailable("The storage backend did not disable every access key; the account stays active.")
    logins = sftp_users.disable_all_for_account(session, actor, account.id, sftp_backends, reason="account_suspended")
    if logins.failed:
        raise Unavailable("SftpGo did not disable every SFTP user; the account stays active.")
    _record_status_change(
        session,
        actor,
        account,
        to=AccountStatus.SUSPENDED,
        cause=cause,
        reason=reason,
        details=details,
        counts={"access_keys_disabled": keys_disabled, "sftp_users_disabled": len(logins.changed)},
        title=f"{account.name} is suspended: it can be read and invoices paid, nothing created or changed.",
    )


def _reactivate(
    session: Session,
    actor: Actor,
    account: Account,
    *,
    cause: str,
    reason: str | None,
    credentials: TenantCredentialsFactory,
    sftpgo: SftpGoFactory,
) -> list[UUID]:
    tenant_credentials, sftp_backends = _backends(credentials, sftpgo)
    account.status = AccountStatus.ACTIVE.value
    session.flush()
    keys_enabled = access_keys.enable_suspended_for_account(session, tenant_credentials, account.id, actor=actor)
    if _keys_left_suspended(session, account.id):
        raise Unavailable("The storage backend did not enable every suspended access key; the account stays suspended.")
    logins = sftp_users.enable_for_account(session, actor, account.id, sftp_backends, reason="account_reactivated")
    if logins.failed and not _all_missing_in_sftpgo(sftp_backends, logins.failed):
        raise Unavailable("SftpGo did not enable every SFTP user; the account stays suspended.")
    return _record_status_change(
        session,
        actor,
        account,
        to=AccountStatus.ACTIVE,
        cause=cause,
        reason=reason,
        details={},
        counts={"access_keys_enabled": keys_enabled, "sftp_users_enabled": len(logins.changed)},
        title=f"{account.name} is active again.",
    )


def _record_status_change(
    session: Session,
    actor: Actor,
    account: Account,
    *,
    to: AccountStatus,
    cause: str,
    reason: str | None,
    details: dict[str, Any],
    counts: dict[str, int],
    title: str,
) -> list[UUID]:
    """The audit entry and every member's notification of a suspension or reactivation."""
    suspended = to == AccountStatus.SUSPENDED
    was = AccountStatus.ACTIVE if suspended else AccountStatus.SUSPENDED
    audit.record(
        session,
        actor,
        "account.suspend" if suspended else "account.reactivate",
        account_id=account.id,
        target_type="account",
        target_id=account.id,
        old={"status": was.value},
        new={"status": to.value, "reason": reason, "cause": cause, **details, **counts},
        severity="warning",
    )
    notification_ids = notifications.notify(
        session,
        account_id=account.id,
        type="account.suspended" if suspended else "account.reactivated",
        title=title,
        body=reason or "",
        data={"account_id": str(account.id), "status": to.value, "cause": cause, **details},
    )
    session.flush()
    return notification_ids


def _latest_suspension_cause(session: Session, account_id: UUID) -> str | None:
    """What suspended the account last: ``nonpayment``, ``staff`` (older entries name no cause: staff)."""
    new_value = session.scalar(
        select(AuditLog.new_value)
        .where(AuditLog.account_id == account_id, AuditLog.action == "account.suspend")
        .order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
        .limit(1)
    )
    if new_value is None:
        return None
    return str(new_value.get("cause") or STAFF)


def _keys_left_suspended(session: Session, account_id: UUID) -> bool:
    """Whether a key the suspension disabled is still disabled (the backend refused to enable it)."""
    disabled = [
        str(key_id)
        for key_id in session.scalars(
            select(AccessKey.id).where(
                AccessKey.account_id == account_id, AccessKey.status == AccessKeyStatus.DISABLED.value
            )
        )
    ]
    if not disabled:
        return False
    latest: dict[str | None, Any] = {}
    for target_id, new_value in session.execute(
        select(AuditLog.target_id, AuditLog.new_value)
        .where(
            AuditLog.account_id == account_id,
            AuditLog.action == "access_key.update",
            AuditLog.target_type == access_keys.TARGET_TYPE,
            AuditLog.target_id.in_(disabled),
            AuditLog.new_value.has_key("status"),
        )
        .order_by(AuditLog.created_at.desc())
    ):
        latest.setdefault(target_id, (new_value or {}).get("reason"))
    return any(reason == access_keys.SUSPENSION for reason in latest.values())


def _all_missing_in_sftpgo(backends: sftp_users.SftpBackends, logins: list[str]) -> bool:
    """Users SftpGo lost cannot be let in again, and nobody can log in as them: that does not block reactivation."""
    from primecloud.adapters.sftpgo import SftpUserNotFound

    client = backends.sftpgo()
    for login in logins:
        try:
            client.get_user(login)
        except SftpUserNotFound:
            logger.warning("sftp user missing in sftpgo stays disabled", extra={"login": login})
            continue
        except PrimeCloudError:
            return False
        return False
    return True
