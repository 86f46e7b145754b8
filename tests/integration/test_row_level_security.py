"""Row-level security (migrations 0002, 0003): the application role sees one tenant once the account
check ran, its user's own rows with no tenant, every tenant only in the system scope, else nothing.

The application connects as a login role in primecloud_app (not the owner, no BYPASSRLS); the
account check (primecloud.access.resolve_account_access) narrows the transaction to the
account with set_config(..., true). These tests query as the application would, but without
the application's own account filter, to show the database itself keeps tenants apart.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any, cast

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.access import Principal, resolve_account_access
from primecloud.models.billing import Invoice, InvoiceLine
from primecloud.models.iam import Account, AccountMember
from primecloud.models.storage import Bucket, BucketPermission
from primecloud.models.system import AuditLog, Notification
from tests.factories import Tenant, make_api_key, make_tenant

TENANT_TABLES_WITHOUT_POLICY_ARE_A_BUG = """
    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind = 'r'
      AND EXISTS (SELECT 1 FROM information_schema.columns col
                  WHERE col.table_name = c.relname AND col.column_name IN ('account_id', 'bucket_id', 'invoice_id'))
      AND NOT (c.relrowsecurity AND c.relforcerowsecurity)
"""


@pytest.fixture
def app_engine(database_url: str) -> Iterator[sa.Engine]:
    """An engine as the application connects (DATABASE_URL is the application role's)."""
    engine = sa.create_engine(os.environ["DATABASE_URL"])
    yield engine
    engine.dispose()


@pytest.fixture
def two_tenants(db: sa.Engine) -> tuple[Tenant, Tenant]:
    acme, globex = make_tenant(db, "Acme"), make_tenant(db, "Globex")
    with Session(db) as session, session.begin():
        for tenant in (acme, globex):
            bucket = Bucket(account_id=tenant.account_id, name=f"rls-{uuid.uuid4().hex[:12]}", region="us-east-1")
            session.add(bucket)
            session.flush()
            session.add(BucketPermission(bucket_id=bucket.id, user_id=tenant.members["member"].user_id, level="read"))
            invoice = Invoice(account_id=tenant.account_id, kind="order", currency="EUR", status="open")
            session.add(invoice)
            session.flush()
            session.add(InvoiceLine(invoice_id=invoice.id, description="x", quantity=1, unit_price=1, amount=1))
            session.add(AuditLog(account_id=tenant.account_id, action="test.entry"))
        session.add(AuditLog(account_id=None, action="auth.login"))
    return acme, globex


def _narrowed_to(session: Session, tenant: Tenant) -> None:
    member = tenant.members["viewer"]
    principal = Principal(user_id=member.user_id)
    resolve_account_access(session, principal, tenant.account_id, min_role="viewer", mutation=False)


def test_the_application_role_is_neither_owner_nor_bypassrls(app_engine: sa.Engine, database_url: str) -> None:
    with app_engine.connect() as connection:
        role = connection.execute(
            sa.text("SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        ).one()
        owners = set(
            connection.execute(
                sa.text("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")
            ).scalars()
        )
    assert role.rolsuper is False and role.rolbypassrls is False
    assert role.rolname not in owners
    assert sa.make_url(database_url).username != role.rolname  # the tests set data up as the owner


def test_every_table_with_a_tenant_column_forces_row_level_security(db: sa.Engine) -> None:
    with db.connect() as connection:
        assert list(connection.execute(sa.text(TENANT_TABLES_WITHOUT_POLICY_ARE_A_BUG)).scalars()) == []


def test_a_narrowed_transaction_sees_only_its_tenant_without_any_filter(
    app_engine: sa.Engine, two_tenants: tuple[Tenant, Tenant]
) -> None:
    acme, _globex = two_tenants
    with Session(app_engine) as session, session.begin():
        _narrowed_to(session, acme)
        # no WHERE account_id = ... anywhere below
        assert {a.id for a in session.scalars(sa.select(Account))} == {acme.account_id}
        assert {b.account_id for b in session.scalars(sa.select(Bucket))} == {acme.account_id}
        assert {m.account_id for m in session.scalars(sa.select(AccountMember))} == {acme.account_id}
        assert len(session.scalars(sa.select(BucketPermission)).all()) == 1  # through its bucket
        assert {i.account_id for i in session.scalars(sa.select(Invoice))} == {acme.account_id}
        assert len(session.scalars(sa.select(InvoiceLine)).all()) == 1  # through its invoice
        # account-less entries are visible to their own user only (the sign-in below is someone else's)
        assert {e.account_id for e in session.scalars(sa.select(AuditLog))} == {acme.account_id}


def test_a_narrowed_transaction_cannot_write_into_another_tenant(
    app_engine: sa.Engine, two_tenants: tuple[Tenant, Tenant]
) -> None:
    acme, globex = two_tenants
    with Session(app_engine) as session:
        with session.begin():
            _narrowed_to(session, acme)
            # another tenant's rows are invisible to UPDATE and DELETE: nothing matches
            changed = cast(
                "sa.CursorResult[Any]",
                session.execute(sa.update(Bucket).where(Bucket.account_id == globex.account_id).values(quota_bytes=1)),
            )
            assert changed.rowcount == 0
            deleted = cast(
                "sa.CursorResult[Any]",
                session.execute(sa.delete(Invoice).where(Invoice.account_id == globex.account_id)),
            )
            assert deleted.rowcount == 0
            # an account-less audit entry of the caller may still be written (and read back)
            session.add(AuditLog(account_id=None, actor_user_id=acme.members["viewer"].user_id, action="user.x"))
            session.flush()
            assert session.scalars(sa.select(AuditLog.action).where(AuditLog.account_id.is_(None))).all() == ["user.x"]
        with pytest.raises(sa.exc.DBAPIError, match="row-level security"), session.begin():
            _narrowed_to(session, acme)
            session.add(Bucket(account_id=globex.account_id, name=f"rls-{uuid.uuid4().hex[:12]}", region="us-east-1"))
            session.flush()


def test_the_narrowing_ends_with_the_transaction(app_engine: sa.Engine, two_tenants: tuple[Tenant, Tenant]) -> None:
    acme, _globex = two_tenants
    with Session(app_engine) as session:
        with session.begin():
            _narrowed_to(session, acme)
        with session.begin():  # the same pooled connection, a new transaction: set_config(..., true) is gone
            assert session.scalars(sa.select(Bucket)).all() == []  # and with no tenant it sees none (0003)


RLS_TABLES = (
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relrowsecurity ORDER BY 1"
)


def _counts(connection: sa.Connection, tables: list[str]) -> dict[str, int]:
    return {table: connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one() for table in tables}  # noqa: S608


@pytest.fixture
def every_kind_of_row(db: sa.Engine, two_tenants: tuple[Tenant, Tenant]) -> tuple[Tenant, Tenant]:
    """Beyond two_tenants: an API key, notifications (one account-less) and an invitation per tenant."""
    with Session(db) as session, session.begin():
        for tenant in two_tenants:
            account = session.get_one(Account, tenant.account_id)
            owner = tenant.members["owner"].user_id
            make_api_key(session, account, owner, ["buckets:read"])
            session.add(Notification(account_id=tenant.account_id, user_id=owner, type="t", title="t"))
            session.add(Notification(account_id=None, user_id=owner, type="t", title="t"))
            session.add(AuditLog(account_id=None, actor_user_id=owner, action="auth.login"))
    return two_tenants


def test_with_no_tenant_and_no_scope_the_application_sees_no_tenant_rows(
    app_engine: sa.Engine, db: sa.Engine, every_kind_of_row: tuple[Tenant, Tenant]
) -> None:
    """Fail closed: a transaction that names nothing (a forgotten narrowing) reads and changes nothing."""
    with db.connect() as connection:
        tables = list(connection.execute(sa.text(RLS_TABLES)).scalars())
        present = _counts(connection, tables)
    seeded = {"accounts", "account_members", "api_keys", "buckets", "bucket_permissions", "invoices", "invoice_lines"}
    assert {table for table, count in present.items() if count} >= seeded | {"audit_logs", "notifications"}
    with app_engine.connect() as connection:  # (UPDATE and DELETE see through the same policies)
        assert _counts(connection, tables) == dict.fromkeys(tables, 0)


def test_with_only_a_user_a_transaction_sees_that_users_own_rows(
    app_engine: sa.Engine, every_kind_of_row: tuple[Tenant, Tenant]
) -> None:
    """The caller's own memberships (and their accounts), notifications and audit entries; no tenant data."""
    from primecloud import db as layer_db
    from primecloud.models.system import Notification as Note

    acme, globex = every_kind_of_row
    owner = acme.members["owner"].user_id
    with Session(app_engine) as session, session.begin():
        layer_db.narrow_to_user(session, owner)
        assert {(m.account_id, m.user_id) for m in session.scalars(sa.select(AccountMember))} == {
            (acme.account_id, owner)
        }
        assert {a.id for a in session.scalars(sa.select(Account))} == {acme.account_id}
        assert {n.user_id for n in session.scalars(sa.select(Note))} == {owner}
        assert {e.actor_user_id for e in session.scalars(sa.select(AuditLog))} == {owner}
        assert session.scalars(sa.select(Bucket)).all() == [] and session.scalars(sa.select(Invoice)).all() == []
    assert globex.account_id != acme.account_id


def test_the_system_scope_sees_every_tenant_for_its_transaction_only(
    every_kind_of_row: tuple[Tenant, Tenant], database_url: str
) -> None:
    from primecloud import db as layer_db
    from tests.conftest import count_statements

    acme, globex = every_kind_of_row
    with count_statements() as counted, layer_db.unit_of_work() as session:
        layer_db.system_scope(session, "test: every tenant")
        assert {b.account_id for b in session.scalars(sa.select(Bucket))} >= {acme.account_id, globex.account_id}
    assert len(counted) == 1  # the scope rode on the BEGIN: no statement of its own
    with layer_db.unit_of_work() as session:
        assert session.scalars(sa.select(Bucket)).all() == []
    with layer_db.system_scope_throughout("test: a job"):
        for _ in range(2):  # every transaction begun inside the block
            with layer_db.unit_of_work() as session:
                assert {b.account_id for b in session.scalars(sa.select(Bucket))} >= {acme.account_id}
    with layer_db.unit_of_work() as session:
        assert session.scalars(sa.select(Bucket)).all() == []


def test_the_application_role_cannot_change_or_delete_audit_entries(
    app_engine: sa.Engine, two_tenants: tuple[Tenant, Tenant]
) -> None:
    for statement in ("UPDATE audit_logs SET action = 'forged'", "DELETE FROM audit_logs"):
        with app_engine.connect() as connection:
            connection.exec_driver_sql("SELECT set_config('primecloud.scope', 'system', true)")
            with pytest.raises(sa.exc.DBAPIError, match="permission denied"):
                connection.exec_driver_sql(statement)
    with app_engine.begin() as connection:  # it still writes and reads them
        connection.exec_driver_sql("SELECT set_config('primecloud.scope', 'system', true)")
        connection.execute(sa.insert(AuditLog).values(account_id=two_tenants[0].account_id, action="test.insert"))
        assert connection.execute(sa.select(sa.func.count()).select_from(AuditLog)).scalar_one() >= 4


def test_only_the_purge_role_deletes_audit_entries(
    app_engine: sa.Engine, db: sa.Engine, two_tenants: tuple[Tenant, Tenant]
) -> None:
    from primecloud import db as layer_db

    acme, globex = two_tenants
    with app_engine.begin() as connection:
        connection.exec_driver_sql("SELECT set_config('primecloud.scope', 'system', true)")
        layer_db.as_purge_role(connection)
        deleted = connection.execute(sa.delete(AuditLog).where(AuditLog.account_id == acme.account_id)).rowcount
        # a purged account's entries are unlinked (its account_id, nothing else)
        unlinked = connection.execute(
            sa.text("UPDATE audit_logs SET account_id = NULL WHERE account_id = :a"), {"a": globex.account_id}
        ).rowcount
    assert (deleted, unlinked) == (1, 1)
    with Session(db) as session:
        assert session.scalars(sa.select(AuditLog).where(AuditLog.account_id == acme.account_id)).all() == []
    with app_engine.connect() as connection:  # the purge role deletes audit entries and nothing else
        connection.exec_driver_sql("SELECT set_config('primecloud.scope', 'system', true)")
        layer_db.as_purge_role(connection)
        with pytest.raises(sa.exc.DBAPIError, match="permission denied"):
            connection.execute(sa.delete(Bucket))


def test_not_a_member_narrows_nothing_and_is_404(app_engine: sa.Engine, two_tenants: tuple[Tenant, Tenant]) -> None:
    from primecloud.errors import NotFound

    acme, globex = two_tenants
    with Session(app_engine) as session, session.begin():
        outsider = Principal(user_id=globex.members["owner"].user_id)
        with pytest.raises(NotFound):
            resolve_account_access(session, outsider, acme.account_id, min_role="viewer", mutation=False)
        assert session.scalar(sa.select(sa.func.current_setting("primecloud.account_id", True))) in (None, "")
