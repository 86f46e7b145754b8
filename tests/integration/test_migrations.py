"""The Alembic migrations build exactly the schema the models describe, and undo it cleanly.

Round trips run in a scratch database of their own, so the session database stays at head
for every other test.
"""

from __future__ import annotations

import pprint
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import DBAPIError

from localrun.services.postgres import Postgres
from primecloud.models import Account, Base, Bucket, UsageRecord, User

ROOT = Path(__file__).resolve().parents[2]
MODELS_SCHEMA = "from_models"


def alembic_config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["database_url"] = url
    return config


@pytest.fixture(scope="module")
def scratch_url(postgres: Postgres) -> Iterator[str]:
    """An empty database on the test server, dropped afterwards."""
    name = f"primecloud_migrations_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.make_url(postgres.url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="module")
def scratch_engine(scratch_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(scratch_url)
    yield engine
    engine.dispose()


def public_relations(engine: sa.Engine) -> set[str]:
    """Tables, indexes, sequences and views left in the public schema."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'i', 'S', 'v', 'm')"
            )
        )
        return {row.relname for row in rows}


def test_upgrade_downgrade_upgrade_round_trip(scratch_url: str, scratch_engine: sa.Engine) -> None:
    config = alembic_config(scratch_url)
    head = ScriptDirectory.from_config(config).get_current_head()

    command.upgrade(config, "head")
    assert set(sa.inspect(scratch_engine).get_table_names()) == {*Base.metadata.tables, "alembic_version"}

    command.downgrade(config, "base")
    # Nothing is left behind: no table, index or sequence besides Alembic's own.
    assert public_relations(scratch_engine) == {"alembic_version", "alembic_version_pkc"}

    command.upgrade(config, "head")
    with scratch_engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == head


def test_autogenerate_finds_no_difference_between_models_and_migrations(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], "models and migrations differ:\n" + pprint.pformat(diff)


def catalog(connection: sa.Connection, schema: str) -> dict[str, Any]:
    """Constraint, index and column definitions as the server reports them.

    This covers what autogenerate does not compare: CHECK constraints and partial-index
    predicates.
    """
    params = {"schema": schema}
    constraints = connection.execute(
        sa.text(
            "SELECT cl.relname AS table_name, co.conname, pg_get_constraintdef(co.oid) AS definition"
            " FROM pg_constraint co JOIN pg_class cl ON cl.oid = co.conrelid"
            " JOIN pg_namespace n ON n.oid = cl.relnamespace WHERE n.nspname = :schema"
        ),
        params,
    )
    indexes = connection.execute(
        sa.text("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = :schema"),
        params,
    )
    columns = connection.execute(
        sa.text(
            "SELECT table_name, column_name, data_type, udt_name, is_nullable, column_default,"
            " character_maximum_length, numeric_precision, numeric_scale"
            " FROM information_schema.columns WHERE table_schema = :schema"
        ),
        params,
    )

    def unqualified(sql: str) -> str:
        return re.sub(rf"\b{schema}\.", "", sql)

    return {
        "constraints": {(r.table_name, r.conname): unqualified(r.definition) for r in constraints},
        "indexes": {(r.tablename, r.indexname): unqualified(r.indexdef) for r in indexes},
        "columns": {(r.table_name, r.column_name): tuple(r[2:]) for r in columns},
    }


def test_migrated_catalog_equals_the_models_catalog(scratch_url: str, scratch_engine: sa.Engine) -> None:
    # given the migrated schema, and the models created with create_all in a schema of their own
    command.upgrade(alembic_config(scratch_url), "head")
    with scratch_engine.connect() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA {MODELS_SCHEMA}"))
        # The map only redirects the models' tables; the catalog queries below are plain text.
        Base.metadata.create_all(connection.execution_options(schema_translate_map={None: MODELS_SCHEMA}))
        migrated = catalog(connection, "public")
        from_models = catalog(connection, MODELS_SCHEMA)
        connection.rollback()  # DDL is transactional: the models' schema goes again

    # then every constraint, index and column is defined the same way
    migrated["constraints"].pop(("alembic_version", "alembic_version_pkc"))
    migrated["indexes"].pop(("alembic_version", "alembic_version_pkc"))
    migrated["columns"] = {key: value for key, value in migrated["columns"].items() if key[0] != "alembic_version"}
    for part in ("constraints", "indexes", "columns"):
        only_migrated = {k: v for k, v in migrated[part].items() if from_models[part].get(k) != v}
        only_models = {k: v for k, v in from_models[part].items() if migrated[part].get(k) != v}
        assert only_migrated == only_models == {}, (
            f"{part} differ\nmigrations:\n{pprint.pformat(only_migrated)}\nmodels:\n{pprint.pformat(only_models)}"
        )


# Behaviour of the constraints that guard the data, with real inserts.

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def insert(connection: sa.Connection, model: Any, **values: Any) -> uuid.UUID:
    row_id: uuid.UUID = connection.execute(
        sa.insert(model).values(**values).returning(model.__table__.c.id)
    ).scalar_one()
    return row_id


def rejected(engine: sa.Engine, constraint: str, model: Any, **values: Any) -> None:
    """The insert fails on ``constraint`` (in a transaction of its own).

    pg8000 raises IntegrityError only for unique violations (CHECK and foreign-key violations
    come as ProgrammingError), so the server's own report is what is checked.
    """
    with pytest.raises(DBAPIError) as failure, engine.begin() as connection:
        insert(connection, model, **values)
    assert failure.value.orig is not None
    report = failure.value.orig.args[0]
    assert report["C"].startswith("23"), report  # SQLSTATE class 23: integrity constraint violation
    assert report["n"] == constraint, report


@pytest.fixture
def account_id(db: sa.Engine) -> uuid.UUID:
    with db.begin() as connection:
        owner = insert(connection, User, email="owner@example.com", password_hash="x")
        return insert(connection, Account, name="Acme", slug="acme", owner_user_id=owner)


def test_email_is_unique_whatever_its_case(db: sa.Engine) -> None:
    with db.begin() as connection:
        insert(connection, User, email="Alice@Example.com", password_hash="x")
    rejected(db, "uq_users_email_lower", User, email="alice@example.COM", password_hash="y")


def test_bucket_name_is_unique_among_live_buckets_only(db: sa.Engine, account_id: uuid.UUID) -> None:
    bucket = {"account_id": account_id, "name": "photos", "region": "eu-central-1"}
    with db.begin() as connection:
        insert(connection, Bucket, **bucket, deleted_at=NOW)  # a deleted bucket frees its name
        insert(connection, Bucket, **bucket)
    rejected(db, "uq_buckets_live_name", Bucket, **bucket)


def test_account_level_usage_is_unique_per_metric_and_period(db: sa.Engine, account_id: uuid.UUID) -> None:
    # NULL bucket_id counts as a value: collecting the same hour twice cannot double-bill
    record = {
        "account_id": account_id,
        "bucket_id": None,
        "metric": "api_requests",
        "quantity": 1000,
        "period_start": NOW,
        "period_end": NOW + timedelta(hours=1),
        "source": "collector",
    }
    with db.begin() as connection:
        insert(connection, UsageRecord, **record)
    rejected(db, "uq_usage_records_account_bucket_metric_period", UsageRecord, **record)


def test_a_value_outside_its_set_is_rejected(db: sa.Engine, account_id: uuid.UUID) -> None:
    rejected(db, "ck_users_status", User, email="bob@example.com", status="banned")
    rejected(db, "ck_buckets_name_dns_safe", Bucket, account_id=account_id, name="Not_DNS", region="x")
