"""Round trips to PostgreSQL, counted on the wire (tests/integration/test_db_wire.py and bench/warm_api.py)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


class _CountedStream:
    """A pg8000 connection's socket stream whose every flush (one exchange with the server) is counted."""

    def __init__(self, stream: Any, counter: RoundTripCounter) -> None:
        self._stream = stream
        self._counter = counter

    def flush(self) -> None:
        self._counter.round_trips += 1
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class RoundTripCounter:
    """Counts the round trips of every connection ``engine`` opens from now on (pooled ones are dropped)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.round_trips = 0
        sa.event.listen(engine, "connect", self._wrap)
        engine.dispose()

    def _wrap(self, dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection._sock = _CountedStream(dbapi_connection._sock, self)
