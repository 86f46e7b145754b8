"""Row-level security fails closed; only the purge's role deletes audit entries.

0002's policies narrowed a transaction once it named a tenant and let one that named none see
every tenant. From here a transaction sees:

- with a tenant (``primecloud.account_id``, set by the API's account check): that account's rows,
  and account-less rows of its user (as before);
- with no tenant: the rows that belong to its user (``primecloud.user_id``): their memberships,
  the accounts they are a member of, their own notifications, audit entries and idempotency keys;
- everything only under the system scope (``primecloud.scope = 'system'``), set transaction-locally
  by ``primecloud.db.system_scope`` for the jobs, platform staff, the authorizer's token lookup and
  the public token lookups, with its reason logged;
- nothing of any tenant otherwise.

``audit_logs`` loses UPDATE and DELETE for ``primecloud_app``: the application inserts and reads
entries. The retention purge switches to ``primecloud_purge`` (``SET LOCAL ROLE``) for its
deletions and for unlinking a purged account's entries; ``primecloud_app`` is a member of it, so
every application login may switch, and nothing else changes for them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "primecloud_app"
PURGE_ROLE = "primecloud_purge"


def _revision_0002() -> Any:
    spec = importlib.util.spec_from_file_location(
        "primecloud_0002", Path(__file__).with_name("0002_session_changes.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _policies() -> dict[str, tuple[str, str]]:
    """table -> (USING, WITH CHECK), failing closed (see the module's docstring)."""
    previous = _revision_0002()
    # (SELECT ...): an init plan, read once per statement.
    tenant, user, system = "(SELECT primecloud_tenant())", "(SELECT primecloud_user())", "(SELECT primecloud_system())"

    def unnarrowed(own: str | None = None) -> str:
        return f"({tenant} IS NULL AND ({system}" + (f" OR {own}))" if own else "))")

    member = f"EXISTS (SELECT 1 FROM account_members m WHERE m.account_id = accounts.id AND m.user_id = {user})"  # noqa: S608
    account = f"(id = {tenant} OR {unnarrowed(member)})"
    policies: dict[str, tuple[str, str]] = {"accounts": (account, account)}
    for table in previous.ACCOUNT_TABLES:
        mine = f"user_id = {user}" if table == "account_members" else None
        rule = f"(account_id = {tenant} OR {unnarrowed(mine)})"
        policies[table] = (rule, rule)
    for table, user_column in previous.OPTIONAL_ACCOUNT_TABLES.items():
        mine = f"{user_column} = {user}"
        narrowed = f"account_id = {tenant} OR (account_id IS NULL AND {mine})"
        # A narrowed transaction may still write another user's account-less row (an invitee's notice).
        policies[table] = (
            f"({narrowed} OR {unnarrowed(mine)})",
            f"(account_id IS NULL OR account_id = {tenant} OR {unnarrowed(mine)})",
        )
    # Children follow their parent's policy through the subquery, as in 0002.
    for table in previous.BUCKET_CHILD_TABLES:
        rule = "EXISTS (SELECT 1 FROM buckets b WHERE b.id = bucket_id)"
        policies[table] = (rule, rule)
    for table in previous.INVOICE_CHILD_TABLES:
        rule = "EXISTS (SELECT 1 FROM invoices i WHERE i.id = invoice_id)"
        policies[table] = (rule, rule)
    return policies


def _replace_policies(policies: dict[str, tuple[str, str]]) -> None:
    for table, (visible, writable) in policies.items():
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
        op.execute(f"CREATE POLICY tenant_isolation ON {table} USING ({visible}) WITH CHECK ({writable})")


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION primecloud_system() RETURNS boolean
        LANGUAGE sql STABLE PARALLEL SAFE
        AS $$ SELECT coalesce(current_setting('primecloud.scope', true), '') = 'system' $$
        """
    )
    op.execute(f"GRANT EXECUTE ON FUNCTION primecloud_system() TO {APP_ROLE}")
    _replace_policies(_policies())

    op.execute(f"REVOKE UPDATE, DELETE ON audit_logs FROM {APP_ROLE}")
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{PURGE_ROLE}') THEN
                CREATE ROLE {PURGE_ROLE} NOLOGIN NOINHERIT NOBYPASSRLS;
            END IF;
        END
        $$
        """
    )
    op.execute(f"GRANT USAGE ON SCHEMA public TO {PURGE_ROLE}")
    op.execute(f"GRANT SELECT, DELETE, UPDATE (account_id) ON audit_logs TO {PURGE_ROLE}")
    op.execute(f"GRANT EXECUTE ON FUNCTION primecloud_tenant(), primecloud_user(), primecloud_system() TO {PURGE_ROLE}")
    # Membership lets every application login SET ROLE to it; primecloud_app is NOINHERIT, so its
    # members do not hold the purge's DELETE without switching.
    op.execute(f"GRANT {PURGE_ROLE} TO {APP_ROLE}")


def downgrade() -> None:
    op.execute(f"REVOKE {PURGE_ROLE} FROM {APP_ROLE}")
    op.execute(f"REVOKE ALL ON audit_logs FROM {PURGE_ROLE}")
    op.execute(f"REVOKE ALL ON FUNCTION primecloud_tenant(), primecloud_user(), primecloud_system() FROM {PURGE_ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {PURGE_ROLE}")
    # The role itself stays (roles are the cluster's, like 0002's primecloud_app).
    op.execute(f"GRANT UPDATE, DELETE ON audit_logs TO {APP_ROLE}")
    policies = _revision_0002()._policies()
    _replace_policies(policies)
    op.execute("DROP FUNCTION IF EXISTS primecloud_system()")
