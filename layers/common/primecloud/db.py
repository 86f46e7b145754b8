"""Database engine and sessions (SQLAlchemy 2.0 over pg8000).

The engine is created once per container, on first use, and reused by every warm
invocation; each invocation gets one Session and one transaction (``unit_of_work``).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, exc, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from primecloud.config import Settings, get_settings

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


def build_engine(settings: Settings | None = None, *, url: URL | None = None, **engine_options: Any) -> Engine:
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


def ping() -> None:
    """Round trip to the database; raises when it is unreachable."""
    with get_engine().connect() as connection:
        connection.execute(text("SELECT 1"))
