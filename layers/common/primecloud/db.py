"""Database engine and sessions (SQLAlchemy 2.0 over pg8000).

The engine is created once per container, on first use, and reused by every warm
invocation; each invocation gets one Session and one transaction (``unit_of_work``).
"""

from __future__ import annotations

import re
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeAlias
from uuid import UUID

from sqlalchemy import (
    URL,
    BigInteger,
    ColumnElement,
    Connection,
    Engine,
    String,
    cast,
    create_engine,
    event,
    exc,
    func,
    literal,
    make_url,
    select,
    text,
)
from sqlalchemy.orm import Session, sessionmaker

from primecloud.config import Settings, get_settings
from primecloud.observability import logger

_engine: Engine | None = None
_session_factory: sessionmaker[Session] | None = None


def database_url(settings: Settings) -> URL:
    """The URL from DATABASE_URL, or built from the RDS secret named by DATABASE_SECRET_ARN."""
    if settings.database_url:
        url = make_url(settings.database_url)
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+pg8000")
        return url
    if settings.database_secret_arn:
        secret = _rds_secret(settings)
        return URL.create(
            "postgresql+pg8000",
            username=secret["username"],
            password=secret["password"],
            host=secret["host"],
            port=int(secret.get("port", 5432)),
            database=secret.get("dbname", settings.database_name),
        )
    raise RuntimeError("Set DATABASE_URL or DATABASE_SECRET_ARN")


def _connect_args(settings: Settings) -> dict[str, Any]:
    args: dict[str, Any] = {"timeout": settings.database_connect_timeout}
    if settings.database_ssl:
        args["ssl_context"] = ssl.create_default_context(cafile=settings.database_ssl_ca_file)
    return args


def _rds_secret(settings: Settings) -> dict[str, Any]:
    from aws_lambda_powertools.utilities import parameters

    assert settings.database_secret_arn
    # Cached by Powertools for 5 minutes; a rotated password is picked up on the next fetch.
    secret: dict[str, Any] = parameters.get_secret(settings.database_secret_arn, transform="json", max_age=300)
    return secret


TIMESTAMPTZ_OID = 1184


def timestamptz_in(text_value: str) -> datetime | str:
    """pg8000's timestamptz parser, ~100x faster: ``datetime.fromisoformat`` instead of ``strptime``.

    It was a quarter of a warm list request (two timestamps per row). Values Python can't hold
    (``infinity``, years past 9999) stay text, as pg8000 leaves them.
    """
    try:
        return datetime.fromisoformat(text_value)
    except ValueError:
        from pg8000.converters import timestamptz_in as pg8000_timestamptz_in

        result: datetime | str = pg8000_timestamptz_in(text_value)
        return result


def cache_paramstyle_conversion() -> None:
    """Convert each SQL text to PostgreSQL's $n placeholders once, not on every execute.

    pg8000 rescans the whole statement character by character in Python for every call
    (about a third of a millisecond, more than a SELECT 1 round trip); SQLAlchemy sends the
    same few strings again and again. For positional styles the result depends on the text
    alone (the arguments pass through unchanged), so it can be cached; named styles are left
    to pg8000.
    """
    import pg8000.legacy

    original = pg8000.legacy.convert_paramstyle
    if getattr(original, "_primecloud_cached", False):
        return

    @lru_cache(maxsize=2048)
    def converted_text(style: str, query: str) -> str:
        text_out: str = original(style, query, ())[0]
        return text_out

    def convert_paramstyle(style: str, query: str, args: Any) -> tuple[str, Any]:
        if style in ("format", "qmark", "numeric"):
            return converted_text(style, query), args
        result: tuple[str, Any] = original(style, query, args)
        return result

    convert_paramstyle._primecloud_cached = True  # type: ignore[attr-defined]
    pg8000.legacy.convert_paramstyle = convert_paramstyle


