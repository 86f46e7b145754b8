"""The layer's database connection: one round trip per statement (primecloud.pgwire), pg8000's answers,
and a ping only for a pooled connection that sat idle (primecloud.db)."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa

from primecloud.config import Settings
from primecloud.db import build_engine
from tests.db_support import RoundTripCounter


def _layer_engine(**settings: Any) -> sa.Engine:
    return build_engine(Settings(DATABASE_URL=os.environ["DATABASE_URL"], **settings))


@pytest.fixture
def layer_engine(database_url: str) -> Iterator[sa.Engine]:
    engine = _layer_engine()
    yield engine
    engine.dispose()


def test_a_transaction_is_one_round_trip_per_statement_plus_its_commit(layer_engine: sa.Engine) -> None:
    counter = RoundTripCounter(layer_engine)
    with layer_engine.connect() as connection:
        connection.execute(sa.text("SELECT 1")).all()  # connection set-up, then a transaction ended below
        connection.rollback()
        counter.round_trips = 0
        with connection.begin():
            first = connection.execute(sa.text("SELECT txid_current() AS txid, CAST(:x AS int) AS x"), {"x": 7}).one()
            second = connection.execute(sa.text("SELECT txid_current()")).scalar_one()
    # BEGIN travelled with the first statement: 2 statements + COMMIT = 3 round trips (pg8000 alone: 8)
    assert counter.round_trips == 3
    assert first.x == 7
    assert first.txid == second  # both ran inside the one transaction the deferred BEGIN opened


def test_answers_are_the_ones_plain_pg8000_gives(layer_engine: sa.Engine, engine: sa.Engine) -> None:
    query = sa.text(
        "SELECT CAST(:n AS numeric(12,4)) AS n, CAST(:t AS timestamptz) AS t, CAST(:j AS jsonb) AS j,"
        " ARRAY[1, NULL, 3] AS a, NULL::text AS nothing,"
        " 'b4c6d2a0-0000-4000-8000-000000000001'::uuid AS u, 'ünïcode' AS s"
    )
    parameters = {"n": Decimal("1234.5678"), "t": datetime(2026, 12, 2, 18, 0, tzinfo=UTC), "j": '{"k": [1, 2]}'}
    with layer_engine.connect() as layer, engine.connect() as plain:
        ours = layer.execute(query, parameters).one()
        theirs = plain.execute(query, parameters).one()
    assert tuple(ours) == tuple(theirs)
    assert ours.n == Decimal("1234.5678") and ours.j == {"k": [1, 2]} and ours.a == [1, None, 3]
    assert ours.u == UUID("b4c6d2a0-0000-4000-8000-000000000001") and ours.s == "ünïcode"


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("SELEKT 1", "syntax error"),  # refused at Parse
        ("SELECT 1 / CAST(:zero AS int)", "division by zero"),  # refused at Execute
    ],
)
def test_an_error_leaves_the_connection_in_step(layer_engine: sa.Engine, statement: str, message: str) -> None:
    with layer_engine.connect() as connection:
        with pytest.raises(sa.exc.DBAPIError, match=message):
            connection.execute(sa.text(statement), {"zero": 0})
        connection.rollback()
        # nothing of the failed exchange is left unread: the next answer is the next statement's
        assert connection.execute(sa.text("SELECT CAST(:v AS text)"), {"v": "after"}).scalar_one() == "after"
        assert connection.execute(sa.text("SELECT 2")).scalar_one() == 2


def test_a_statement_in_a_failed_transaction_is_refused_until_rollback(layer_engine: sa.Engine) -> None:
    with layer_engine.connect() as connection:
        with pytest.raises(sa.exc.DBAPIError):
            connection.execute(sa.text("SELECT 1 / 0"))
        with pytest.raises(sa.exc.DBAPIError, match=r"aborted|failed transaction"):
            connection.execute(sa.text("SELECT CAST(:x AS int)"), {"x": 1})
        connection.rollback()
        assert connection.execute(sa.text("SELECT CAST(:x AS int)"), {"x": 1}).scalar_one() == 1


class _Unsendable:
    def __str__(self) -> str:
        raise ValueError("this value has no text form")


def test_a_value_the_driver_cannot_send_fails_before_anything_is_written(layer_engine: sa.Engine) -> None:
    with layer_engine.connect() as connection:
        with pytest.raises(ValueError, match="no text form"):
            connection.execute(sa.text("SELECT :v"), {"v": _Unsendable()})
        connection.rollback()  # settles the BEGIN that was waiting for that statement
        first = connection.execute(sa.text("SELECT txid_current()")).scalar_one()
        assert connection.execute(sa.text("SELECT txid_current()")).scalar_one() == first
        connection.commit()
        assert connection.execute(sa.text("SELECT txid_current()")).scalar_one() != first


def test_autocommit_sends_no_begin(layer_engine: sa.Engine) -> None:
    with layer_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        first = connection.execute(sa.text("SELECT txid_current()")).scalar_one()
        second = connection.execute(sa.text("SELECT txid_current()")).scalar_one()
    assert first != second  # each statement was its own transaction


def test_copy_from_stdin_still_streams(layer_engine: sa.Engine) -> None:
    with layer_engine.connect() as connection:
        connection.execute(sa.text("CREATE TEMPORARY TABLE wire_copy (n int, s text)"))
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute("COPY wire_copy FROM STDIN", stream=io.BytesIO(b"1\tone\n2\ttwo\n"))  # type: ignore[call-arg]  # pg8000's own
        rows = connection.execute(sa.text("SELECT n, s FROM wire_copy ORDER BY n")).all()
    assert [tuple(row) for row in rows] == [(1, "one"), (2, "two")]


def test_connection_settings_survive_a_rolled_back_transaction(database_url: str) -> None:
    layer_engine = _layer_engine(DATABASE_POOL_SIZE=1, DATABASE_STATEMENT_TIMEOUT_MS=12_000)
    try:
        for _ in range(3):  # the first transaction on the connection, then later ones, each rolled back
            with layer_engine.connect() as connection:
                assert connection.execute(sa.text("SHOW statement_timeout")).scalar_one() == "12s"
                assert connection.execute(sa.text("SHOW TimeZone")).scalar_one() == "UTC"
                connection.rollback()
    finally:
        layer_engine.dispose()


def _backend_pid(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        pid: int = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        connection.rollback()
    return pid


def _terminate(owner_engine: sa.Engine, pid: int) -> None:
    with owner_engine.begin() as connection:
        assert connection.execute(sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid}).scalar_one()


def test_an_idle_connection_closed_by_the_server_is_replaced_before_use(database_url: str, engine: sa.Engine) -> None:
    layer_engine = _layer_engine(DATABASE_PING_AFTER_IDLE_SECONDS=0)
    try:
        pid = _backend_pid(layer_engine)
        _terminate(engine, pid)
        # the ping on checkout finds it dead; the pool connects again and the request never sees it
        assert _backend_pid(layer_engine) != pid
    finally:
        layer_engine.dispose()


def test_a_recently_used_connection_is_not_pinged(database_url: str, engine: sa.Engine) -> None:
    layer_engine = _layer_engine(DATABASE_PING_AFTER_IDLE_SECONDS=3600)
    counter = RoundTripCounter(layer_engine)
    try:
        pid = _backend_pid(layer_engine)
        counter.round_trips = 0
        assert _backend_pid(layer_engine) == pid
        assert counter.round_trips == 2  # the statement (with its BEGIN) and its rollback: no ping
        # the price of not pinging: a connection the server closed within the idle window fails once, as a
        # disconnect (the API's 503), and the pool replaces it for the next request
        _terminate(engine, pid)
        with pytest.raises(sa.exc.DBAPIError) as failure:
            _backend_pid(layer_engine)
        assert failure.value.connection_invalidated
        assert _backend_pid(layer_engine) != pid
    finally:
        layer_engine.dispose()
