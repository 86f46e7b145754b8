"""Statements may run longer than the connect timeout, up to the statement timeout (which cancels them)."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from primecloud.config import Settings
from primecloud.db import build_engine


def _engine(database_url: str, *, connect_timeout: int, statement_timeout_ms: int) -> sa.Engine:
    settings = Settings(
        DATABASE_URL=os.environ["DATABASE_URL"],
        DATABASE_CONNECT_TIMEOUT=connect_timeout,
        DATABASE_STATEMENT_TIMEOUT_MS=statement_timeout_ms,
    )
    return build_engine(settings)


def test_a_statement_longer_than_the_connect_timeout_completes(database_url: str) -> None:
    engine = _engine(database_url, connect_timeout=1, statement_timeout_ms=5_000)
    try:
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT pg_sleep(1.5), 42")).one()[1] == 42
    finally:
        engine.dispose()


def test_the_statement_timeout_still_cancels(database_url: str) -> None:
    engine = _engine(database_url, connect_timeout=1, statement_timeout_ms=300)
    try:
        with engine.connect() as connection, pytest.raises(sa.exc.DBAPIError, match="statement timeout"):
            connection.execute(sa.text("SELECT pg_sleep(2)"))
    finally:
        engine.dispose()
