"""Soft-deleted accounts past retention: backends first, then the rows; an account with financial records
is anonymized and stripped instead (see the package docstring)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from primecloud.db import as_purge_role
from primecloud.errors import PrimeCloudError
from primecloud.observability import logger
from primecloud.services.retention.buckets import remove_backend_bucket
from primecloud.services.retention.rules import ACCOUNT_CANDIDATES, BUCKET_CHILDREN, FINANCIAL, ROW_BATCH

if TYPE_CHECKING:
    from primecloud.services.retention.purge import Purge


# Bounded batches that shed an account's bulk before its own transaction.
_USAGE_BATCH = "DELETE FROM usage_records WHERE id IN (SELECT id FROM usage_records WHERE account_id = :a LIMIT :n)"
_UNINVOICED_USAGE_BATCH = (
    "DELETE FROM usage_records WHERE id IN"
    " (SELECT id FROM usage_records WHERE account_id = :a AND invoice_id IS NULL LIMIT :n)"
)
_AUDIT_UNLINK_BATCH = (
    "UPDATE audit_logs SET account_id = NULL WHERE id IN (SELECT id FROM audit_logs WHERE account_id = :a LIMIT :n)"
)

# Members of an account who are members of no other account (their only account is being purged).
_SOLE_MEMBERS = (
    "SELECT u.* FROM users u JOIN account_members m ON m.user_id = u.id"
    " WHERE u.status <> 'deleted' AND NOT u.is_platform_admin"
    " AND NOT EXISTS (SELECT 1 FROM account_members o WHERE o.user_id = u.id AND o.account_id <> m.account_id)"
)


def _account_ids(purge: Purge) -> list[tuple[UUID, bool]]:
    with purge.clock.transaction(purge.sessions) as connection:
        return [
            (row.id, bool(row.financial))
            for row in connection.execute(
                text(
                    f"SELECT a.id, ({FINANCIAL}) AS financial FROM accounts a"  # noqa: S608 - constants
                    f" WHERE {ACCOUNT_CANDIDATES} ORDER BY a.deleted_at, a.id"
                ),
                {"accounts": purge.cut["accounts"]},
            )
        ]


def purge_accounts(purge: Purge) -> None:
    for account_id, financial in _account_ids(purge):
        try:
            _purge_account_backends(purge, account_id)
            shed = _shed_account_rows(purge, account_id, financial)
            _purge_account_rows(purge, account_id, financial, shed)
        except PrimeCloudError as exc:
            logger.warning("account purge failed", extra={"account_id": str(account_id), "error": exc.detail})
            purge.stats.fail(f"account:{account_id}", f"{type(exc).__name__}: {exc.detail}")


def _purge_account_backends(purge: Purge, account_id: UUID) -> None:
    with purge.clock.transaction(purge.sessions) as connection:
        buckets = connection.execute(
            text("SELECT id, name FROM buckets WHERE account_id = :a AND status <> 'deleted' ORDER BY id"),
            {"a": account_id},
        ).all()
        key_ids = list(
            connection.execute(
                text("SELECT access_key_id FROM access_keys WHERE account_id = :a AND status <> 'revoked'"),
                {"a": account_id},
            ).scalars()
        )
        logins = list(
            connection.execute(
                text("SELECT username FROM sftp_users WHERE account_id = :a AND deleted_at IS NULL"),
                {"a": account_id},
            ).scalars()
        )
    # Credentials first: a bucket name is released only once no credential can name it.
    if key_ids:
        credentials = purge.backends.credentials()
        for key_id in key_ids:
            credentials.delete(key_id)
    if logins:
        from primecloud.services.sftp_users import _s3_access_key_id as s3_access_key_id

        client = purge.backends.sftpgo()
        for login in logins:
            sftp_key_id = s3_access_key_id(client, login)
            if sftp_key_id is not None:
                purge.backends.credentials().delete(sftp_key_id)
            client.delete_user(login)
    for bucket in buckets:
        remove_backend_bucket(purge, bucket.id, bucket.name)


def _shed_account_rows(purge: Purge, account_id: UUID, financial: bool) -> int:
    """Before the account's own transaction, shed its bulk in bounded batches: its usage records
    (only the uninvoiced ones when the account stays) and, when it goes, its audit entries' link
    (audit_logs.account_id is SET NULL). Returns the usage records deleted."""
    usage = _UNINVOICED_USAGE_BATCH if financial else _USAGE_BATCH
    statements = [usage] if financial else [usage, _AUDIT_UNLINK_BATCH]
    usage_deleted = 0
    for statement in statements:
        while True:
            with purge.clock.transaction(purge.sessions) as connection:
                if statement is _AUDIT_UNLINK_BATCH:
                    as_purge_role(connection)
                changed = connection.execute(text(statement), {"a": account_id, "n": ROW_BATCH * 10}).rowcount
            if statement is usage:
                usage_deleted += changed
            if changed < ROW_BATCH * 10:
                break
    return usage_deleted


def _purge_account_rows(purge: Purge, account_id: UUID, financial: bool, usage_shed: int) -> None:
    from primecloud.models.iam import Account, User
    from primecloud.services import audit, users

    with purge.clock.session(purge.sessions) as session:
        account = session.scalar(
            select(Account)
            .where(
                Account.id == account_id,
                Account.deleted_at < purge.cut["accounts"],
                Account.settings["purged_at"].astext.is_(None),
            )
            .with_for_update()
        )
        if account is None:  # purged or restored meanwhile
            return
        params = {"a": account_id}
        counts = {
            "account_buckets": session.execute(
                text("SELECT count(*) FROM buckets WHERE account_id = :a AND status <> 'deleted'"), params
            ).scalar_one(),
            "access_keys": session.execute(
                text("SELECT count(*) FROM access_keys WHERE account_id = :a"), params
            ).scalar_one(),
            "sftp_users": session.execute(
                text("SELECT count(*) FROM sftp_users WHERE account_id = :a AND deleted_at IS NULL"), params
            ).scalar_one(),
        }
        sole_members = list(
            session.scalars(
                select(User)
                .from_statement(text(_SOLE_MEMBERS + " AND m.account_id = :a ORDER BY u.id FOR UPDATE OF u"))
                .params(a=account_id)
            )
        )
        if financial:
            counts["usage_records"] = usage_shed + _strip_financial_account(purge, session, account)
            counts["accounts_anonymized"] = 1
        else:
            session.execute(text("DELETE FROM accounts WHERE id = :a"), params)
            counts["accounts_deleted"] = 1
        for user in sole_members:
            users.anonymize_user(session, user, purge.now)
        counts["users_anonymized"] = len(sole_members)
        audit.record(
            session,
            purge.actor,
            "account.purge",
            account_id=account_id if financial else None,
            target_type="account",
            target_id=account_id,
            new={"anonymized" if financial else "deleted": True, **counts},
            severity="warning",
        )
    for kind, amount in counts.items():
        purge.stats.add(kind, int(amount))


def _strip_financial_account(purge: Purge, session: Session, account: Any) -> int:
    """Keep the account row for its invoices, anonymized; everything else of it goes."""
    params = {"a": account.id}
    for table in BUCKET_CHILDREN:
        session.execute(
            text(f"DELETE FROM {table} WHERE bucket_id IN (SELECT id FROM buckets WHERE account_id = :a)"),  # noqa: S608
            params,
        )
    for table in ("account_members", "invitations", "api_keys", "access_keys", "sftp_users", "notifications"):
        session.execute(text(f"DELETE FROM {table} WHERE account_id = :a"), params)  # noqa: S608 - constants
    session.execute(text("DELETE FROM idempotency_keys WHERE account_id = :a"), params)
    usage = (
        session.connection()
        .execute(text("DELETE FROM usage_records WHERE account_id = :a AND invoice_id IS NULL"), params)
        .rowcount
    )
    session.execute(
        text(
            "UPDATE buckets SET status = 'deleted', deleted_at = coalesce(deleted_at, :now)"
            " WHERE account_id = :a AND status <> 'deleted'"
        ),
        {**params, "now": purge.now},
    )
    account.name = "Deleted account"
    account.slug = f"deleted-{account.id.hex}"
    account.billing_email = None
    account.status = "closed"
    account.settings = {"purged_at": purge.now.isoformat()}
    return int(usage)
