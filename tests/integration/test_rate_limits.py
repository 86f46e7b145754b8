"""Throttle counters under concurrency, against the real PostgreSQL: exactly ``limit`` attempts pass."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.services import rate_limits
from primecloud.services.rate_limits import Window

THREADS = 12
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def app_engine(db: sa.Engine) -> Iterator[sa.Engine]:
    """The application role's connections, one per thread."""
    engine = sa.create_engine(os.environ["DATABASE_URL"], pool_size=THREADS, max_overflow=0)
    yield engine
    engine.dispose()


def count_of(db: sa.Engine, key: str) -> int:
    with db.connect() as connection:
        return int(
            connection.execute(sa.text("SELECT count FROM rate_limits WHERE bucket_key = :k"), {"k": key}).scalar_one()
        )


def concurrent_takes(engine: sa.Engine, key: str, window: Window, *, now: datetime = NOW) -> list[int | None]:
    start = threading.Barrier(THREADS)

    def attempt(_: int) -> int | None:
        with Session(engine) as session:
            start.wait()
            wait = rate_limits.take(session, key, window, now)
            time.sleep(0.02)  # the attempt is judged while the others try
            session.commit()
            return wait

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(attempt, range(THREADS)))


@pytest.mark.parametrize("limit", [5, 10])
def test_exactly_limit_concurrent_attempts_pass(app_engine: sa.Engine, db: sa.Engine, limit: int) -> None:
    window = Window(limit=limit, seconds=60)
    results = concurrent_takes(app_engine, f"test:concurrent:{limit}", window)
    assert sum(wait is None for wait in results) == limit
    assert all(wait is not None and 0 < wait <= 60 for wait in results if wait is not None)
    assert count_of(db, f"test:concurrent:{limit}") == limit


def test_a_new_window_admits_again_and_a_refund_gives_one_back(app_engine: sa.Engine, db: sa.Engine) -> None:
    window = Window(limit=5, seconds=60)
    key = "test:window"
    assert sum(wait is None for wait in concurrent_takes(app_engine, key, window)) == 5
    # the window is over: a new one starts and counts from one
    later = NOW + timedelta(seconds=61)
    assert sum(wait is None for wait in concurrent_takes(app_engine, key, window, now=later)) == 5
    with Session(app_engine) as session, session.begin():
        rate_limits.refund(session, key)
    assert count_of(db, key) == 4
    with Session(app_engine) as session, session.begin():
        assert rate_limits.take(session, key, window, later) is None
        assert rate_limits.take(session, key, window, later) == 60
