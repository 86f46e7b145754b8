"""Idempotency-Key on POSTs that create resources: replay, reuse with another body, in-progress duplicates."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.idempotency import request_fingerprint
from primecloud.models.storage import AccessKey, Bucket
from primecloud.models.system import AuditLog, IdempotencyKey
from tests.conftest import ApiClient, assert_problem
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


@pytest.mark.parametrize("key", ["has space", "x" * 256, "tab\tinside"])
def test_a_malformed_key_is_400(api: ApiClient, acme: Tenant, key: str) -> None:
    r = api.post(
        f"/v1/accounts/{acme.account_id}/buckets",
        token=acme.token("admin"),
        json=_bucket_body(),
        headers={"Idempotency-Key": key},
    )
    assert "Idempotency-Key" in assert_problem(r, 400, "bad-request")["detail"]


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
