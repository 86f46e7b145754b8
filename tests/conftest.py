"""Session-wide test fixtures: a real PostgreSQL, migrations, per-test cleanup.

PostgreSQL is embedded (pgserver, data under .local/pgtest or .local/$TEST_PG_DIR) unless
TEST_DATABASE_URL names one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from localrun.services.postgres import Postgres, from_env_or_embedded, run_alembic
from localrun.services.sshd import SshServer

ROOT = Path(__file__).resolve().parents[1]

# Keeps every log line of the session and fails the run when one holds a secret (tests/log_scan.py).
pytest_plugins = ["tests.log_scan"]

# Quiet, deterministic Powertools in tests; AWS clients never reach a real account.
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "PrimeCloudTest")
os.environ.setdefault("POWERTOOLS_DEV", "false")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("ENVIRONMENT", "test")


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    # TEST_PG_DIR lets parallel pytest sessions each run their own embedded server.
    data_dir = ROOT / ".local" / os.environ.get("TEST_PG_DIR", "pgtest")
    server = from_env_or_embedded("TEST_DATABASE_URL", data_dir, "primecloud_test")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def database_url(postgres: Postgres) -> Iterator[str]:
    """A migrated database (the owner's URL, for setting data up); the layer's engine points at it
    for the whole session as the application role, so row-level security applies as in AWS."""
    from localrun.services.postgres import ensure_app_login
    from primecloud import db
    from primecloud.config import get_settings

    run_alembic(postgres.url, "downgrade", "base")
    run_alembic(postgres.url, "upgrade", "head")
    os.environ["DATABASE_URL"] = ensure_app_login(postgres.url)
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


@pytest.fixture(scope="session")
def aws_server() -> Iterator[dict[str, str]]:
    """moto in server mode (real HTTP: presigned URLs work), bootstrapped like the local stack.

    Sets AWS_ENDPOINT_URL and friends for the whole session, so every boto3 client the layer
    creates talks to it.
    """
    from localrun.services.moto import bootstrap_aws, start_moto

    server = start_moto(port=0)
    env = bootstrap_aws(server.url)
    previous = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    from primecloud.config import get_settings

    get_settings.cache_clear()
    yield env
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    get_settings.cache_clear()
    server.stop()


class ApiResponse:
    def __init__(self, response: requests.Response) -> None:
        self.status: int = response.status_code
        self.headers = response.headers
        self.text = response.text
        try:
            self.json: Any = response.json()
        except ValueError:
            self.json = None

    def __repr__(self) -> str:
        return f"<{self.status} {self.text[:300]}>"


class ApiClient:
    """HTTP through the local gateway, exactly as a client would call API Gateway."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        data: str | bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> ApiResponse:
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        response = self.http.request(
            method, self.base_url + path, json=json, data=data, headers=all_headers, params=params, timeout=30
        )
        return ApiResponse(response)

    def get(self, path: str, **kwargs: Any) -> ApiResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> ApiResponse:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> ApiResponse:
        return self.request("PATCH", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> ApiResponse:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> ApiResponse:
        return self.request("DELETE", path, **kwargs)


@pytest.fixture(scope="session")
def gateway_url(database_url: str, aws_server: dict[str, str]) -> Iterator[str]:
    from localrun.gateway import serve_in_thread

    server, base_url = serve_in_thread(ROOT / "template.yaml", port=0)
    yield base_url
    server.shutdown()
    server.server_close()


@pytest.fixture
def api(gateway_url: str, db: sa.Engine) -> ApiClient:
    """A client of the running local API over a database emptied after the test."""
    return ApiClient(gateway_url)


@pytest.fixture(scope="session")
def sshd() -> Iterator[SshServer]:
    """A real OpenSSH sshd on a loopback port (installed with apt-get when missing, as root)."""
    from localrun.services.sshd import ensure_openssh, find_sshd, start_sshd

    if find_sshd() is None:
        if os.geteuid() != 0:
            pytest.fail("sshd is missing and only root can install it: python -m localrun ensure-openssh")
        ensure_openssh()
    server = start_sshd()
    yield server
    server.stop()


def assert_problem(r: ApiResponse, status: int, slug: str) -> dict[str, Any]:
    """An RFC 9457 problem of ``status`` and type ``.../slug``, naming its request, with no traceback."""
    assert r.status == status, r
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body: dict[str, Any] = r.json
    assert body["type"].endswith("/" + slug) and body["status"] == status, body
    assert body["request_id"], "every problem names the request"
    assert "Traceback" not in r.text
    return body


class StatementCount:
    def __init__(self) -> None:
        self.statements: list[str] = []

    def __len__(self) -> int:
        return len(self.statements)


@contextmanager
def count_statements() -> Iterator[StatementCount]:
    """The SQL statements the layer's engine runs inside the block."""
    from primecloud.db import get_engine

    counted = StatementCount()

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        counted.statements.append(statement)

    sa.event.listen(get_engine(), "before_cursor_execute", seen)
    try:
        yield counted
    finally:
        sa.event.remove(get_engine(), "before_cursor_execute", seen)


def drain_queue(sqs: Any, queue_url: str) -> int:
    """Empty a queue of the shared moto server (PurgeQueue is allowed once a minute per queue)."""
    drained = 0
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
            "Messages", []
        )
        if not messages:
            return drained
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        drained += len(messages)
