"""Session-wide test fixtures: a real PostgreSQL, migrations, per-test cleanup.

PostgreSQL is embedded (pgserver, data under .local/) unless TEST_DATABASE_URL names one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from localrun.postgres import Postgres, from_env_or_embedded

ROOT = Path(__file__).resolve().parents[1]

# Quiet, deterministic Powertools in tests; AWS clients never reach a real account.
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "PrimeCloudTest")
os.environ.setdefault("POWERTOOLS_DEV", "false")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("ENVIRONMENT", "test")


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    server = from_env_or_embedded("TEST_DATABASE_URL", ROOT / ".local" / "pgtest", "primecloud_test")
    yield server
    server.stop()


def run_alembic(url: str, *args: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["database_url"] = url
    getattr(command, args[0])(config, *args[1:])


@pytest.fixture(scope="session")
def database_url(postgres: Postgres) -> Iterator[str]:
    """A migrated database; the layer's engine points at it for the whole session."""
    from primecloud import db
    from primecloud.config import get_settings

    run_alembic(postgres.url, "downgrade", "base")
    run_alembic(postgres.url, "upgrade", "head")
    os.environ["DATABASE_URL"] = postgres.url
    get_settings.cache_clear()
    db.reset_engine()
    yield postgres.url
    db.reset_engine()


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def db(engine: sa.Engine) -> Iterator[sa.Engine]:
    """A clean database for one test: every table is emptied afterwards."""
    yield engine
    from primecloud.models import Base

    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
