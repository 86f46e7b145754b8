"""Alembic environment: the models' metadata, the URL from the caller or the environment.

All pending revisions run in one transaction (PostgreSQL has transactional DDL), so a
failed upgrade leaves the schema where it was.
"""

from __future__ import annotations

import sys
from logging.config import fileConfig
from pathlib import Path

from alembic import context
from sqlalchemy import URL, make_url, pool, text

# The shared layer is a plain directory, not an installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "layers" / "common"))

from primecloud.models import Base

LOCK_TIMEOUT = "10s"

config = context.config
target_metadata = Base.metadata


def _database_url() -> URL:
    """The caller's URL (tests, tools), else DATABASE_URL or the RDS secret, like the app."""
    given = config.attributes.get("database_url")
    if given is not None:
        url = make_url(given)
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+pg8000")
        return url
    from primecloud.config import get_settings
    from primecloud.db import database_url

    return database_url(get_settings())


def run_migrations_offline() -> None:
    """Emit the SQL instead of running it (``alembic upgrade head --sql``)."""
    context.configure(
        url=_database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    from primecloud.config import get_settings
    from primecloud.db import build_engine

    # The app's connection rules (TLS, connect timeout, fresh secret) without its pool.
    engine = build_engine(get_settings(), url=_database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        # DDL may run long, but must not queue behind the API's locks and stall it: fail fast.
        connection.execute(text("SET statement_timeout = 0"))
        connection.execute(text(f"SET lock_timeout = '{LOCK_TIMEOUT}'"))
        connection.commit()
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            compare_type=True,
            compare_server_default=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


# From the command line Alembic's own logging applies; a caller passing the URL owns logging.
if config.config_file_name is not None and "database_url" not in config.attributes:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
