"""An embedded PostgreSQL (pgserver) for the local stack and the test session."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Postgres:
    """A running server and how to reach it; ``stop()`` ends it if we started it."""

    url: str  # SQLAlchemy URL, pg8000 driver
    _server: Any = None

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def start_embedded(data_dir: Path, database: str = "primecloud") -> Postgres:
    """Start (or attach to) a server whose data lives under ``data_dir``; create ``database``."""
    import pgserver

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode="stop")  # type: ignore[attr-defined]
    if not database.replace("_", "").isalnum():
        raise ValueError(f"not a plain database name: {database!r}")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608 - checked above
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    socket = data_dir.resolve() / ".s.PGSQL.5432"
    return Postgres(url=f"postgresql+pg8000://postgres@/{database}?unix_sock={socket}", _server=server)


def from_env_or_embedded(env_var: str, data_dir: Path, database: str) -> Postgres:
    """Use the server named by ``env_var`` when set, else an embedded one."""
    url = os.environ.get(env_var)
    if url:
        return Postgres(url=url)
    return start_embedded(data_dir, database)


def run_alembic(url: str, *args: str) -> None:
    """Run an Alembic command (``"upgrade", "head"``) against ``url`` with the repo's migrations."""
    from alembic import command
    from alembic.config import Config

    root = Path(__file__).resolve().parents[2]  # the repository
    config = Config(str(root / "alembic.ini"))
    config.set_main_option("script_location", str(root / "migrations"))
    config.attributes["database_url"] = url
    getattr(command, args[0])(config, *args[1:])


APP_LOGIN = "primecloud_api"
# Local and test servers only (trust auth on a private socket); in AWS the secret holds the real one.
APP_LOGIN_PASSWORD = "local-app-password"  # noqa: S105


def ensure_app_login(owner_url: str, login: str = APP_LOGIN, password: str = APP_LOGIN_PASSWORD) -> str:
    """The URL the application uses: a login role in ``primecloud_app`` (migration 0002), not the owner.

    Row-level security applies to it (no ownership, no BYPASSRLS); the owner's URL stays for
    migrations and for tests that set data up. Idempotent.
    """
    import sqlalchemy as sa

    if not login.replace("_", "").isalnum() or not password.replace("-", "").isalnum():
        raise ValueError("the role name and password must be plain words")
    engine = sa.create_engine(owner_url)
    try:
        with engine.begin() as connection:
            exists = connection.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :name"), {"name": login})
            if exists.first() is None:
                connection.execute(sa.text(f"CREATE ROLE {login} LOGIN INHERIT NOBYPASSRLS"))
            connection.execute(sa.text(f"ALTER ROLE {login} PASSWORD '{password}'"))  # utility statements take no binds
            connection.execute(sa.text(f"GRANT primecloud_app TO {login}"))
    finally:
        engine.dispose()
    url = sa.make_url(owner_url).set(username=login, password=password)
    return url.render_as_string(hide_password=False)
