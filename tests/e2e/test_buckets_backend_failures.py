"""Buckets when the storage backend fails: 503, the row rolled back, and the backend put back as it was."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from primecloud.adapters import registry
from primecloud.adapters.storage import Capability
from primecloud.errors import Unavailable
from primecloud.models.storage import Bucket
from tests.conftest import ApiClient, assert_problem
from tests.e2e.test_buckets import (
    Crew,
    audit_entries,
    backend_has,
    bucket_rows,
    buckets_url,
    create,
    lifecycle_of,
    load_bucket,
    make_crew,
    new_name,
    policy_buckets,
    s3_client,
    versioning_of,
)
from tests.factories import Tenant, make_tenant


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Acme")


@pytest.fixture
def crew(db: sa.Engine, acme: Tenant) -> Crew:
    return make_crew(db, acme)


@pytest.fixture
def s3(aws_server: dict[str, str]) -> Any:
    return s3_client(aws_server)


def _failing(message: str) -> Any:
    def fail(*_args: Any, **_kwargs: Any) -> None:
        raise Unavailable(message)

    return fail


@pytest.fixture
def dead_backend(monkeypatch: pytest.MonkeyPatch, aws_server: dict[str, str]) -> Iterator[None]:
    """The storage adapter pointed at a closed port, as when the backend is down; restored afterwards."""
    from primecloud.config import get_settings

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("STORAGE_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    get_settings.cache_clear()
    registry.reset()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()
    registry.reset()


class QuotaBackend:
    """Tenant credentials of a backend that enforces quotas (MinIO), recording the calls."""

    capabilities = frozenset({Capability.QUOTAS})

    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[tuple[str, int | None]] = []

    def set_bucket_quota(self, bucket: str, quota_bytes: int | None) -> None:
        self.calls.append((bucket, quota_bytes))
        if self.fail:
            raise Unavailable("The quota service is down.")


@pytest.fixture
def quota_backend(monkeypatch: pytest.MonkeyPatch) -> QuotaBackend:
    backend = QuotaBackend()
    monkeypatch.setattr(registry, "tenant_credentials", lambda: backend)
    return backend


def _count_buckets(db: sa.Engine) -> int:
    with Session(db) as session:
        return session.scalar(sa.select(sa.func.count()).select_from(Bucket)) or 0


# --------------------------------------------------------------------------- create


def test_create_with_the_backend_down_is_503_and_leaves_nothing(
    api: ApiClient, acme: Tenant, s3: Any, db: sa.Engine, dead_backend: None
) -> None:
    name = new_name()
    r = api.post(buckets_url(acme.account_id), token=acme.token("owner"), json={"name": name})
    problem = assert_problem(r, 503, "unavailable")
    assert "storage backend" in str(problem["detail"])
    assert _count_buckets(db) == 0 and audit_entries(db, "bucket.create") == []
    assert not backend_has(s3, name)


def test_create_failing_while_configuring_the_bucket_leaves_nothing(
    api: ApiClient, acme: Tenant, s3: Any, db: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry.storage(), "set_lifecycle", _failing("PutBucketLifecycleConfiguration failed"))
    name = new_name()
    rules = [{"id": "expire", "expire_days": 1}]
    r = api.post(buckets_url(acme.account_id), token=acme.token("owner"), json={"name": name, "lifecycle_rules": rules})
    assert_problem(r, 503, "unavailable")
    assert _count_buckets(db) == 0
    assert not backend_has(s3, name)


def test_a_failing_quota_step_removes_the_new_backend_bucket(
    api: ApiClient, acme: Tenant, s3: Any, db: sa.Engine, quota_backend: QuotaBackend
) -> None:
    quota_backend.fail = True
    name = new_name()
    r = api.post(buckets_url(acme.account_id), token=acme.token("owner"), json={"name": name, "quota_bytes": 2048})
    assert_problem(r, 503, "unavailable")
    assert quota_backend.calls == [(name, 2048)]  # the bucket had been created before the quota failed
    assert _count_buckets(db) == 0 and audit_entries(db, "bucket.create") == []
    assert not backend_has(s3, name)


def _fail_the_create_audit(monkeypatch: pytest.MonkeyPatch, before: Callable[[], object] = lambda: None) -> None:
    """The bucket.create audit entry fails: the last step of a create, after the backend's."""
    from primecloud.services import audit

    record = audit.record

    def failing_record(*args: Any, **kwargs: Any) -> Any:
        if args[2] == "bucket.create":
            before()
            raise RuntimeError("audit insert failed")
        return record(*args, **kwargs)

    monkeypatch.setattr(audit, "record", failing_record)


