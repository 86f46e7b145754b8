"""An access key's backend grants always equal its buckets, however many the account has (moto IAM).

moto does not evaluate IAM policies, so these tests read the policy documents moto stores.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.adapters import registry
from primecloud.adapters.tenant_aws import AwsTenantCredentials, pack_bucket_names
from primecloud.errors import Unavailable
from primecloud.models.storage import Bucket
from primecloud.models.system import AuditLog
from tests.conftest import ApiClient, assert_problem
from tests.e2e.test_access_keys import arns, create_key, policy_documents, policy_resources
from tests.factories import Tenant, make_bucket, make_tenant


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Acme")


def long_name() -> str:
    """63 characters, the longest bucket name (global in the backend: never reused)."""
    return (uuid.uuid4().hex + uuid.uuid4().hex)[:63]


def many_buckets(db: sa.Engine, tenant: Tenant, count: int) -> list[tuple[uuid.UUID, str]]:
    names = [long_name() for _ in range(count)]
    return [(make_bucket(db, tenant.account_id, name), name) for name in names]


def buckets_url(tenant: Tenant) -> str:
    return f"/v1/accounts/{tenant.account_id}/buckets"


def bucket_row(db: sa.Engine, bucket_id: uuid.UUID) -> Bucket:
    with Session(db, expire_on_commit=False) as session:
        return session.get_one(Bucket, bucket_id)


def audit_actions(db: sa.Engine, action: str) -> int:
    with Session(db) as session:
        return len(session.scalars(sa.select(AuditLog).where(AuditLog.action == action)).all())


def named_anywhere(access_key_id: str, name: str) -> bool:
    return any(name in json.dumps(document) for document in policy_documents(access_key_id))


def test_deleting_one_of_sixty_long_named_buckets_takes_it_out_of_every_bucket_keys(
    api: ApiClient, acme: Tenant, db: sa.Engine
) -> None:
    # given 60 buckets with 63-character names: more than one IAM policy holds
    buckets = many_buckets(db, acme, 60)
    names = [name for _, name in buckets]
    r = create_key(api, acme)
    assert r.status == 201, r
    access_key_id = r.json["access_key_id"]
    assert len(policy_documents(access_key_id)) >= 2
    assert policy_resources(access_key_id) == arns(*names)

    # when one is deleted
    doomed_id, doomed = buckets[17]
    assert api.delete(f"{buckets_url(acme)}/{doomed_id}", token=acme.token("owner")).status == 204

    # then no policy of the key names it, and every other bucket is still granted
    assert not named_anywhere(access_key_id, doomed)
    assert policy_resources(access_key_id) == arns(*(name for name in names if name != doomed))


def test_an_iam_failure_on_delete_is_503_and_changes_nothing(
    api: ApiClient, acme: Tenant, db: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    buckets = many_buckets(db, acme, 3)
    names = [name for _, name in buckets]
    first = create_key(api, acme, name="first").json["access_key_id"]
    second = create_key(api, acme, name="second").json["access_key_id"]
    real_update = AwsTenantCredentials.update_policy

    def fail_second(self: AwsTenantCredentials, access_key_id: str, bucket_names: Any) -> None:
        if access_key_id == second:
            raise Unavailable("IAM failed CreatePolicyVersion (ServiceFailure).")
        real_update(self, access_key_id, bucket_names)

    # when IAM fails for the second key, after the first one's policy changed
    monkeypatch.setattr(AwsTenantCredentials, "update_policy", fail_second)
    doomed_id, _ = buckets[0]
    assert_problem(api.delete(f"{buckets_url(acme)}/{doomed_id}", token=acme.token("owner")), 503, "unavailable")
    monkeypatch.undo()

    # then the bucket row is as it was, and both keys name every bucket again
    row = bucket_row(db, doomed_id)
    assert (row.deleted_at, row.status) == (None, "active")
    assert audit_actions(db, "bucket.delete") == 0
    assert policy_resources(first) == arns(*names)
    assert policy_resources(second) == arns(*names)


def test_a_bucket_beyond_what_the_every_bucket_keys_can_name_is_409_and_not_created(
    api: ApiClient, acme: Tenant, db: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a backend that allows one policy per key, and as many buckets as one policy names
    monkeypatch.setattr(registry.tenant_credentials(), "max_policies_per_key", 1)
    candidates = [long_name() for _ in range(60)]
    fit = len(pack_bucket_names(candidates, max_policies=10)[0])
    names = [name for _, name in many_buckets(db, acme, fit)]
    access_key_id = create_key(api, acme).json["access_key_id"]
    assert policy_resources(access_key_id) == arns(*names)

    # when one more bucket is created
    extra = long_name()
    body = assert_problem(api.post(buckets_url(acme), token=acme.token("owner"), json={"name": extra}), 409, "conflict")

    # then the answer names the limit; there is no such bucket; the key's policy is unchanged
    assert "1 IAM policies of 6,144 characters" in body["detail"], body
    with Session(db) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Bucket).where(Bucket.name == extra)) == 0
    assert not registry.storage().bucket_exists(extra)
    assert policy_resources(access_key_id) == arns(*names)


def test_twenty_concurrent_bucket_creates_all_succeed_and_the_key_names_all(api: ApiClient, acme: Tenant) -> None:
    access_key_id = create_key(api, acme).json["access_key_id"]
    names = [long_name() for _ in range(20)]
    start = threading.Barrier(len(names))

    def create(name: str) -> int:
        client = ApiClient(api.base_url)
        start.wait()
        return client.post(buckets_url(acme), token=acme.token("owner"), json={"name": name}).status

    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        statuses = list(pool.map(create, names))

    assert statuses == [201] * len(names)
    assert policy_resources(access_key_id) == arns(*names)


# --------------------------------------------------------------------------- the purge


def _deleted_long_ago(db: sa.Engine, bucket_id: uuid.UUID) -> None:
    """A bucket deleted past retention whose keys' policies were never updated (a race or a lost undo)."""
    with Session(db) as session, session.begin():
        bucket = session.get_one(Bucket, bucket_id)
        bucket.deleted_at = datetime.now(UTC) - timedelta(days=60)
        bucket.status = "deleting"