# C901: the engine's event listeners are closures over its settings, each of them simple.
def build_engine(settings: Settings | None = None, *, url: URL | None = None, **engine_options: Any) -> Engine:  # noqa: C901
    """An engine with the app's connection rules: TLS when configured, timeouts, UTC."""
    settings = settings or get_settings()
    options: dict[str, Any] = {
        "pool_size": settings.database_pool_size,
        "max_overflow": 0,
        "pool_recycle": 300,
    }
    options.update(engine_options)
    if options.get("poolclass") is not None:
        for pool_option in ("pool_size", "max_overflow", "pool_recycle"):
            options.pop(pool_option, None)
    cache_paramstyle_conversion()
    # hide_parameters: an error's text (logged with an unexpected error's traceback) names the SQL but
    # never its values, which may be a token hash, an email or a customer's input.
    options.setdefault("hide_parameters", True)
    engine = create_engine(url or database_url(settings), connect_args=_connect_args(settings), **options)
    statement_timeout = int(settings.database_statement_timeout_ms)
    ping_after_idle = settings.database_ping_after_idle_seconds

    if settings.database_secret_arn and not settings.database_url:

        @event.listens_for(engine, "do_connect")
        def _fresh_credentials(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
            # Each new connection reads the (cached) secret, so a rotated password works
            # without replacing the container.
            secret = _rds_secret(settings)
            cparams["user"] = secret["username"]
            cparams["password"] = secret["password"]

    @event.listens_for(engine, "do_connect")
    def _pipelined(_dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        from primecloud.pgwire import PipelinedConnection

        return PipelinedConnection(*cargs, **cparams)  # one round trip per statement (primecloud.pgwire)

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["primecloud.idle_since"] = time.time()  # wall clock: it keeps counting while frozen

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        # Instead of pool_pre_ping's round trip on every checkout: a ping only for a connection that sat
        # idle long enough to have been closed under it. A dead one is replaced (DisconnectionError).
        idle_since = record.info.get("primecloud.idle_since")
        if idle_since is None or time.time() - idle_since < ping_after_idle:
            return
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
        except Exception as error:
            raise exc.DisconnectionError("stale pooled connection") from error

    @event.listens_for(engine, "begin")
    def _in_system_scope(connection: Connection) -> None:
        if _system_reason.get() is not None:  # inside system_scope_throughout: rides on the BEGIN
            run_first(connection, _SYSTEM_SQL)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.register_in_adapter(TIMESTAMPTZ_OID, timestamptz_in)
        # pg8000 keeps the connect timeout as the socket's timeout for every later read, which would
        # cut any statement longer than DATABASE_CONNECT_TIMEOUT; reads may take as long as the
        # server-side statement timeout (which cancels first), plus a margin for a dead network.
        raw_socket = getattr(dbapi_connection, "_usock", None)
        if raw_socket is not None:
            raw_socket.settimeout(statement_timeout / 1000 + settings.database_connect_timeout)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"SET statement_timeout = {statement_timeout}")
        cursor.execute("SET TIME ZONE 'UTC'")
        cursor.close()
        # Committed: a SET inside a transaction is undone by its rollback, and the first request on this
        # connection that rolls back (any 4xx) would otherwise leave it without a statement timeout.
        dbapi_connection.commit()

    return engine


def get_engine() -> Engine:
    global _engine, _session_factory
    if _engine is None:
        _engine = build_engine()
        _session_factory = sessionmaker(_engine, expire_on_commit=False)
    return _engine


def reset_engine() -> None:
    """Drop the cached engine (tests point the layer at another database)."""
    global _engine, _session_factory
    if _engine is not None:
        _engine.dispose()
    _engine = None
    _session_factory = None


def new_session() -> Session:
    get_engine()
    assert _session_factory is not None
    return _session_factory()


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """One session, one transaction: commit on success, roll back on any error."""
    session = new_session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


Sessions = Callable[[], AbstractContextManager[Session]]
"""Where a job gets the session of each of its transactions: ``unit_of_work``, or a test's own."""


# SQLSTATE classes of a server that cannot serve now: connection exception (08), insufficient
# resources (53: too many connections, disk full), operator intervention (57: shutdown, statement timeout).
_OUTAGE_SQLSTATE_CLASSES = frozenset({"08", "53", "57"})


def is_database_outage(error: BaseException) -> bool:
    """The database is unreachable or cannot serve (503), as opposed to a statement's own error."""
    if isinstance(error, exc.OperationalError | exc.InterfaceError | exc.TimeoutError):
        return True  # TimeoutError: no pooled connection came free in time
    if not isinstance(error, exc.DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    details = error.orig.args[0] if error.orig is not None and error.orig.args else None
    return isinstance(details, dict) and str(details.get("C", ""))[:2] in _OUTAGE_SQLSTATE_CLASSES


# --- what a transaction may see under row-level security (migrations 0002, 0003) ------------------
# Transaction-local settings (``set_config(..., true)``): RDS Proxy does not pin, and a pooled
# connection's next transaction starts with none. With none of them a transaction sees no tenant's rows.
TENANT_SETTING = "primecloud.account_id"
USER_SETTING = "primecloud.user_id"
SCOPE_SETTING = "primecloud.scope"
_SYSTEM_SQL = f"SELECT set_config('{SCOPE_SETTING}', 'system', true)"
PURGE_ROLE = "primecloud_purge"  # the only role that deletes audit entries (migration 0003)
_PLAIN_VALUE = re.compile(r"[0-9A-Za-z_.:-]{0,64}")
_system_reason: ContextVar[str | None] = ContextVar("primecloud_system_scope", default=None)


def setting_literal(value: UUID | str) -> str:
    """A quoted literal for a setting's value (ids and plain words only: these statements carry no binds)."""
    plain = str(value)
    if not _PLAIN_VALUE.fullmatch(plain):
        raise ValueError("a setting value must be an id or a plain word")
    return f"'{plain}'"


def run_first(target: Session | Connection, *statements: str) -> None:
    """Run literal-only ``statements`` at the start of ``target``'s transaction.

    When the transaction has sent nothing yet they travel in its BEGIN's query (no round trip, no
    statement of their own: ``PipelinedConnection.add_to_begin``); otherwise they run now.
    """
    from primecloud.pgwire import PipelinedConnection

    connection = target.connection() if isinstance(target, Session) else target
    raw = connection.connection.dbapi_connection
    if isinstance(raw, PipelinedConnection) and raw.add_to_begin("; ".join(statements)):
        return
    for statement in statements:
        connection.exec_driver_sql(statement)


def narrow_to_user(target: Session | Connection, user_id: UUID) -> None:
    """The transaction acts for ``user_id``: with no tenant it sees that user's own rows only."""
    run_first(target, f"SELECT set_config('{USER_SETTING}', {setting_literal(user_id)}, true)")


def system_scope(target: Session | Connection, reason: str) -> None:
    """Let this one transaction see every tenant's rows, for ``reason`` (logged).

    The one way past row-level security's tenant narrowing: the jobs, platform staff, the
    authorizer's token lookup and the public token lookups (a share link, an invitation).
    """
    logger.info("system scope", extra={"reason": reason})
    run_first(target, _SYSTEM_SQL)


@contextmanager
def system_scope_throughout(reason: str) -> Iterator[None]:
    """``system_scope`` for every transaction the layer's engine begins inside the block (a job's run)."""
    logger.info("system scope", extra={"reason": reason, "throughout": True})
    token = _system_reason.set(reason)
    try:
        yield
    finally:
        _system_reason.reset(token)


def as_purge_role(target: Session | Connection) -> None:
    """Act as ``primecloud_purge`` for the rest of the transaction: the retention purge's audit-log
    deletions (the application role only inserts and reads audit entries)."""
    run_first(target, f"SET LOCAL ROLE {PURGE_ROLE}")


# --- advisory locks ------------------------------------------------------------------------------
# One key derivation for every advisory lock, hashtextextended('<namespace>:<key>', 0), so all who
# take a lock (a transaction's lock, a job run's session-level one) name the same key.
LockKey: TypeAlias = str | UUID | ColumnElement[Any]


def advisory_lock_key(namespace: str, key: LockKey) -> ColumnElement[int]:
    """The lock's 64-bit key as SQL; ``key`` may be a column, for a lock that rides on a statement."""
    if isinstance(key, ColumnElement):
        return func.hashtextextended(literal(f"{namespace}:") + cast(key, String), 0, type_=BigInteger)
    return func.hashtextextended(literal(f"{namespace}:{key}"), 0, type_=BigInteger)


def xact_lock_sql(namespace: str, key: LockKey, *, shared: bool = False) -> ColumnElement[Any]:
    """The SQL that waits for the lock (held till the transaction ends), to select alone or add to a statement."""
    lock_key = advisory_lock_key(namespace, key)
    return func.pg_advisory_xact_lock_shared(lock_key) if shared else func.pg_advisory_xact_lock(lock_key)


def xact_lock(target: Session | Connection, namespace: str, key: LockKey, *, shared: bool = False) -> None:
    """Wait for the transaction-scoped advisory lock ``namespace``/``key``; held till the transaction ends."""
    target.execute(select(xact_lock_sql(namespace, key, shared=shared)))


def try_xact_lock(target: Session | Connection, namespace: str, key: LockKey) -> bool:
    """Take the transaction-scoped lock if it is free (held till the transaction ends); whether it was."""
    return bool(target.execute(select(func.pg_try_advisory_xact_lock(advisory_lock_key(namespace, key)))).scalar_one())


def ping() -> None:
    """Round trip to the database; raises when it is unreachable."""
    with get_engine().connect() as connection:
        connection.execute(text("SELECT 1"))
