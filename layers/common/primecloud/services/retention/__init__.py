"""Retention: hard-delete or anonymize what is past its time (the purge_retention job).

One module per kind of thing purged: ``rows`` (rows that expire on their own), ``accounts``,
``buckets``, ``dry_run`` (their counts), with the rules in ``rules`` and the run in ``purge``.

What goes, and when (every period is a setting, see ``primecloud.config``):

- Spent credentials, ``retention_spent_token_days`` after they died: expired or revoked sessions,
  expired or used password-reset tokens, expired/accepted/revoked invitations, expired/revoked/
  exhausted share links, old login rate-limit windows; idempotency keys once expired.
- Read notifications older than ``retention_notification_days``; audit entries older than
  ``retention_audit_days`` (critical ones after ``retention_audit_critical_days``); invoiced
  usage records older than ``retention_usage_months``; job runs older than ``retention_job_run_days``.
- Soft-deleted accounts after ``retention_deleted_account_days``: their access keys and SFTP users,
  then their buckets (objects first) are removed from the backends, then the rows. An account with
  financial records (invoices, transactions, orders, subscriptions: RESTRICT foreign keys) is
  not deleted but anonymized and stripped of everything else; its uninvoiced usage goes too.
  Members whose only account it was are anonymized as DELETE /v1/me does.
- Soft-deleted buckets after ``retention_deleted_bucket_days``: once no access key's policy names
  the bucket any more (re-synced first; a failure keeps it), objects and the bucket are removed
  from the backend, their permissions, tags, favorites and share links deleted, and the row is
  marked ``deleted``. The row itself stays while usage records name it (``usage_records.bucket_id``
  is NO ACTION on purpose: an uninvoiced record is still billed next month, an invoiced one is
  evidence until the usage retention ends); the final sweep deletes it once nothing names it.

How: row kinds are deleted in ranges of table pages (``ctid`` range scans), so each batch is one
short transaction whatever the table's size, the whole table is read once, and a batch adapts its
range to stay near ``TARGET_BATCH_SECONDS``. Accounts and buckets go one per transaction, the
backend first (each backend call tolerates "already gone", so a re-run after a failure finishes
the job). Row kinds run before the accounts, so a dry run (counts only, nothing deleted) reports
exactly what a real run deletes.
"""
