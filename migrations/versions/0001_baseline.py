"""Baseline: the whole PrimeCloud schema (IAM, storage metadata, billing and usage, system).

Every table has a UUID primary key (gen_random_uuid(), built into PostgreSQL 13+) and
created_at/updated_at; users, accounts, buckets and sftp_users are soft-deletable. Value
sets are String columns guarded by named CHECK constraints, not native enums, so adding a
value is a one-line migration. Names follow primecloud.models.base.NAMING_CONVENTION.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

METRICS = "'storage_bytes', 'object_count', 'egress_bytes', 'ingress_bytes', 'api_requests', 'sftp_storage_bytes'"
ROLES = "'owner', 'admin', 'member', 'viewer'"
PRODUCTS = "'vps', 'backup', 'storage_plan'"


def _id() -> sa.Column[Any]:
    return sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False)


def _created_at() -> sa.Column[Any]:
    return sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False)


def _updated_at() -> sa.Column[Any]:
    return sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False)


def _deleted_at() -> sa.Column[Any]:
    return sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True)


def _at(name: str, *, nullable: bool = True) -> sa.Column[Any]:
    """A timestamptz column."""
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _jsonb(name: str, default: str | None) -> sa.Column[Any]:
    """A JSONB column: NOT NULL with ``default`` ('{}' or '[]'), or nullable without one."""
    if default is None:
        return sa.Column(name, JSONB(), nullable=True)
    return sa.Column(name, JSONB(), server_default=sa.text(f"'{default}'::jsonb"), nullable=False)


def upgrade() -> None:
    _create_iam_tables()
    _create_storage_tables()
    _create_billing_tables()
    _create_system_tables()


def _create_iam_tables() -> None:
    op.create_table(
        "users",
        _id(),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("name", sa.String(200), server_default="", nullable=False),
        sa.Column("status", sa.String(16), server_default="active", nullable=False),
        _at("email_verified_at"),
        sa.Column("is_platform_admin", sa.Boolean(), server_default=sa.false(), nullable=False),
        _at("last_login_at"),
        _created_at(),
        _updated_at(),
        _deleted_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.CheckConstraint("status IN ('active', 'suspended', 'deleted')", name=op.f("ck_users_status")),
        # Case-insensitive uniqueness; the address is stored as given.
        sa.Index(op.f("uq_users_email_lower"), sa.text("lower(email)"), unique=True),
    )

    op.create_table(
        "sessions",
        _id(),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("access_token_hash", sa.String(64), nullable=False),
        _at("access_expires_at", nullable=False),
        sa.Column("refresh_token_hash", sa.String(64), nullable=False),
        sa.Column("previous_refresh_token_hash", sa.String(64), nullable=True),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        _at("expires_at", nullable=False),
        _at("last_seen_at"),
        _at("revoked_at"),
        _created_at(),
        _updated_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_sessions_user_id_users"), ondelete="CASCADE"),
        sa.UniqueConstraint("access_token_hash", name=op.f("uq_sessions_access_token_hash")),
        sa.UniqueConstraint("refresh_token_hash", name=op.f("uq_sessions_refresh_token_hash")),
        sa.Index(op.f("ix_sessions_user_id"), "user_id"),
        sa.Index(op.f("ix_sessions_previous_refresh_token_hash"), "previous_refresh_token_hash"),
    )

    op.create_table(
        "password_reset_tokens",
        _id(),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        _at("expires_at", nullable=False),
        _at("used_at"),
        _created_at(),
        _updated_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_reset_tokens")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_password_reset_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.UniqueConstraint("token_hash", name=op.f("uq_password_reset_tokens_token_hash")),
        sa.Index(op.f("ix_password_reset_tokens_user_id"), "user_id"),
    )

    op.create_table(
        "accounts",
        _id(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("slug", sa.String(63), nullable=False),
        sa.Column("owner_user_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(16), server_default="active", nullable=False),
        sa.Column("billing_email", sa.String(320), nullable=True),
        sa.Column("currency", sa.String(3), server_default="EUR", nullable=False),
        sa.Column("tax_rate", sa.Numeric(5, 4), server_default=sa.text("0"), nullable=False),
        _jsonb("settings", "{}"),
        _created_at(),
        _updated_at(),
        _deleted_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.ForeignKeyConstraint(
            ["owner_user_id"], ["users.id"], name=op.f("fk_accounts_owner_user_id_users"), ondelete="RESTRICT"
        ),
        sa.UniqueConstraint("slug", name=op.f("uq_accounts_slug")),
        sa.CheckConstraint("status IN ('active', 'suspended', 'closed')", name=op.f("ck_accounts_status")),
        sa.CheckConstraint("tax_rate >= 0 AND tax_rate <= 1", name=op.f("ck_accounts_tax_rate_fraction")),
        sa.Index(op.f("ix_accounts_owner_user_id"), "owner_user_id"),
    )

    op.create_table(
        "account_members",
        _id(),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        _created_at(),
        _updated_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_members")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_members_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_account_members_user_id_users"), ondelete="CASCADE"
        ),
        # Leads with account_id, so it also indexes that foreign key.
        sa.UniqueConstraint("account_id", "user_id", name=op.f("uq_account_members_account_id_user_id")),
        sa.CheckConstraint(f"role IN ({ROLES})", name=op.f("ck_account_members_role")),
        sa.Index(op.f("ix_account_members_user_id"), "user_id"),
    )

    op.create_table(
        "invitations",
        _id(),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("invited_by", sa.Uuid(), nullable=True),
        _at("expires_at", nullable=False),
        _at("accepted_at"),
        _at("revoked_at"),
        _created_at(),
        _updated_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_invitations_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invited_by"], ["users.id"], name=op.f("fk_invitations_invited_by_users"), ondelete="SET NULL"
        ),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitations_token_hash")),
        sa.CheckConstraint(f"role IN ({ROLES})", name=op.f("ck_invitations_role")),
        sa.Index(op.f("ix_invitations_account_id"), "account_id"),
        sa.Index(op.f("ix_invitations_invited_by"), "invited_by"),
    )

    op.create_table(
        "api_keys",
        _id(),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("scopes", ARRAY(sa.Text()), server_default=sa.text("'{}'::text[]"), nullable=False),
        _at("last_used_at"),
        _at("expires_at"),
        _at("revoked_at"),
        _created_at(),
        _updated_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_api_keys_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_api_keys_created_by_users"), ondelete="SET NULL"
        ),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
        sa.Index(op.f("ix_api_keys_account_id"), "account_id"),
        sa.Index(op.f("ix_api_keys_created_by"), "created_by"),
        sa.Index(op.f("ix_api_keys_prefix"), "prefix"),
    )


def _create_storage_tables() -> None:
    op.create_table(
        "buckets",
        _id(),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("versioning", sa.Boolean(), server_default=sa.false(), nullable=False),
        _jsonb("lifecycle_rules", "[]"),
        sa.Column("quota_bytes", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(16), server_default="active", nullable=False),
        _created_at(),
        _updated_at(),
        _deleted_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_buckets")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_buckets_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.CheckConstraint("name ~ '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$'", name=op.f("ck_buckets_name_dns_safe")),
        sa.CheckConstraint("status IN ('active', 'suspended', 'deleting', 'deleted')", name=op.f("ck_buckets_status")),
        sa.Index(op.f("ix_buckets_account_id"), "account_id"),
        # A deleted bucket's name is free again.
        sa.Index(op.f("uq_buckets_live_name"), "name", unique=True, postgresql_where=sa.text("deleted_at IS NULL")),
    )

    op.create_table(
        "access_keys",
        _id(),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("access_key_id", sa.String(128), nullable=False),
        sa.Column("secret_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.String(16), server_default="active", nullable=False),
        sa.Column("allowed_bucket_ids", ARRAY(sa.Uuid()), server_default=sa.text("'{}'::uuid[]"), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        _at("last_used_at"),
        _created_at(),
        _updated_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_keys")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_access_keys_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_access_keys_created_by_users"), ondelete="SET NULL"
        ),
        sa.UniqueConstraint("access_key_id", name=op.f("uq_access_keys_access_key_id")),
        sa.CheckConstraint("status IN ('active', 'disabled', 'revoked')", name=op.f("ck_access_keys_status")),
        sa.Index(op.f("ix_access_keys_account_id"), "account_id"),
        sa.Index(op.f("ix_access_keys_created_by"), "created_by"),
    )

    op.create_table(
        "bucket_permissions",
        _id(),
        sa.Column("bucket_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        _created_at(),
        _updated_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bucket_permissions")),
        sa.ForeignKeyConstraint(
            ["bucket_id"],
            ["buckets.id"],
            name=op.f("fk_bucket_permissions_bucket_id_buckets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_bucket_permissions_user_id_users"), ondelete="CASCADE"
        ),
        sa.UniqueConstraint("bucket_id", "user_id", name=op.f("uq_bucket_permissions_bucket_id_user_id")),
        sa.CheckConstraint("level IN ('read', 'write', 'admin')", name=op.f("ck_bucket_permissions_level")),
        sa.Index(op.f("ix_bucket_permissions_user_id"), "user_id"),
    )

    op.create_table(
        "object_favorites",
        _id(),
        sa.Column("bucket_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("object_key", sa.String(1024), nullable=False),
        _created_at(),
        _updated_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_object_favorites")),
        sa.ForeignKeyConstraint(
            ["bucket_id"],
            ["buckets.id"],
            name=op.f("fk_object_favorites_bucket_id_buckets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_object_favorites_user_id_users"), ondelete="CASCADE"
        ),
        sa.UniqueConstraint(
            "bucket_id",
            "user_id",
            "object_key",
            name=op.f("uq_object_favorites_bucket_id_user_id_object_key"),
        ),
        sa.Index(op.f("ix_object_favorites_user_id"), "user_id"),
    )

    op.create_table(
        "object_tags",
        _id(),
        sa.Column("bucket_id", sa.Uuid(), nullable=False),
        sa.Column("object_key", sa.String(1024), nullable=False),
        sa.Column("tag_key", sa.String(128), nullable=False),
        sa.Column("tag_value", sa.String(256), nullable=False),
        _created_at(),
        _updated_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_object_tags")),
        sa.ForeignKeyConstraint(
            ["bucket_id"], ["buckets.id"], name=op.f("fk_object_tags_bucket_id_buckets"), ondelete="CASCADE"
        ),
        sa.UniqueConstraint(
            "bucket_id", "object_key", "tag_key", name=op.f("uq_object_tags_bucket_id_object_key_tag_key")
        ),
    )

    op.create_table(
        "object_shares",
        _id(),
        sa.Column("bucket_id", sa.Uuid(), nullable=False),
        sa.Column("object_key", sa.String(1024), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        _at("expires_at"),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("max_downloads", sa.Integer(), nullable=True),
        sa.Column("download_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        _at("revoked_at"),
        _created_at(),
        _updated_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_object_shares")),
        sa.ForeignKeyConstraint(
            ["bucket_id"], ["buckets.id"], name=op.f("fk_object_shares_bucket_id_buckets"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_object_shares_created_by_users"), ondelete="SET NULL"
        ),
        sa.UniqueConstraint("token_hash", name=op.f("uq_object_shares_token_hash")),
        sa.Index(op.f("ix_object_shares_bucket_id"), "bucket_id"),
        sa.Index(op.f("ix_object_shares_created_by"), "created_by"),
    )

    op.create_table(
        "sftp_users",
        _id(),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("bucket_id", sa.Uuid(), nullable=True),
        sa.Column("home_dir", sa.String(1024), nullable=True),
        sa.Column("quota_bytes", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(16), server_default="active", nullable=False),
        _created_at(),
        _updated_at(),
        _deleted_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sftp_users")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_sftp_users_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["bucket_id"], ["buckets.id"], name=op.f("fk_sftp_users_bucket_id_buckets"), ondelete="SET NULL"
        ),
        sa.CheckConstraint("status IN ('active', 'disabled')", name=op.f("ck_sftp_users_status")),
        sa.Index(op.f("ix_sftp_users_account_id"), "account_id"),
        sa.Index(op.f("ix_sftp_users_bucket_id"), "bucket_id"),
        sa.Index(
            op.f("uq_sftp_users_live_username"),
            "username",
            unique=True,
            postgresql_where=sa.text("deleted_at IS NULL"),
        ),
    )


def _create_billing_tables() -> None:
    op.create_table(
        "vps_configs",
        _id(),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("cpu_cores", sa.Integer(), nullable=False),
        sa.Column("memory_mb", sa.Integer(), nullable=False),
        sa.Column("disk_gb", sa.Integer(), nullable=False),
        sa.Column("bandwidth_gb", sa.Integer(), nullable=False),
        sa.Column("price_monthly", sa.Numeric(14, 2), nullable=False),
        sa.Column("price_hourly", sa.Numeric(18, 8), nullable=False),
        sa.Column("currency", sa.String(3), server_default="EUR", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        _created_at(),
        _updated_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vps_configs")),
        sa.UniqueConstraint("name", name=op.f("uq_vps_configs_name")),
    )

    op.create_table(
        "orders",
        _id(),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("product", sa.String(32), nullable=False),
        sa.Column("vps_config_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(16), server_default="pending", nullable=False),
        sa.Column("amount", sa.Numeric(14, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        _created_at(),
        _updated_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        # Financial records keep their account: RESTRICT, not CASCADE.
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_orders_account_id_accounts"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["vps_config_id"],
            ["vps_configs.id"],
            name=op.f("fk_orders_vps_config_id_vps_configs"),
            ondelete="RESTRICT",
        ),
        sa.CheckConstraint(f"product IN ({PRODUCTS})", name=op.f("ck_orders_product")),
        sa.CheckConstraint("status IN ('pending', 'paid', 'provisioned', 'cancelled')", name=op.f("ck_orders_status")),
        sa.Index(op.f("ix_orders_account_id"), "account_id"),
        sa.Index(op.f("ix_orders_vps_config_id"), "vps_config_id"),
    )

    op.create_table(
        "subscriptions",
        _id(),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=True),
        sa.Column("product", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), server_default="active", nullable=False),
        sa.Column("price", sa.Numeric(14, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        _at("current_period_start", nullable=False),
        _at("current_period_end", nullable=False),
        sa.Column("cancel_at_period_end", sa.Boolean(), server_default=sa.false(), nullable=False),
        _created_at(),
        _updated_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_subscriptions_account_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_subscriptions_order_id_orders"), ondelete="RESTRICT"
        ),
        sa.CheckConstraint(f"product IN ({PRODUCTS})", name=op.f("ck_subscriptions_product")),
        sa.CheckConstraint("status IN ('active', 'past_due', 'cancelled')", name=op.f("ck_subscriptions_status")),
        sa.Index(op.f("ix_subscriptions_account_id"), "account_id"),
        sa.Index(op.f("ix_subscriptions_order_id"), "order_id"),
    )

    op.create_table(
        "invoices",
        _id(),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(32), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=True),
        _at("period_start"),
        _at("period_end"),
        sa.Column("status", sa.String(16), server_default="draft", nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("subtotal", sa.Numeric(14, 2), server_default=sa.text("0"), nullable=False),
        sa.Column("tax", sa.Numeric(14, 2), server_default=sa.text("0"), nullable=False),
        sa.Column("total", sa.Numeric(14, 2), server_default=sa.text("0"), nullable=False),
        sa.Column("amount_paid", sa.Numeric(14, 2), server_default=sa.text("0"), nullable=False),
        _at("issued_at"),
        _at("due_at"),
        _at("paid_at"),
        sa.Column("reminder_stage", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("pdf_key", sa.String(1024), nullable=True),
        _created_at(),
        _updated_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_invoices_account_id_accounts"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_invoices_order_id_orders"), ondelete="RESTRICT"
        ),
        # NULL until issued; NULLs are distinct, so drafts do not collide.
        sa.UniqueConstraint("number", name=op.f("uq_invoices_number")),
        sa.CheckConstraint("kind IN ('usage', 'order')", name=op.f("ck_invoices_kind")),
        sa.CheckConstraint(
            "status IN ('draft', 'open', 'paid', 'void', 'overdue', 'uncollectible')",
            name=op.f("ck_invoices_status"),
        ),
        sa.CheckConstraint(
            "kind <> 'usage' OR (period_start IS NOT NULL AND period_end IS NOT NULL)",
            name=op.f("ck_invoices_usage_has_period"),
        ),
        sa.Index(op.f("ix_invoices_account_id"), "account_id"),
        sa.Index(op.f("ix_invoices_order_id"), "order_id"),
        sa.Index(op.f("ix_invoices_status_due_at"), "status", "due_at"),
        # One usage invoice per account and period, however often billing runs.
        sa.Index(
            op.f("uq_invoices_usage_period"),
            "account_id",
            "kind",
            "period_start",
            "period_end",
            unique=True,
            postgresql_where=sa.text("kind = 'usage'"),
        ),
    )

    op.create_table(
        "invoice_lines",
        _id(),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("metric", sa.String(32), nullable=True),
        sa.Column("quantity", sa.Numeric(24, 6), nullable=False),
        sa.Column("unit_price", sa.Numeric(18, 8), nullable=False),
        sa.Column("amount", sa.Numeric(14, 2), nullable=False),
        _created_at(),
        _updated_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_lines")),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_invoice_lines_invoice_id_invoices"),
            ondelete="CASCADE",
        ),
        sa.Index(op.f("ix_invoice_lines_invoice_id"), "invoice_id"),
    )

    op.create_table(
        "customer_invoices",
        _id(),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("billing_name", sa.String(200), nullable=False),
        sa.Column("billing_email", sa.String(320), nullable=True),
        _jsonb("billing_address", "{}"),
        sa.Column("pdf_key", sa.String(1024), nullable=True),
        sa.Column("csv_key", sa.String(1024), nullable=True),
        sa.Column("delivery_status", sa.String(16), server_default="pending", nullable=False),
        _at("delivered_at"),
        _created_at(),
        _updated_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_invoices")),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_customer_invoices_invoice_id_invoices"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("invoice_id", name=op.f("uq_customer_invoices_invoice_id")),
        sa.CheckConstraint(
            "delivery_status IN ('pending', 'sent', 'failed')",
            name=op.f("ck_customer_invoices_delivery_status"),
        ),
    )

    op.create_table(
        "transactions",
        _id(),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.Numeric(14, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("gateway", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), server_default="pending", nullable=False),
        sa.Column("reference", sa.String(255), nullable=False),
        _jsonb("metadata", "{}"),
        _created_at(),
        _updated_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transactions")),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_transactions_invoice_id_invoices"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_transactions_account_id_accounts"),
            ondelete="RESTRICT",
        ),
        # Recording the same payment twice is a no-op.
        sa.UniqueConstraint("gateway", "reference", name=op.f("uq_transactions_gateway_reference")),
        sa.CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed', 'refunded')", name=op.f("ck_transactions_status")
        ),
        sa.Index(op.f("ix_transactions_invoice_id"), "invoice_id"),
        sa.Index(op.f("ix_transactions_account_id"), "account_id"),
    )

    op.create_table(
        "invoice_number_sequences",
        _id(),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last_number", sa.Integer(), server_default=sa.text("0"), nullable=False),
        _created_at(),
        _updated_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_number_sequences")),
        sa.UniqueConstraint("year", name=op.f("uq_invoice_number_sequences_year")),
    )

    op.create_table(
        "usage_records",
        _id(),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("bucket_id", sa.Uuid(), nullable=True),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("quantity", sa.Numeric(24, 6), nullable=False),
        _at("period_start", nullable=False),
        _at("period_end", nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("collected_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=True),
        _created_at(),
        _updated_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_records")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_usage_records_account_id_accounts"),
            ondelete="CASCADE",
        ),
        # NO ACTION: SET NULL would make two buckets' rows collide in the unique index below.
        sa.ForeignKeyConstraint(["bucket_id"], ["buckets.id"], name=op.f("fk_usage_records_bucket_id_buckets")),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_usage_records_invoice_id_invoices"),
            ondelete="SET NULL",
        ),
        sa.CheckConstraint(f"metric IN ({METRICS})", name=op.f("ck_usage_records_metric")),
        sa.CheckConstraint("period_end >= period_start", name=op.f("ck_usage_records_period_order")),
        sa.Index(op.f("ix_usage_records_bucket_id"), "bucket_id"),
        sa.Index(op.f("ix_usage_records_invoice_id"), "invoice_id"),
        sa.Index(op.f("ix_usage_records_account_id_metric_period_start"), "account_id", "metric", "period_start"),
        # Account-level rows (no bucket) are unique too: NULL bucket_id counts as a value (PG 15+).
        sa.Index(
            op.f("uq_usage_records_account_bucket_metric_period"),
            "account_id",
            "bucket_id",
            "metric",
            "period_start",
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
    )

    op.create_table(
        "pricing_configs",
        _id(),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("unit", sa.String(32), nullable=False),
        sa.Column("unit_size", sa.Numeric(24, 6), nullable=False),
        sa.Column("unit_price", sa.Numeric(18, 8), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("included_quantity", sa.Numeric(24, 6), server_default=sa.text("0"), nullable=False),
        _jsonb("tiers", "[]"),
        _at("effective_from", nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        _created_at(),
        _updated_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pricing_configs")),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_pricing_configs_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.UniqueConstraint(
            "metric",
            "currency",
            "effective_from",
            name=op.f("uq_pricing_configs_metric_currency_effective_from"),
        ),
        sa.CheckConstraint(f"metric IN ({METRICS})", name=op.f("ck_pricing_configs_metric")),
        sa.CheckConstraint("unit_size > 0", name=op.f("ck_pricing_configs_unit_size_positive")),
        sa.CheckConstraint("unit_price >= 0", name=op.f("ck_pricing_configs_unit_price_not_negative")),
        sa.Index(op.f("ix_pricing_configs_created_by"), "created_by"),
    )

    op.create_table(
        "pricing_history",
        _id(),
        sa.Column("pricing_config_id", sa.Uuid(), nullable=True),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        _jsonb("old_value", None),
        _jsonb("new_value", None),
        sa.Column("changed_by", sa.Uuid(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        _created_at(),
        _updated_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pricing_history")),
        sa.ForeignKeyConstraint(
            ["pricing_config_id"],
            ["pricing_configs.id"],
            name=op.f("fk_pricing_history_pricing_config_id_pricing_configs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["changed_by"],
            ["users.id"],
            name=op.f("fk_pricing_history_changed_by_users"),
            ondelete="SET NULL",
        ),
        sa.CheckConstraint("action IN ('created', 'updated', 'deleted')", name=op.f("ck_pricing_history_action")),
        sa.Index(op.f("ix_pricing_history_pricing_config_id"), "pricing_config_id"),
        sa.Index(op.f("ix_pricing_history_metric"), "metric"),
        sa.Index(op.f("ix_pricing_history_changed_by"), "changed_by"),
        sa.Index(op.f("ix_pricing_history_changed_at"), "changed_at"),
    )


def _create_system_tables() -> None:
    op.create_table(
        "audit_logs",
        _id(),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("actor_user_id", sa.Uuid(), nullable=True),
        sa.Column("actor_api_key_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target_type", sa.String(64), nullable=True),
        sa.Column("target_id", sa.String(255), nullable=True),
        sa.Column("severity", sa.String(16), server_default="info", nullable=False),
        sa.Column("outcome", sa.String(16), server_default="success", nullable=False),
        _jsonb("old_value", None),
        _jsonb("new_value", None),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        _created_at(),
        _updated_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_logs")),
        # The log outlives what it names: SET NULL everywhere.
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_audit_logs_account_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["actor_user_id"],
            ["users.id"],
            name=op.f("fk_audit_logs_actor_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["actor_api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_audit_logs_actor_api_key_id_api_keys"),
            ondelete="SET NULL",
        ),
        sa.CheckConstraint("severity IN ('info', 'warning', 'critical')", name=op.f("ck_audit_logs_severity")),
        sa.CheckConstraint("outcome IN ('success', 'failure')", name=op.f("ck_audit_logs_outcome")),
        sa.Index(op.f("ix_audit_logs_account_id_created_at"), "account_id", "created_at"),
        sa.Index(op.f("ix_audit_logs_actor_user_id"), "actor_user_id"),
        sa.Index(op.f("ix_audit_logs_actor_api_key_id"), "actor_api_key_id"),
        sa.Index(op.f("ix_audit_logs_action"), "action"),
        sa.Index(op.f("ix_audit_logs_created_at"), "created_at"),
    )

    op.create_table(
        "notifications",
        _id(),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), server_default="", nullable=False),
        _jsonb("data", "{}"),
        _at("read_at"),
        _at("emailed_at"),
        _created_at(),
        _updated_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_notifications_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notifications_user_id_users"), ondelete="CASCADE"
        ),
        sa.CheckConstraint(
            "account_id IS NOT NULL OR user_id IS NOT NULL", name=op.f("ck_notifications_has_recipient")
        ),
        sa.Index(op.f("ix_notifications_account_id"), "account_id"),
        sa.Index(op.f("ix_notifications_user_id_read_at"), "user_id", "read_at"),
    )

    op.create_table(
        "job_runs",
        _id(),
        sa.Column("job", sa.String(64), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), server_default="running", nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        _at("finished_at"),
        _jsonb("stats", "{}"),
        sa.Column("error", sa.Text(), nullable=True),
        _created_at(),
        _updated_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
        sa.CheckConstraint("trigger IN ('schedule', 'manual')", name=op.f("ck_job_runs_trigger")),
        sa.CheckConstraint("status IN ('running', 'succeeded', 'partial', 'failed')", name=op.f("ck_job_runs_status")),
        sa.Index(op.f("ix_job_runs_job_started_at"), "job", "started_at"),
    )

    op.create_table(
        "idempotency_keys",
        _id(),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("method", sa.String(10), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        _jsonb("response_body", None),
        _at("locked_until"),
        _at("expires_at", nullable=False),
        _created_at(),
        _updated_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_idempotency_keys_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_idempotency_keys_user_id_users"), ondelete="CASCADE"
        ),
        # Leads with user_id, so it also indexes that foreign key.
        sa.UniqueConstraint("user_id", "key", name=op.f("uq_idempotency_keys_user_id_key")),
        sa.Index(op.f("ix_idempotency_keys_account_id"), "account_id"),
        sa.Index(op.f("ix_idempotency_keys_expires_at"), "expires_at"),
    )

    op.create_table(
        "rate_limits",
        _id(),
        sa.Column("bucket_key", sa.String(255), nullable=False),
        _at("window_start", nullable=False),
        sa.Column("count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        _created_at(),
        _updated_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_limits")),
        sa.UniqueConstraint("bucket_key", name=op.f("uq_rate_limits_bucket_key")),
    )


def downgrade() -> None:
    # Children before parents; a table's indexes and constraints go with it.
    op.drop_table("rate_limits")
    op.drop_table("idempotency_keys")
    op.drop_table("job_runs")
    op.drop_table("notifications")
    op.drop_table("audit_logs")
    op.drop_table("pricing_history")
    op.drop_table("pricing_configs")
    op.drop_table("usage_records")
    op.drop_table("invoice_number_sequences")
    op.drop_table("transactions")
    op.drop_table("customer_invoices")
    op.drop_table("invoice_lines")
    op.drop_table("invoices")
    op.drop_table("subscriptions")
    op.drop_table("orders")
    op.drop_table("vps_configs")
    op.drop_table("sftp_users")
    op.drop_table("object_shares")
    op.drop_table("object_tags")
    op.drop_table("object_favorites")
    op.drop_table("bucket_permissions")
    op.drop_table("access_keys")
    op.drop_table("buckets")
    op.drop_table("api_keys")
    op.drop_table("invitations")
    op.drop_table("account_members")
    op.drop_table("accounts")
    op.drop_table("password_reset_tokens")
    op.drop_table("sessions")
    op.drop_table("users")
