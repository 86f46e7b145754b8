"""Row-level security (migration 0002): the application role sees one tenant once the account check ran.

The application connects as a login role in primecloud_app (not the owner, no BYPASSRLS); the
account check (primecloud.access.resolve_account_access) narrows the transaction to the
account with set_config(..., true). These tests query as the application would, but without
the application's own account filter, to show the database itself keeps tenants apart.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.access import Principal, resolve_account_access
from primecloud.models.billing import Invoice, InvoiceLine
from primecloud.models.iam import Account, AccountMember
from primecloud.models.storage import Bucket, BucketPermission
from primecloud.models.system import AuditLog
from tests.factories import Tenant, make_tenant

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
            changed = session.execute(
                sa.update(Bucket).where(Bucket.account_id == globex.account_id).values(quota_bytes=1)
            )
            assert changed.rowcount == 0
            assert session.execute(sa.delete(AuditLog).where(AuditLog.account_id == globex.account_id)).rowcount == 0
            # an account-less audit entry of the caller may still be written (and read back)
            session.add(AuditLog(account_id=None, actor_user_id=acme.members["viewer"].user_id, action="user.x"))
            session.flush()
            assert session.scalars(sa.select(AuditLog.action).where(AuditLog.account_id.is_(None))).all() == ["user.x"]
        with pytest.raises(sa.exc.DBAPIError, match="row-level security"), session.begin():
            _narrowed_to(session, acme)
            session.add(Bucket(account_id=globex.account_id, name=f"rls-{uuid.uuid4().hex[:12]}", region="us-east-1"))
            session.flush()


def test_the_narrowing_ends_with_the_transaction(app_engine: sa.Engine, two_tenants: tuple[Tenant, Tenant]) -> None:
    acme, globex = two_tenants
    with Session(app_engine) as session:
        with session.begin():
            _narrowed_to(session, acme)
        with session.begin():  # the same pooled connection, a new transaction: set_config(..., true) is gone
            assert {b.account_id for b in session.scalars(sa.select(Bucket))} == {acme.account_id, globex.account_id}


def test_not_a_member_narrows_nothing_and_is_404(app_engine: sa.Engine, two_tenants: tuple[Tenant, Tenant]) -> None:
    from primecloud.errors import NotFound

    acme, globex = two_tenants
    with Session(app_engine) as session, session.begin():
        outsider = Principal(user_id=globex.members["owner"].user_id)
        with pytest.raises(NotFound):
            resolve_account_access(session, outsider, acme.account_id, min_role="viewer", mutation=False)
        assert session.scalar(sa.select(sa.func.current_setting("primecloud.account_id", True))) in (None, "")
