"""The dry run of accounts, buckets and bucket rows: the counts a real run would report."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import text

from primecloud.services.retention.rules import ACCOUNT_CANDIDATES, BUCKET_CANDIDATES, FINANCIAL

if TYPE_CHECKING:
    from primecloud.services.retention.purge import Purge


def count_accounts_buckets_and_rows(purge: Purge) -> None:
    """What purge_accounts, purge_buckets and the sweep would do, as the same counts."""
    params = {name: purge.cut[name] for name in ("accounts", "buckets", "usage")}
    candidates = f"SELECT a.id, ({FINANCIAL}) AS financial FROM accounts a WHERE {ACCOUNT_CANDIDATES}"  # noqa: S608
    with purge.clock.transaction(purge.sessions) as connection:
        row = connection.execute(
            text(
                f"WITH c AS ({candidates}) SELECT"  # noqa: S608 - constants
                " (SELECT count(*) FROM c WHERE NOT financial) AS deleted,"
                " (SELECT count(*) FROM c WHERE financial) AS anonymized,"
                " (SELECT count(*) FROM buckets b JOIN c ON c.id = b.account_id WHERE b.status <> 'deleted')"
                "   AS account_buckets,"
                " (SELECT count(*) FROM access_keys k JOIN c ON c.id = k.account_id) AS access_keys,"
                " (SELECT count(*) FROM sftp_users s JOIN c ON c.id = s.account_id WHERE s.deleted_at IS NULL)"
                "   AS sftp_users,"
                " (SELECT count(*) FROM usage_records u JOIN c ON c.id = u.account_id"
                "   WHERE c.financial AND u.invoice_id IS NULL) AS usage_records,"
                " (SELECT count(DISTINCT u.id) FROM users u JOIN account_members m ON m.user_id = u.id"
                "   JOIN c ON c.id = m.account_id"
                "   WHERE u.status <> 'deleted' AND NOT u.is_platform_admin AND NOT EXISTS ("
                "     SELECT 1 FROM account_members o WHERE o.user_id = u.id"
                "     AND o.account_id NOT IN (SELECT id FROM c))) AS users_anonymized,"
                f" (SELECT count(*) FROM ({BUCKET_CANDIDATES}) x) AS buckets,"
                " (SELECT count(*) FROM buckets b WHERE"
                "   b.account_id NOT IN (SELECT id FROM c WHERE NOT financial)"
                "   AND (b.status = 'deleted' OR b.deleted_at < :buckets OR b.account_id IN (SELECT id FROM c))"
                "   AND NOT EXISTS (SELECT 1 FROM usage_records u WHERE u.bucket_id = b.id"
                "     AND NOT (u.invoice_id IS NOT NULL AND u.period_start < :usage)"
                "     AND NOT (u.invoice_id IS NULL AND u.account_id IN (SELECT id FROM c)))) AS bucket_rows"
            ),
            params,
        ).one()
    purge.stats.add("usage_records", int(row.usage_records))
    for kind in ("account_buckets", "access_keys", "sftp_users", "users_anonymized"):
        purge.stats.add(kind, int(getattr(row, kind)))
    purge.stats.add("accounts_deleted", int(row.deleted))
    purge.stats.add("accounts_anonymized", int(row.anonymized))
    purge.stats.add("buckets", int(row.buckets))
    purge.stats.add("bucket_rows", int(row.bucket_rows))
