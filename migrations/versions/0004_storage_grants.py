"""Storage grants: each account's own SFTP login prefix.

SFTP logins are ``<prefix>.<username>``; the prefix was the account slug cut to 31 characters, so
two accounts whose slugs share those 31 characters shared one login namespace. The prefix is now
a unique column, set when the account creates its first SFTP user. Existing logins stay as they
are: each prefix in use goes to the account that used it first; another account that shared it
keeps its logins and gets a prefix of its own for its next SFTP user.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("accounts", sa.Column("sftp_login_prefix", sa.String(31), nullable=True))
    op.create_unique_constraint("uq_accounts_sftp_login_prefix", "accounts", ["sftp_login_prefix"])
    # Row-level security: the backfill reads and writes every tenant's rows (the system scope).
    op.execute("SELECT set_config('primecloud.scope', 'system', true)")
    op.execute(
        """
        WITH first_use AS (
            SELECT DISTINCT ON (split_part(username, '.', 1))
                   split_part(username, '.', 1) AS prefix, account_id, created_at
            FROM sftp_users
            WHERE position('.' IN username) > 0
            ORDER BY split_part(username, '.', 1), created_at, id
        ), chosen AS (
            SELECT DISTINCT ON (account_id) account_id, prefix
            FROM first_use
            ORDER BY account_id, created_at
        )
        UPDATE accounts a SET sftp_login_prefix = chosen.prefix
        FROM chosen
        WHERE a.id = chosen.account_id AND length(chosen.prefix) <= 31
        """
    )


def downgrade() -> None:
    # IF EXISTS: databases that ran this revision while it was an empty placeholder lack both.
    op.execute("ALTER TABLE accounts DROP CONSTRAINT IF EXISTS uq_accounts_sftp_login_prefix")
    op.execute("ALTER TABLE accounts DROP COLUMN IF EXISTS sftp_login_prefix")