def test_the_purge_withdraws_a_stale_grant_before_it_releases_the_name(
    api: ApiClient, acme: Tenant, db: sa.Engine
) -> None:
    from tests.integration.test_purge_retention import purge_job

    (_, kept), (gone_id, gone) = many_buckets(db, acme, 2)
    access_key_id = create_key(api, acme).json["access_key_id"]
    _deleted_long_ago(db, gone_id)
    assert named_anywhere(access_key_id, gone)

    purge_job()

    assert not registry.storage().bucket_exists(gone)
    assert not named_anywhere(access_key_id, gone)
    assert policy_resources(access_key_id) == arns(kept)
    with Session(db) as session:
        assert session.get(Bucket, gone_id) is None  # purged, and the row swept


def test_the_purge_keeps_a_name_it_cannot_withdraw_from_a_policy(
    api: ApiClient, acme: Tenant, db: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.integration.test_purge_retention import purge_job

    (_, _), (gone_id, gone) = many_buckets(db, acme, 2)
    access_key_id = create_key(api, acme).json["access_key_id"]
    _deleted_long_ago(db, gone_id)

    def failing(*_args: Any) -> None:
        raise Unavailable("IAM failed CreatePolicyVersion (ServiceFailure).")

    monkeypatch.setattr(AwsTenantCredentials, "update_policy", failing)
    stats = purge_job(status="partial")
    monkeypatch.undo()

    assert stats["failures"][0]["subject"] == f"bucket:{gone_id}"
    assert registry.storage().bucket_exists(gone)  # the name stays taken while a policy names it
    assert bucket_row(db, gone_id).status == "deleting"
    assert named_anywhere(access_key_id, gone)


# --------------------------------------------------------------------------- keys and buckets at once


WINDOW = 0.8  # seconds a request holds its transaction open in the middle, for the other side to run


@pytest.fixture
def pool_per_request() -> Iterator[None]:
    """A connection for every request in flight, as Lambda gives each container its own: the
    in-process gateway shares one engine (2 connections), which would serialize the requests."""
    from primecloud import db as layer_db
    from primecloud.config import get_settings

    old = os.environ.get("DATABASE_POOL_SIZE")
    os.environ["DATABASE_POOL_SIZE"] = "12"
    get_settings.cache_clear()
    layer_db.reset_engine()
    yield
    if old is None:
        del os.environ["DATABASE_POOL_SIZE"]
    else:
        os.environ["DATABASE_POOL_SIZE"] = old
    get_settings.cache_clear()
    layer_db.reset_engine()


def live_bucket_names(db: sa.Engine, tenant: Tenant) -> list[str]:
    with Session(db) as session:
        return list(
            session.scalars(
                sa.select(Bucket.name).where(Bucket.account_id == tenant.account_id, Bucket.deleted_at.is_(None))
            )
        )


def unrevoked_key_ids(db: sa.Engine, tenant: Tenant) -> list[str]:
    from primecloud.models.storage import AccessKey

    with Session(db) as session:
        return list(
            session.scalars(
                sa.select(AccessKey.access_key_id).where(
                    AccessKey.account_id == tenant.account_id, AccessKey.status != "revoked"
                )
            )
        )


def hold_open_after(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, *, arrivals: int = 1) -> threading.Event:
    """Patch ``owner.name`` to run, then keep its request's transaction open for WINDOW seconds; the
    event is set once ``arrivals`` calls are inside (the other side of the race starts then)."""
    real = getattr(owner, name)
    inside = threading.Event()
    count = iter(range(1, arrivals + 1))
    guard = threading.Lock()

    def held_open(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        with guard:
            if next(count, arrivals) == arrivals:
                inside.set()
        inside.wait(30)
        time.sleep(WINDOW)
        return result

    monkeypatch.setattr(owner, name, held_open)
    return inside


def run_at_once(first: list[Callable[[], int]], then: list[Callable[[], int]], started: threading.Event) -> list[int]:
    """``first`` requests at once; ``then`` requests once ``started`` is set (while ``first`` are in flight)."""

    def after(call: Callable[[], int]) -> Callable[[], int]:
        def run() -> int:
            assert started.wait(30), "the first requests never reached the window"
            return call()

        return run

    with ThreadPoolExecutor(max_workers=len(first) + len(then)) as pool:
        futures = [pool.submit(call) for call in first] + [pool.submit(after(call)) for call in then]
        return [future.result(timeout=60) for future in futures]


def assert_every_key_names_exactly_the_live_buckets(db: sa.Engine, tenant: Tenant) -> None:
    live = live_bucket_names(db, tenant)
    keys = unrevoked_key_ids(db, tenant)
    assert keys
    assert {key: policy_resources(key) for key in keys} == {key: arns(*live) for key in keys}


@pytest.mark.usefixtures("pool_per_request")
@pytest.mark.parametrize("first", ["key", "buckets"])
def test_an_every_bucket_key_created_while_buckets_are_created_names_them_all(
    api: ApiClient, acme: Tenant, db: sa.Engine, monkeypatch: pytest.MonkeyPatch, first: str
) -> None:
    from primecloud.adapters.storage_s3 import S3ObjectStorage

    existing = [name for _, name in many_buckets(db, acme, 2)]
    names = [long_name() for _ in range(4)]
    token = acme.token("owner")

    def create_key_call() -> int:
        return create_key(ApiClient(api.base_url), acme).status

    def create_bucket_call(name: str) -> Callable[[], int]:
        return lambda: ApiClient(api.base_url).post(buckets_url(acme), token=token, json={"name": name}).status

    bucket_calls = [create_bucket_call(name) for name in names]
    # The window: the key has read the buckets and holds its new credential, not yet committed;
    # or the buckets are inserted and created in the backend, not yet committed.
    if first == "key":
        started = hold_open_after(monkeypatch, AwsTenantCredentials, "create_credential")
        statuses = run_at_once([create_key_call], bucket_calls, started)
    else:
        started = hold_open_after(monkeypatch, S3ObjectStorage, "create_bucket", arrivals=len(names))
        statuses = run_at_once(bucket_calls, [create_key_call], started)

    assert statuses == [201] * (1 + len(names))
    assert sorted(live_bucket_names(db, acme)) == sorted(existing + names)
    assert_every_key_names_exactly_the_live_buckets(db, acme)


@pytest.mark.usefixtures("pool_per_request")
@pytest.mark.parametrize("first", ["key", "buckets"])
def test_an_every_bucket_key_created_while_buckets_are_deleted_names_only_the_rest(
    api: ApiClient, acme: Tenant, db: sa.Engine, monkeypatch: pytest.MonkeyPatch, first: str
) -> None:
    from primecloud.services import access_keys

    buckets = many_buckets(db, acme, 6)
    doomed = buckets[:4]
    token = acme.token("owner")

    def create_key_call() -> int:
        return create_key(ApiClient(api.base_url), acme).status

    def delete_call(bucket_id: uuid.UUID) -> Callable[[], int]:
        return lambda: ApiClient(api.base_url).delete(f"{buckets_url(acme)}/{bucket_id}", token=token).status

    delete_calls = [delete_call(bucket_id) for bucket_id, _ in doomed]
    # The window: the key has read the buckets, not yet committed; or the deletes have refreshed
    # the keys they could see, not yet committed.
    if first == "key":
        started = hold_open_after(monkeypatch, AwsTenantCredentials, "create_credential")
        statuses = run_at_once([create_key_call], delete_calls, started)
        expected = [201] + [204] * len(doomed)
    else:
        started = hold_open_after(monkeypatch, access_keys, "refresh_account_policies", arrivals=len(doomed))
        statuses = run_at_once(delete_calls, [create_key_call], started)
        expected = [204] * len(doomed) + [201]

    assert statuses == expected
    assert sorted(live_bucket_names(db, acme)) == sorted(name for _, name in buckets[4:])
    assert_every_key_names_exactly_the_live_buckets(db, acme)


def test_the_grants_lock_is_shared_by_bucket_changes_exclusive_for_key_changes_and_per_account(
    db: sa.Engine, acme: Tenant
) -> None:
    from primecloud.services.access_keys import BUCKET_CHANGE, KEY_CHANGE, lock_grants

    other = make_tenant(db, "Other")

    def refused(account_id: uuid.UUID, lock: Any) -> bool:
        with Session(db) as session:
            session.execute(sa.text("SET LOCAL lock_timeout = '200ms'"))
            try:
                lock_grants(session, account_id, lock)
            except sa.exc.DBAPIError as error:
                assert "55P03" in str(error)  # lock_not_available
                return True
            finally:
                session.rollback()
            return False

    with Session(db) as bucket_change, bucket_change.begin():
        lock_grants(bucket_change, acme.account_id, BUCKET_CHANGE)
        assert BUCKET_CHANGE.held(bucket_change, acme.account_id)
        assert not KEY_CHANGE.held(bucket_change, acme.account_id)
        assert not BUCKET_CHANGE.held(bucket_change, other.account_id)
        assert not refused(acme.account_id, BUCKET_CHANGE)  # bucket changes run together
        assert refused(acme.account_id, KEY_CHANGE)  # a key change waits for them
        assert not refused(other.account_id, KEY_CHANGE)  # another account does not
    assert not BUCKET_CHANGE.held(bucket_change, acme.account_id)  # released with the transaction
    assert not refused(acme.account_id, KEY_CHANGE)
