"""Through HTTP: what the edge refuses before any route acts (issue 16).

- the authorizer cannot reach the database: 503 problem+json on every authorized route, nothing changes;
- a well-formed cursor carrying wrong types: 422 naming the cursor, no SQL in the logs;
- a body nested 1,000+ levels or with an integer of 4,300+ digits: 400, one log line at most;
- another account's API key: 404 whatever scope it lacks (the tenant check comes before the scope check).
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from localrun.template import load_template
from primecloud.models import Base
from primecloud.models.iam import Account
from tests.conftest import ApiClient, assert_problem
from tests.factories import Tenant, make_api_key, make_bucket, make_tenant
from tests.invoicing_factories import make_staff_token
from tests.log_scan import SESSION_LOGS

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
AUTHORIZER = "AuthorizerFunction"
CLOSED_PORT_URL = "postgresql+pg8000://nobody@127.0.0.1:9/nothing"  # nothing listens on port 9


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Acme")


@pytest.fixture
def globex(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Globex")


# --- the authorizer cannot reach the database -----------------------------------------------------


@pytest.fixture(scope="module")
def own_gateway(database_url: str, aws_server: dict[str, str]) -> Iterator[tuple[str, ModuleType]]:
    """A gateway of its own, so its authorizer alone can be cut off from the database."""
    from localrun.gateway import serve_in_thread

    server, base_url = serve_in_thread(ROOT / "template.yaml", port=0)
    yield base_url, server.gateway.runtime.module(AUTHORIZER)
    server.shutdown()
    server.server_close()


@contextmanager
def _closed_port_unit_of_work() -> Iterator[Session]:
    from sqlalchemy import make_url

    from primecloud.db import build_engine

    engine = build_engine(url=make_url(CLOSED_PORT_URL), poolclass=NullPool)
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


@pytest.fixture
def dark_api(own_gateway: tuple[str, ModuleType], db: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> ApiClient:
    """The API with the authorizer's database settings pointing at a closed port (the handlers' still work:
    whatever a route would do, it could do, so a refusal is the edge's and nothing else's)."""
    base_url, authorizer = own_gateway
    monkeypatch.setattr(authorizer, "unit_of_work", _closed_port_unit_of_work)
    return ApiClient(base_url)


def _fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda match: ids.get(match.group(1), str(uuid.uuid4())), path)


def _snapshot(engine: sa.Engine) -> dict[str, tuple[int, str]]:
    """Every table's row count and a digest of its rows."""
    out: dict[str, tuple[int, str]] = {}
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            rows = sa.select(sa.func.count(), sa.func.md5(sa.func.coalesce(_ROWS_AS_TEXT, ""))).select_from(
                table.alias("t")
            )
            count, digest = connection.execute(rows).one()
            out[table.name] = (count, digest)
    return out


# every row of the table (aliased t) as text, in a stable order
_ROWS_AS_TEXT: sa.ColumnClause[Any] = sa.literal_column("string_agg(t::text, '|' ORDER BY t::text)")


AUTHORIZED_ROUTES = sorted(route.route_key for route in TEMPLATE.routes if route.authorizer is not None)


def test_every_authorized_route_is_503_and_changes_nothing_when_the_authorizer_has_no_database(
    dark_api: ApiClient, acme: Tenant, db: sa.Engine
) -> None:
    import boto3

    bucket_id = make_bucket(db, acme.account_id)
    with Session(db) as session, session.begin():
        account = session.get_one(Account, acme.account_id)
        api_key, _ = make_api_key(session, account, acme.members["owner"].user_id, ["account:write"])
    _staff_id, staff_token = make_staff_token(db)
    ids = {
        "account_id": str(acme.account_id),
        "bucket_id": str(bucket_id),
        "user_id": str(acme.members["viewer"].user_id),
        "job": "collect_usage",
        "metric": "storage_gb_month",
    }
    before = _snapshot(db)
    buckets_before = boto3.client("s3").list_buckets()["Buckets"]
    assert AUTHORIZED_ROUTES, "the template has authorized routes"
    for route_key in AUTHORIZED_ROUTES:
        method, path = route_key.split(" ", 1)
        for token in (acme.token("owner"), api_key, staff_token):
            r = dark_api.request(
                method,
                _fill(path, ids),
                token=token,
                data="{}" if method in ("POST", "PUT", "PATCH") else None,
                headers={"Content-Type": "application/json", "Idempotency-Key": f"k-{uuid.uuid4().hex}"},
            )
            problem = assert_problem(r, 503, "unavailable")
            assert problem["detail"] == "The credentials could not be checked: the database is unavailable.", route_key
            assert r.headers["retry-after"] == "5"
    assert _snapshot(db) == before  # not a row written: no audit entry, no idempotency record, no last_used_at
    assert boto3.client("s3").list_buckets()["Buckets"] == buckets_before


def test_the_same_gateway_serves_again_when_the_database_is_back(
    own_gateway: tuple[str, ModuleType], acme: Tenant
) -> None:
    # the refusal is per request: nothing of it stays behind in the authorizer's container
    r = ApiClient(own_gateway[0]).get(f"/v1/accounts/{acme.account_id}", token=acme.token("owner"))
    assert r.status == 200, r


def test_a_refused_token_is_still_401_while_the_database_is_down(dark_api: ApiClient, acme: Tenant) -> None:
    # no bearer token at all never reaches the database: API Gateway's 401 stays
    r = dark_api.get(f"/v1/accounts/{acme.account_id}")
    assert r.status == 401 and r.json == {"message": "Unauthorized"}


# --- cursors --------------------------------------------------------------------------------------------


