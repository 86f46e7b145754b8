"""Idempotency-Key on POSTs that create resources: replay, reuse with another body, in-progress duplicates."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.api.idempotency import request_fingerprint
from primecloud.models.iam import AccountMember
from primecloud.models.storage import AccessKey, Bucket
from primecloud.models.system import AuditLog, IdempotencyKey
from tests.conftest import ApiClient, ApiResponse, assert_problem
from tests.factories import Tenant, make_tenant


@pytest.fixture
def acme(db: sa.Engine, aws_server: dict[str, str]) -> Tenant:
    return make_tenant(db, "Acme")


def _bucket_body() -> dict[str, Any]:
    return {"name": f"idem-{uuid.uuid4().hex[:16]}"}


def _count(db: sa.Engine, statement: Any) -> int:
    with Session(db) as session:
        return int(session.scalar(statement) or 0)


def test_a_replayed_create_returns_the_first_response_and_creates_nothing_more(
    api: ApiClient, db: sa.Engine, acme: Tenant
) -> None:
    url = f"/v1/accounts/{acme.account_id}/buckets"
    body = _bucket_body()
    headers = {"Idempotency-Key": "create-bucket-1"}
    first = api.post(url, token=acme.token("admin"), json=body, headers=headers)
    assert first.status == 201, first
    assert "Idempotent-Replayed" not in first.headers

    again = api.post(url, token=acme.token("admin"), json=body, headers=headers)

    assert again.status == 201
    assert again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _count(db, sa.select(sa.func.count()).select_from(Bucket).where(Bucket.account_id == acme.account_id)) == 1
    assert _count(db, sa.select(sa.func.count()).where(AuditLog.action == "bucket.create")) == 1
    with Session(db) as session:
        stored = session.scalars(sa.select(IdempotencyKey)).one()
    assert stored.status_code == 201
    assert stored.account_id == acme.account_id
    assert abs(stored.expires_at - stored.created_at - timedelta(hours=24)) < timedelta(seconds=5)


def test_the_same_key_with_another_body_is_refused(api: ApiClient, db: sa.Engine, acme: Tenant) -> None:
    url = f"/v1/accounts/{acme.account_id}/buckets"
    headers = {"Idempotency-Key": "reused"}
    assert api.post(url, token=acme.token("admin"), json=_bucket_body(), headers=headers).status == 201

    r = api.post(url, token=acme.token("admin"), json=_bucket_body(), headers=headers)

    problem = assert_problem(r, 422, "validation-error")
    assert problem["errors"][0]["field"] == "Idempotency-Key"
    assert "different request" in problem["detail"]
    assert _count(db, sa.select(sa.func.count()).select_from(Bucket)) == 1


def test_a_duplicate_while_the_first_is_running_is_409(api: ApiClient, db: sa.Engine, acme: Tenant) -> None:
    # given the claim a request still in flight holds (what a concurrent duplicate finds)
    url = f"/v1/accounts/{acme.account_id}/buckets"
    body = _bucket_body()
    now = datetime.now(UTC)
    with Session(db) as session, session.begin():
        session.add(
            IdempotencyKey(
                user_id=acme.members["admin"].user_id,
                account_id=acme.account_id,
                key="in-flight",
                method="POST",
                path=url,
                request_hash=request_fingerprint("POST", url, json.dumps(body)),
                locked_until=now + timedelta(seconds=60),
                expires_at=now + timedelta(hours=24),
            )
        )

    r = api.post(url, token=acme.token("admin"), data=json.dumps(body), headers={"Idempotency-Key": "in-flight"})

    assert_problem(r, 409, "conflict")
    assert r.headers["Retry-After"] == "1"
    assert _count(db, sa.select(sa.func.count()).select_from(Bucket)) == 0


def test_a_claim_abandoned_by_a_crashed_request_is_taken_over(api: ApiClient, db: sa.Engine, acme: Tenant) -> None:
    url = f"/v1/accounts/{acme.account_id}/buckets"
    body = _bucket_body()
    now = datetime.now(UTC)
    with Session(db) as session, session.begin():
        session.add(
            IdempotencyKey(
                user_id=acme.members["admin"].user_id,
                key="crashed",
                method="POST",
                path=url,
                request_hash=request_fingerprint("POST", url, json.dumps(body)),
                locked_until=now - timedelta(seconds=1),
                expires_at=now + timedelta(hours=24),
            )
        )

    r = api.post(url, token=acme.token("admin"), data=json.dumps(body), headers={"Idempotency-Key": "crashed"})

    assert r.status == 201
    assert _count(db, sa.select(sa.func.count()).select_from(Bucket)) == 1


def test_concurrent_duplicates_create_one_bucket(api: ApiClient, db: sa.Engine, acme: Tenant) -> None:
    url = f"/v1/accounts/{acme.account_id}/buckets"
    body = _bucket_body()

    def create(_: int) -> int:
        return (
            ApiClient(api.base_url)
            .post(url, token=acme.token("admin"), json=body, headers={"Idempotency-Key": "race"})
            .status
        )

    with ThreadPoolExecutor(max_workers=3) as pool:
        statuses = list(pool.map(create, range(3)))

    assert set(statuses) <= {201, 409} and 201 in statuses
    assert _count(db, sa.select(sa.func.count()).select_from(Bucket)) == 1


def test_a_failed_request_releases_its_key(api: ApiClient, db: sa.Engine, acme: Tenant) -> None:
    url = f"/v1/accounts/{acme.account_id}/buckets"
    body = _bucket_body()
    assert api.post(url, token=acme.token("admin"), json=body).status == 201
    # the name is taken now: the keyed request fails with 409 and keeps nothing
    r = api.post(url, token=acme.token("admin"), json=body, headers={"Idempotency-Key": "fails"})
    assert_problem(r, 409, "conflict")
    assert _count(db, sa.select(sa.func.count()).select_from(IdempotencyKey)) == 0


def test_keys_belong_to_their_user(api: ApiClient, db: sa.Engine, acme: Tenant) -> None:
    url = f"/v1/accounts/{acme.account_id}/buckets"
    headers = {"Idempotency-Key": "same-string"}
    assert api.post(url, token=acme.token("admin"), json=_bucket_body(), headers=headers).status == 201
    r = api.post(url, token=acme.token("owner"), json=_bucket_body(), headers=headers)
    assert r.status == 201 and "Idempotent-Replayed" not in r.headers
    assert _count(db, sa.select(sa.func.count()).select_from(Bucket)) == 2


def test_an_expired_key_runs_the_request_again(api: ApiClient, db: sa.Engine, acme: Tenant) -> None:
    url = f"/v1/accounts/{acme.account_id}/buckets"
    body = _bucket_body()
    headers = {"Idempotency-Key": "old"}
    assert api.post(url, token=acme.token("admin"), json=body, headers=headers).status == 201
    with Session(db) as session, session.begin():
        session.execute(sa.update(IdempotencyKey).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    # the bucket exists, so running again really runs: the name is taken
    assert_problem(api.post(url, token=acme.token("admin"), json=body, headers=headers), 409, "conflict")


@pytest.mark.parametrize("key", ["has space", "x" * 256, "tab\tinside", ""])
def test_a_malformed_key_is_422_naming_the_header(api: ApiClient, db: sa.Engine, acme: Tenant, key: str) -> None:
    r = api.post(
        f"/v1/accounts/{acme.account_id}/buckets",
        token=acme.token("admin"),
        json=_bucket_body(),
        headers={"Idempotency-Key": key},
    )
    problem = assert_problem(r, 422, "validation-error")
    assert "Idempotency-Key" in problem["detail"]
    assert [error["field"] for error in problem["errors"]] == ["Idempotency-Key"]
    assert _count(db, sa.select(sa.func.count()).select_from(Bucket)) == 0


def test_a_replayed_access_key_shows_the_same_secret_which_is_stored_sealed(
    api: ApiClient, db: sa.Engine, acme: Tenant
) -> None:
    url = f"/v1/accounts/{acme.account_id}/access-keys"
    headers = {"Idempotency-Key": "key-1"}
    first = api.post(url, token=acme.token("admin"), json={"name": "backup"}, headers=headers)
    assert first.status == 201, first
    secret = first.json["secret_access_key"]

    again = api.post(url, token=acme.token("admin"), json={"name": "backup"}, headers=headers)

    assert again.status == 201 and again.json == first.json
    assert _count(db, sa.select(sa.func.count()).select_from(AccessKey)) == 1
    with Session(db) as session:
        stored = session.scalars(sa.select(IdempotencyKey)).one()
    assert secret not in json.dumps(stored.response_body)
    assert set(stored.response_body or {}) == {"content_type", "sealed"}


# --------------------------------------------------------------------------- one connection per container


@pytest.fixture
def one_connection(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[sa.Engine]:
    """The layer's engine as the template deploys it: DATABASE_POOL_SIZE 1 (no overflow). The pool's wait is
    cut to 3 s so a request that needs a second connection fails fast instead of after 30 s."""
    from primecloud import db as layer_db
    from primecloud.config import get_settings

    previous = os.environ.get("DATABASE_POOL_SIZE")
    os.environ["DATABASE_POOL_SIZE"] = "1"
    get_settings.cache_clear()
    layer_db.reset_engine()
    engine = layer_db.get_engine()
    assert engine.pool.size() == 1  # type: ignore[attr-defined]
    monkeypatch.setattr(engine.pool, "_timeout", 3)
    yield engine
    if previous is None:
        os.environ.pop("DATABASE_POOL_SIZE", None)
    else:
        os.environ["DATABASE_POOL_SIZE"] = previous
    get_settings.cache_clear()
    layer_db.reset_engine()


def test_with_one_connection_a_failed_request_answers_its_error_and_releases_its_key(
    one_connection: sa.Engine, api: ApiClient, db: sa.Engine, acme: Tenant
) -> None:
    url = f"/v1/accounts/{acme.account_id}/buckets"
    body = _bucket_body()
    assert api.post(url, token=acme.token("admin"), json=body).status == 201
    started = time.monotonic()

    r = api.post(url, token=acme.token("admin"), json=body, headers={"Idempotency-Key": "fails-on-one"})

    assert_problem(r, 409, "conflict")  # the route's own answer, not a 500 from a pool timeout
    assert time.monotonic() - started < 2.5
    assert _count(db, sa.select(sa.func.count()).select_from(IdempotencyKey)) == 0
    # the key is free at once: the retry with a new name runs (no 409 "in progress")
    retry = api.post(
        url, token=acme.token("admin"), json=body | {"name": body["name"] + "-2"}, headers={"Idempotency-Key": "x"}
    )
    assert retry.status == 201, retry


def test_with_one_connection_create_replay_and_in_progress_work(
    one_connection: sa.Engine, api: ApiClient, db: sa.Engine, acme: Tenant
) -> None:
    url = f"/v1/accounts/{acme.account_id}/access-keys"
    headers = {"Idempotency-Key": "one-connection"}
    first = api.post(url, token=acme.token("admin"), json={"name": "backup"}, headers=headers)
    assert first.status == 201, first

    again = api.post(url, token=acme.token("admin"), json={"name": "backup"}, headers=headers)

    assert again.status == 201 and again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    # a claim still in flight (the outcome not yet recorded) is 409, also with one connection
    with Session(db) as session, session.begin():
        session.execute(
            sa.update(IdempotencyKey).values(
                status_code=None, response_body=None, locked_until=datetime.now(UTC) + timedelta(seconds=60)
            )
        )
    assert_problem(api.post(url, token=acme.token("admin"), json={"name": "backup"}, headers=headers), 409, "conflict")
    assert _count(db, sa.select(sa.func.count()).select_from(AccessKey)) == 1


def test_a_request_that_raises_releases_its_key(
    one_connection: sa.Engine, api: ApiClient, db: sa.Engine, acme: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    from primecloud.services import buckets

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(buckets, "create", broken)
    url = f"/v1/accounts/{acme.account_id}/buckets"

    r = api.post(url, token=acme.token("admin"), json=_bucket_body(), headers={"Idempotency-Key": "raises"})

    assert_problem(r, 500, "internal")
    assert _count(db, sa.select(sa.func.count()).select_from(IdempotencyKey)) == 0


# --------------------------------------------------------------------------- a replay passes the route's access check


def _create_key_then_change_role(
    api: ApiClient, db: sa.Engine, acme: Tenant, *, role: str | None
) -> tuple[ApiResponse, ApiResponse]:
    url = f"/v1/accounts/{acme.account_id}/access-keys"
    headers = {"Idempotency-Key": "key-then-demoted"}
    first = api.post(url, token=acme.token("admin"), json={"name": "backup"}, headers=headers)
    assert first.status == 201, first
    admin = acme.members["admin"]
    with Session(db) as session, session.begin():
        membership = (AccountMember.account_id == acme.account_id) & (AccountMember.user_id == admin.user_id)
        if role is None:
            session.execute(sa.delete(AccountMember).where(membership))
        else:
            session.execute(sa.update(AccountMember).where(membership).values(role=role))
    again = api.post(url, token=acme.token("admin"), json={"name": "backup"}, headers=headers)
    return first, again


def test_a_replay_by_a_user_demoted_to_viewer_is_403_without_the_secret(
    one_connection: sa.Engine, api: ApiClient, db: sa.Engine, acme: Tenant
) -> None:
    first, again = _create_key_then_change_role(api, db, acme, role="viewer")

    assert_problem(again, 403, "forbidden")
    assert "Idempotent-Replayed" not in again.headers
    assert first.json["secret_access_key"] not in again.text
    assert first.json["access_key_id"] not in again.text


def test_a_replay_by_a_user_removed_from_the_account_is_404_without_the_secret(
    one_connection: sa.Engine, api: ApiClient, db: sa.Engine, acme: Tenant
) -> None:
    first, again = _create_key_then_change_role(api, db, acme, role=None)

    assert_problem(again, 404, "not-found")
    assert first.json["secret_access_key"] not in again.text


def test_a_reused_key_of_a_caller_without_access_gets_the_routes_answer_first(
    api: ApiClient, db: sa.Engine, acme: Tenant
) -> None:
    # 409/422 about the key are answers from an earlier request too: the route's own check comes first
    _first, _again = _create_key_then_change_role(api, db, acme, role="member")
    r = api.post(
        f"/v1/accounts/{acme.account_id}/access-keys",
        token=acme.token("admin"),
        json={"name": "another"},
        headers={"Idempotency-Key": "key-then-demoted"},
    )
    assert_problem(r, 403, "forbidden")


def test_the_access_check_runs_once_for_a_keyed_request_and_once_for_its_replay(
    api: ApiClient, db: sa.Engine, acme: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    from primecloud.api import dependencies as layer_api

    calls: list[str] = []
    original = layer_api.resolve_account_access  # type: ignore[attr-defined]  # patched where dependencies looks it up

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append("check")
        return original(*args, **kwargs)

    monkeypatch.setattr(layer_api, "resolve_account_access", counting)
    url = f"/v1/accounts/{acme.account_id}/buckets"
    body = _bucket_body()
    headers = {"Idempotency-Key": "counted"}

    assert api.post(url, token=acme.token("admin"), json=body, headers=headers).status == 201
    assert len(calls) == 1
    assert api.post(url, token=acme.token("admin"), json=body, headers=headers).headers["Idempotent-Replayed"] == "true"
    assert len(calls) == 2
