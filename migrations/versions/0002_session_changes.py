"""Row-level security on every tenant table, and the application's non-owner role.

The application connects as a login role that is a member of ``primecloud_app`` (no ownership,
no BYPASSRLS); migrations run as the owner. Every tenant table gets FORCE ROW LEVEL SECURITY
and one policy: when the transaction names a tenant (``set_config('primecloud.account_id',
<uuid>, true)``, done by the API's account check, transaction-local so RDS Proxy never pins),
only that account's rows are visible and writable; a transaction that names none (sign-in,
the caller's own profile, platform staff, scheduled jobs) is not narrowed. Rows of a child table
follow their parent (a bucket's grants, tags, favorites and shares; an invoice's lines and
document). In tables with an optional account (audit log, notifications, idempotency keys) a
narrowed transaction sees the account-less rows of its own user (``primecloud.user_id``) only.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "primecloud_app"

ACCOUNT_TABLES = [
    "account_members",
    "invitations",
    "api_keys",
    "buckets",
    "access_keys",
    "sftp_users",
    "usage_records",
    "invoices",
    "transactions",
    "orders",
    "subscriptions",
]
# table -> the column naming the user an account-less row belongs to
OPTIONAL_ACCOUNT_TABLES = {"audit_logs": "actor_user_id", "notifications": "user_id", "idempotency_keys": "user_id"}
BUCKET_CHILD_TABLES = ["bucket_permissions", "object_favorites", "object_tags", "object_shares"]
INVOICE_CHILD_TABLES = ["invoice_lines", "customer_invoices"]


def _policies() -> dict[str, tuple[str, str]]:
    """table -> (USING, WITH CHECK): which rows a transaction sees, which it may write."""
    # (SELECT ...) makes the setting an init plan: read once per statement, not once per row.
    tenant = "(SELECT primecloud_tenant())"
    own = f"({tenant} IS NULL OR account_id = {tenant})"
    account = f"({tenant} IS NULL OR id = {tenant})"
    policies: dict[str, tuple[str, str]] = {"accounts": (account, account)}
    for table in ACCOUNT_TABLES:
        policies[table] = (own, own)
    # An account-less row (a sign-in, a personal notification) is visible to its own user only.
    for table, user_column in OPTIONAL_ACCOUNT_TABLES.items():
        mine = f"account_id IS NULL AND {user_column} = (SELECT primecloud_user())"
        policies[table] = (f"{own} OR ({mine})", f"account_id IS NULL OR {own}")
    # The parent's own policy filters the subquery, so a child is visible exactly when its parent is.
    for table in BUCKET_CHILD_TABLES:
        rule = "EXISTS (SELECT 1 FROM buckets b WHERE b.id = bucket_id)"
        policies[table] = (rule, rule)
    for table in INVOICE_CHILD_TABLES:
        rule = "EXISTS (SELECT 1 FROM invoices i WHERE i.id = invoice_id)"
        policies[table] = (rule, rule)
    return policies


def upgrade() -> None:
    # --- lead: row-level security and the application role ------------------------------------
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                CREATE ROLE {APP_ROLE} NOLOGIN NOINHERIT NOBYPASSRLS;
            END IF;
        END
        $$
        """
    )
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
    op.execute(f"REVOKE ALL ON alembic_version FROM {APP_ROLE}")
    op.execute(f"GRANT SELECT ON alembic_version TO {APP_ROLE}")  # /health/ready may report the revision
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE}"
    )
    # STABLE SQL functions: inlined by the planner, evaluated once per statement for the setting.
    op.execute(
        """
        CREATE FUNCTION primecloud_tenant() RETURNS uuid
        LANGUAGE sql STABLE PARALLEL SAFE
        AS $$ SELECT NULLIF(current_setting('primecloud.account_id', true), '')::uuid $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION primecloud_user() RETURNS uuid
        LANGUAGE sql STABLE PARALLEL SAFE
        AS $$ SELECT NULLIF(current_setting('primecloud.user_id', true), '')::uuid $$
        """
    )
    op.execute(f"GRANT EXECUTE ON FUNCTION primecloud_tenant(), primecloud_user() TO {APP_ROLE}")
    for table, (visible, writable) in _policies().items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_isolation ON {table} USING ({visible}) WITH CHECK ({writable})")

    # --- billing (helper B): a bucket belongs to one account, so (account, bucket, metric) has about
    # as many values as (bucket, metric); without this the planner multiplies the three and expects
    # ~75x too many usage series, and run_billing's aggregation loses its parallel hash plan.
    op.execute(
        "CREATE STATISTICS IF NOT EXISTS st_usage_records_series (ndistinct)"
        " ON account_id, bucket_id, metric FROM usage_records"
    )


def downgrade() -> None:
    # --- billing (helper B) -------------------------------------------------------------------
    op.execute("DROP STATISTICS IF EXISTS st_usage_records_series")
    # --- lead ---------------------------------------------------------------------------------
    for table in _policies():
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute("DROP FUNCTION IF EXISTS primecloud_tenant()")
    op.execute("DROP FUNCTION IF EXISTS primecloud_user()")
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {APP_ROLE}"
    )
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP_ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {APP_ROLE}")
    # The role itself stays: login roles made for the application are members of it.