def _cursor(values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


BAD_CURSORS = {
    "text-for-timestamp": _cursor(["2026-11-21T10:00:00+00:00", "not-a-uuid"]),
    "number-for-uuid": _cursor([{"t": "2026-11-21T10:00:00+00:00"}, {"u": 5}]),
    "list-for-uuid": _cursor([{"t": "2026-11-21T10:00:00+00:00"}, [1, 2]]),
    "uuid-for-name": _cursor([{"u": str(uuid.uuid4())}, {"u": str(uuid.uuid4())}]),
}


@contextmanager
def _log_lines() -> Iterator[list[tuple[str, str]]]:
    start = len(SESSION_LOGS.lines)
    seen: list[tuple[str, str]] = []
    yield seen
    seen.extend(line for line in SESSION_LOGS.lines[start:] if not line[0].startswith("localrun"))


@pytest.mark.parametrize("cursor", list(BAD_CURSORS.values()), ids=list(BAD_CURSORS))
@pytest.mark.parametrize(
    "path",
    [
        "/v1/accounts/{account_id}/members",
        "/v1/accounts/{account_id}/audit-logs",
        "/v1/accounts/{account_id}/buckets",
        "/v1/accounts/{account_id}/api-keys",
        "/v1/accounts/{account_id}/favorites",
        "/v1/me/sessions",
    ],
)
def test_a_well_formed_cursor_with_wrong_types_is_422_naming_the_cursor(
    api: ApiClient, acme: Tenant, path: str, cursor: str
) -> None:
    with _log_lines() as lines:
        r = api.get(path.format(account_id=acme.account_id), token=acme.token("owner"), params={"cursor": cursor})
    problem = assert_problem(r, 422, "validation-error")
    assert [error["field"] for error in problem["errors"]] == ["query.cursor"]
    assert not any("SELECT" in line or "Traceback" in line for _, line in lines), lines


def test_the_admin_job_run_list_refuses_a_bad_cursor_too(api: ApiClient, db: sa.Engine) -> None:
    token = make_staff_token(db)[1]
    r = api.get("/v1/admin/jobs/runs", token=token, params={"cursor": BAD_CURSORS["text-for-timestamp"]})
    assert [error["field"] for error in assert_problem(r, 422, "validation-error")["errors"]] == ["query.cursor"]


# --- bodies too deep, integers too long -----------------------------------------------------------------


DEEP_ARRAY = "[" * 1500 + "]" * 1500
HOSTILE_BODIES = {
    "nested-1500": '{"email": "a@b.cd", "password": ' + DEEP_ARRAY + "}",
    "nested-100": '{"email": "a@b.cd", "password": ' + "[" * 100 + "]" * 100 + "}",
    "int-5000-digits": '{"email": "a@b.cd", "password": ' + "7" * 5000 + "}",
}


@pytest.mark.parametrize("body", list(HOSTILE_BODIES.values()), ids=list(HOSTILE_BODIES))
@pytest.mark.parametrize("path", ["/v1/auth/login", "/v1/auth/signup", "/v1/auth/password-reset"])
def test_hostile_json_on_public_routes_is_400_with_one_log_line_at_most(api: ApiClient, path: str, body: str) -> None:
    with _log_lines() as lines:
        r = api.post(path, data=body, headers={"Content-Type": "application/json"})
    assert_problem(r, 400, "bad-request")
    assert len(lines) <= 1 and not any("Traceback" in line for _, line in lines), lines


@pytest.mark.parametrize("body", list(HOSTILE_BODIES.values()), ids=list(HOSTILE_BODIES))
def test_hostile_json_on_an_authorized_route_is_400_and_changes_nothing(
    api: ApiClient, acme: Tenant, db: sa.Engine, body: str
) -> None:
    hostile = body.replace('"email": "a@b.cd", "password"', '"settings": {"x"')[:-1] + "}}"
    with _log_lines() as lines:
        r = api.patch(
            f"/v1/accounts/{acme.account_id}",
            token=acme.token("owner"),
            data=hostile,
            headers={"Content-Type": "application/json"},
        )
    assert_problem(r, 400, "bad-request")
    assert len(lines) <= 1 and not any("Traceback" in line for _, line in lines), lines
    with Session(db) as session:
        assert session.get_one(Account, acme.account_id).settings == {}


# --- the tenant check comes before the scope check --------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/v1/accounts/{account_id}/members",
        "/v1/accounts/{account_id}/audit-logs",
        "/v1/accounts/{account_id}/access-keys",
        "/v1/accounts/{account_id}/api-keys",
        "/v1/accounts/{account_id}/buckets/{bucket_id}/objects",
        "/v1/accounts/{account_id}/buckets/{bucket_id}/shares",
    ],
)
def test_another_accounts_key_is_404_whatever_scope_it_lacks(
    api: ApiClient, acme: Tenant, globex: Tenant, db: sa.Engine, path: str
) -> None:
    bucket_id = make_bucket(db, acme.account_id)
    with Session(db) as session, session.begin():
        globex_account = session.get_one(Account, globex.account_id)
        acme_account = session.get_one(Account, acme.account_id)
        foreign, _ = make_api_key(session, globex_account, globex.members["owner"].user_id, ["usage:read"])
        own, _ = make_api_key(session, acme_account, acme.members["owner"].user_id, ["usage:read"])
    url = path.format(account_id=acme.account_id, bucket_id=bucket_id)
    assert_problem(api.get(url, token=foreign), 404, "not-found")
    body = assert_problem(api.get(url, token=own), 403, "forbidden")  # its own account: the scope is what's missing
    assert "lacks the" in body["detail"]