def test_a_failure_after_the_backend_step_removes_the_new_backend_bucket(
    api: ApiClient, acme: Tenant, s3: Any, db: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fail_the_create_audit(monkeypatch)
    name = new_name()
    r = api.post(buckets_url(acme.account_id), token=acme.token("owner"), json={"name": name})
    assert_problem(r, 500, "internal")
    assert _count_buckets(db) == 0
    assert not backend_has(s3, name)


def test_a_failure_after_the_policy_refresh_takes_the_new_bucket_out_of_every_bucket_keys(
    api: ApiClient, acme: Tenant, db: sa.Engine, aws_server: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = create(api, acme, new_name("first"))
    key = api.post(f"/v1/accounts/{acme.account_id}/access-keys", token=acme.token("admin"), json={"name": "all"})
    assert key.status == 201, key
    every_key = key.json["access_key_id"]
    during: set[str] = set()
    _fail_the_create_audit(monkeypatch, before=lambda: during.update(policy_buckets(aws_server, every_key)))
    name = new_name()
    r = api.post(buckets_url(acme.account_id), token=acme.token("owner"), json={"name": name})
    assert_problem(r, 500, "internal")
    # the key named the new bucket for a moment; the rollback put its policy back as committed
    assert during == {first["name"], name}
    assert policy_buckets(aws_server, every_key) == {first["name"]}
    assert _count_buckets(db) == 1
    assert not backend_has(s3_client(aws_server), name)


def test_a_failing_commit_removes_the_new_backend_bucket(
    api: ApiClient, acme: Tenant, s3: Any, db: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last step that can fail is the commit itself, after the handler returned 201."""
    storage = registry.storage()
    real_create, real_commit = storage.create_bucket, Session.commit
    armed = False

    def create_and_arm(*args: Any, **kwargs: Any) -> None:
        nonlocal armed
        real_create(*args, **kwargs)
        armed = True

    def commit(session: Session) -> None:
        nonlocal armed
        if armed:
            armed = False
            raise OperationalError("COMMIT", {}, ConnectionError("server closed the connection unexpectedly"))
        real_commit(session)

    monkeypatch.setattr(storage, "create_bucket", create_and_arm)
    monkeypatch.setattr(Session, "commit", commit)
    name = new_name()
    r = api.post(buckets_url(acme.account_id), token=acme.token("owner"), json={"name": name})
    assert_problem(r, 503, "unavailable")
    monkeypatch.undo()
    assert _count_buckets(db) == 0
    assert not backend_has(s3, name)


def test_a_failing_access_key_refresh_removes_the_new_backend_bucket(
    api: ApiClient, acme: Tenant, s3: Any, db: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from primecloud.services import access_keys

    monkeypatch.setattr(access_keys, "grant_new_bucket", _failing("IAM failed CreatePolicyVersion"))
    name = new_name()
    r = api.post(buckets_url(acme.account_id), token=acme.token("owner"), json={"name": name})
    assert_problem(r, 503, "unavailable")
    assert _count_buckets(db) == 0
    assert not backend_has(s3, name)


def test_a_delete_whose_access_key_refresh_fails_is_503_and_keeps_the_bucket(
    api: ApiClient, crew: Crew, db: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from primecloud.services import access_keys

    monkeypatch.setattr(access_keys, "refresh_account_policies", _failing("IAM failed CreatePolicyVersion"))
    assert_problem(api.delete(crew.url, token=crew.token("owner")), 503, "unavailable")
    bucket = load_bucket(db, crew.bucket_id)
    assert bucket.deleted_at is None and bucket.status == "active"
    assert audit_entries(db, "bucket.delete") == []
    assert api.get(crew.url, token=crew.token("member_read")).status == 200


def test_a_backend_that_enforces_quotas_gets_the_quota(
    api: ApiClient, acme: Tenant, s3: Any, quota_backend: QuotaBackend
) -> None:
    name = new_name()
    body = create(api, acme, name, quota_bytes=10**6)
    assert quota_backend.calls == [(name, 10**6)] and body["quota_bytes"] == 10**6
    assert backend_has(s3, name)


# --------------------------------------------------------------------------- update


def test_update_with_the_backend_down_is_503_and_the_row_unchanged(
    api: ApiClient, crew: Crew, db: sa.Engine, dead_backend: None
) -> None:
    r = api.patch(crew.url, token=crew.token("owner"), json={"versioning": True})
    assert_problem(r, 503, "unavailable")
    bucket = load_bucket(db, crew.bucket_id)
    assert bucket.versioning is False and bucket.updated_at == bucket.created_at
    assert audit_entries(db, "bucket.update") == []


def test_a_failing_later_step_puts_the_earlier_backend_changes_back(
    api: ApiClient,
    acme: Tenant,
    s3: Any,
    db: sa.Engine,
    *,
    quota_backend: QuotaBackend,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Lifecycle, then quota, then versioning: versioning fails, so the new rules and quota are undone."""
    name = new_name()
    old_rules = [{"id": "keep-a-week", "expire_days": 7}]
    made = create(api, acme, name, lifecycle_rules=old_rules, quota_bytes=100)
    url = f"{buckets_url(acme.account_id)}/{made['id']}"
    monkeypatch.setattr(registry.storage(), "set_versioning", _failing("PutBucketVersioning failed"))

    r = api.patch(
        url,
        token=acme.token("owner"),
        json={"lifecycle_rules": [{"id": "keep-a-day", "expire_days": 1}], "quota_bytes": 200, "versioning": True},
    )
    assert_problem(r, 503, "unavailable")
    (rule,) = lifecycle_of(s3, name)
    assert rule["ID"] == "keep-a-week" and rule["Expiration"] == {"Days": 7}
    assert quota_backend.calls == [(name, 100), (name, 200), (name, 100)]
    assert versioning_of(s3, name) is None
    bucket = load_bucket(db, made["id"])
    assert bucket.quota_bytes == 100 and bucket.versioning is False
    assert [item["id"] for item in bucket.lifecycle_rules] == ["keep-a-week"]
    assert audit_entries(db, "bucket.update") == []


def test_quota_changes_reach_a_backend_that_enforces_quotas(
    api: ApiClient, acme: Tenant, quota_backend: QuotaBackend
) -> None:
    name = new_name()
    made = create(api, acme, name)
    url = f"{buckets_url(acme.account_id)}/{made['id']}"
    assert quota_backend.calls == []  # no quota asked for, none set
    assert api.patch(url, token=acme.token("admin"), json={"quota_bytes": 512}).status == 200
    assert api.patch(url, token=acme.token("admin"), json={"quota_bytes": None}).status == 200
    assert quota_backend.calls == [(name, 512), (name, None)]


def test_the_database_rows_of_a_failed_create_do_not_block_the_name(
    api: ApiClient, acme: Tenant, s3: Any, db: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = new_name()
    with monkeypatch.context() as patched:
        patched.setattr(registry.storage(), "set_versioning", _failing("PutBucketVersioning failed"))
        r = api.post(buckets_url(acme.account_id), token=acme.token("owner"), json={"name": name, "versioning": True})
        assert_problem(r, 503, "unavailable")
    body = create(api, acme, name, versioning=True)
    assert uuid.UUID(body["id"]) == bucket_rows(db, name)[0].id
    assert versioning_of(s3, name) == "Enabled"
