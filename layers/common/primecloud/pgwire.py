"""pg8000's connection with one network round trip per statement instead of three or four.

pg8000 (1.31) sends a statement with parameters as three exchanges, each waiting for the server:
Parse + Sync, Describe + Sync, then Bind + Execute + Sync; COMMIT and ROLLBACK go the same way; and
the BEGIN that opens each transaction is a fourth exchange of its own before the first statement.
A read request (BEGIN, tenant check, query, COMMIT) was ten round trips to the database, each a
network hop in AWS (RDS, RDS Proxy). The extended query protocol lets a client send the whole
sequence and read the answers after one Sync, which is what libpq does; this connection does that,
and writes the BEGIN without waiting for it, so it travels with the transaction's first statement.
Literal statements queued with ``add_to_begin`` (the transaction's row-level-security settings, see
``primecloud.db.run_first``) go in the BEGIN's own query, so they cost no round trip either.

What comes back is read exactly as pg8000 reads it (the same message handlers, in the same order),
so results, errors and transaction states are pg8000's own: an error in any step is raised after the
server's ReadyForQuery, with nothing left unread on the socket. ``primecloud.db`` connects with it.
"""

from __future__ import annotations

from typing import Any

from pg8000.converters import make_params
from pg8000.core import SYNC_MSG, Context, _flush, _write
from pg8000.legacy import Connection

BEGIN = "begin transaction"  # the exact text pg8000's cursors send before a transaction's first statement


class PipelinedConnection(Connection):  # type: ignore[misc]
    """A pg8000 (legacy DB-API) connection whose statements each cost one round trip."""

    _begin_pending = False
    _with_begin: str | None = None  # literal SQL sent in the BEGIN's own query (add_to_begin)

    def add_to_begin(self, sql: str) -> bool:
        """Send ``sql`` (literal, no parameters) with the next transaction's BEGIN, at no round trip of
        its own; False when the transaction has begun already (then run it as a statement)."""
        if self.autocommit or self._in_transaction or self._begin_pending:
            return False
        self._with_begin = sql if self._with_begin is None else f"{self._with_begin}; {sql}"
        return True

    def execute_simple(self, statement: str) -> Any:
        if statement == BEGIN and not self.autocommit:
            # A cursor sends this right before its statement and ignores the answer: send it with that
            # statement, and read its answer first when the statement's come back.
            if not self._begin_pending:
                extra, self._with_begin = self._with_begin, None
                self.send_QUERY(statement if extra is None else f"{statement}; {extra}")
                self._begin_pending = True
            return Context(statement)
        context = Context(statement)
        self.send_QUERY(statement)
        self._exchange(context)
        return context

    def execute_unnamed(self, statement: str, vals: Any = (), oids: Any = (), stream: Any = None) -> Any:
        context = Context(statement, stream=stream)
        params = make_params(self.py_types, vals)  # may refuse a value: before anything is written
        self.send_PARSE(b"\x00", statement, oids)
        self.send_DESCRIBE_STATEMENT(b"\x00")
        self.send_BIND(b"\x00", params)
        self.send_EXECUTE()
        _write(self._sock, SYNC_MSG)
        self._exchange(context)
        return context

    def commit(self) -> None:
        self._with_begin = None  # queued for a transaction that never sent a statement
        super().commit()

    def rollback(self) -> None:
        self._with_begin = None
        if self._begin_pending:  # a statement refused before it was sent left its BEGIN unsent
            self._exchange(None)
        super().rollback()

    def _exchange(self, context: Any) -> None:
        """Send what is written, then read the pending BEGIN's answer (if any) and this one's (if any)."""
        _flush(self._sock)
        begin_error = self._read_begin()
        if context is not None:
            self.handle_messages(context)
        if begin_error is not None:
            raise begin_error

    def _read_begin(self) -> Exception | None:
        if not self._begin_pending:
            return None
        self._begin_pending = False
        try:
            self.handle_messages(Context(BEGIN))
        except Exception as error:  # read the statement's answer too before raising: the socket stays in step
            return error
        return None
