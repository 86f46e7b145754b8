"""The access-key hooks other services call (no routes): policy refresh after bucket changes, suspension.

Keys are made through HTTP; the hooks run in a session of the test's own, as a bucket handler or
the dunning job would call them, against moto's IAM.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.actor import Actor
from primecloud.adapters import registry
from primecloud.adapters.storage import TenantCredentials
from primecloud.adapters.tenant_aws import AwsTenantCredentials
from primecloud.errors import Conflict, Unavailable
from primecloud.models.storage import AccessKey, Bucket
from primecloud.models.system import AuditLog
from primecloud.services import access_keys
from tests.conftest import ApiClient
from tests.e2e.test_access_keys import (
    arns,
    audit_rows,
    create_key,
    iam_key_status,
    keys_path,
    policy_resources,
)
from tests.factories import Tenant, make_bucket, make_tenant


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Acme")


@pytest.fixture
def credentials(api: ApiClient) -> TenantCredentials:
    return registry.tenant_credentials()


def new_bucket_row(session: Session, account_id: uuid.UUID) -> tuple[uuid.UUID, str]:
    """A bucket as the buckets service adds one: the row, flushed, in the caller's transaction."""
    name = f"acme-new-{uuid.uuid4().hex[:12]}"
    registry.storage().create_bucket(name)
    bucket = Bucket(account_id=account_id, name=name, region="us-east-1")
    session.add(bucket)
    session.flush()
    return bucket.id, name


def status_of(engine: sa.Engine, key_id: str) -> str:
    with Session(engine) as session:
        return session.get_one(AccessKey, uuid.UUID(key_id)).status


# --------------------------------------------------------------------------- refresh_account_policies


def test_a_new_bucket_joins_every_bucket_keys_only(
    api: ApiClient, acme: Tenant, db: sa.Engine, credentials: TenantCredentials
) -> None:
    first_id = make_bucket(db, acme.account_id, f"acme-first-{uuid.uuid4().hex[:10]}")
    with Session(db) as session:
        first = session.get_one(Bucket, first_id).name
    every = create_key(api, acme).json
    chosen = create_key(api, acme, [first_id]).json
    revoked = create_key(api, acme).json
    api.delete(f"{keys_path(acme)}/{revoked['id']}", token=acme.token("owner"))

    # when a bucket is added and the hook runs in the same transaction
    with Session(db) as session, session.begin():
        new_id, new = new_bucket_row(session, acme.account_id)
        changed = access_keys.refresh_account_policies(session, credentials, acme.account_id, bucket_id=new_id)

    # then the "every bucket" key names it; the key limited to one bucket is not touched
    assert changed == 1
    assert policy_resources(every["access_key_id"]) == arns(first, new)
    assert policy_resources(chosen["access_key_id"]) == arns(first)


def test_a_deleted_bucket_leaves_every_policy_that_named_it(
    api: ApiClient, acme: Tenant, db: sa.Engine, credentials: TenantCredentials
) -> None:
    names = [f"acme-{index}-{uuid.uuid4().hex[:10]}" for index in range(2)]
    (kept_id, doomed_id) = [make_bucket(db, acme.account_id, name) for name in names]
    every = create_key(api, acme).json
    chosen = create_key(api, acme, [doomed_id]).json
    disabled = create_key(api, acme, [kept_id, doomed_id]).json
    api.patch(f"{keys_path(acme)}/{disabled['id']}", token=acme.token("owner"), json={"status": "disabled"})

    with Session(db) as session, session.begin():
        session.get_one(Bucket, doomed_id).deleted_at = datetime.now(UTC)
        session.flush()
        changed = access_keys.refresh_account_policies(session, credentials, acme.account_id)

    assert changed == 3
    assert policy_resources(every["access_key_id"]) == arns(names[0])
    assert policy_resources(chosen["access_key_id"]) == []  # its only bucket is gone: nothing allowed
    assert policy_resources(disabled["access_key_id"]) == arns(names[0])  # right when enabled again
    assert iam_key_status(disabled["access_key_id"]) == "Inactive"


def test_a_rolled_back_bucket_is_taken_out_of_the_policies_again(
    api: ApiClient, acme: Tenant, db: sa.Engine, credentials: TenantCredentials
) -> None:
    # bucket names are global: a policy must not keep naming a bucket whose creation was undone
    existing = f"acme-old-{uuid.uuid4().hex[:10]}"
    make_bucket(db, acme.account_id, existing)
    every = create_key(api, acme).json

    with pytest.raises(RuntimeError), Session(db) as session, session.begin():
        new_id, new = new_bucket_row(session, acme.account_id)
        access_keys.refresh_account_policies(session, credentials, acme.account_id, bucket_id=new_id)
        assert policy_resources(every["access_key_id"]) == arns(existing, new)
        raise RuntimeError("the bucket's creation fails after the hook ran")

    assert policy_resources(every["access_key_id"]) == arns(existing)


def test_a_refresh_without_keys_does_nothing(
    api: ApiClient, acme: Tenant, db: sa.Engine, credentials: TenantCredentials
) -> None:
    with Session(db) as session, session.begin():
        assert access_keys.refresh_account_policies(session, credentials, acme.account_id) == 0


# --------------------------------------------------------------------------- suspension


def test_suspension_disables_active_keys_and_reactivation_enables_only_those(
    api: ApiClient, acme: Tenant, db: sa.Engine, credentials: TenantCredentials
) -> None:
    # given an active key, one an admin disabled, and a revoked one
    active = create_key(api, acme, name="active").json
    by_admin = create_key(api, acme, name="by admin").json
    api.patch(f"{keys_path(acme)}/{by_admin['id']}", token=acme.token("owner"), json={"status": "disabled"})
    revoked = create_key(api, acme, name="revoked").json
    api.delete(f"{keys_path(acme)}/{revoked['id']}", token=acme.token("owner"))

    # when the account is suspended
    with Session(db) as session, session.begin():
        assert access_keys.disable_all_for_account(session, credentials, acme.account_id) == 1

    # then only the active key was switched off, and the audit log says why
    assert status_of(db, active["id"]) == "disabled"
    assert iam_key_status(active["access_key_id"]) == "Inactive"
    suspension = [entry for entry in audit_rows(db, "access_key.update") if entry.target_id == active["id"]]
    (entry,) = suspension
    assert entry.old_value == {"status": "active"}
    assert entry.new_value == {"status": "disabled", "reason": "suspension"}
    assert entry.severity == "warning" and entry.actor_user_id is None and entry.account_id == acme.account_id

    # running it again finds nothing left to disable
    with Session(db) as session, session.begin():
        assert access_keys.disable_all_for_account(session, credentials, acme.account_id) == 0

    # when the account is reactivated
    with Session(db) as session, session.begin():
        assert access_keys.enable_suspended_for_account(session, credentials, acme.account_id) == 1

    # then the suspended key is back; the admin's disabled key stays off; the revoked key stays gone
    assert status_of(db, active["id"]) == "active"
    assert iam_key_status(active["access_key_id"]) == "Active"
    assert status_of(db, by_admin["id"]) == "disabled"
    assert iam_key_status(by_admin["access_key_id"]) == "Inactive"
    assert status_of(db, revoked["id"]) == "revoked"
    with Session(db) as session:
        latest = session.scalars(
            sa.select(AuditLog)
            .where(AuditLog.target_id == active["id"], AuditLog.action == "access_key.update")
            .order_by(AuditLog.created_at.desc())
        ).first()
    assert latest is not None and latest.new_value == {"status": "active", "reason": "reactivation"}

    # and a second reactivation changes nothing
    with Session(db) as session, session.begin():
        assert access_keys.enable_suspended_for_account(session, credentials, acme.account_id) == 0


def test_a_key_disabled_by_an_admin_after_a_reactivation_stays_off_after_the_next(
    api: ApiClient, acme: Tenant, db: sa.Engine, credentials: TenantCredentials
) -> None:
    key = create_key(api, acme).json
    for hook in (access_keys.disable_all_for_account, access_keys.enable_suspended_for_account):
        with Session(db) as session, session.begin():
            hook(session, credentials, acme.account_id)
    api.patch(f"{keys_path(acme)}/{key['id']}", token=acme.token("owner"), json={"status": "disabled"})
    for hook in (access_keys.disable_all_for_account, access_keys.enable_suspended_for_account):
        with Session(db) as session, session.begin():
            assert hook(session, credentials, acme.account_id) == 0
    assert status_of(db, key["id"]) == "disabled"
    assert iam_key_status(key["access_key_id"]) == "Inactive"


def test_suspension_names_the_actor_it_is_given(
    api: ApiClient, acme: Tenant, db: sa.Engine, credentials: TenantCredentials
) -> None:
    key = create_key(api, acme).json
    with Session(db) as session, session.begin():
        access_keys.disable_all_for_account(
            session, credentials, acme.account_id, actor=Actor(user_id=acme.members["owner"].user_id)
        )
    (entry,) = [entry for entry in audit_rows(db, "access_key.update") if entry.target_id == key["id"]]
    assert entry.actor_user_id == acme.members["owner"].user_id


def test_a_key_the_backend_fails_on_stays_active_and_a_second_run_retries_it(
    api: ApiClient,
    acme: Tenant,
    db: sa.Engine,
    credentials: TenantCredentials,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stubborn = create_key(api, acme, name="stubborn").json
    easy = create_key(api, acme, name="easy").json
    disable = AwsTenantCredentials.disable

    def disable_all_but_stubborn(self: AwsTenantCredentials, access_key_id: str) -> None:
        if access_key_id == stubborn["access_key_id"]:
            raise Unavailable("IAM failed UpdateAccessKey (Throttling).")
        disable(self, access_key_id)

    monkeypatch.setattr(AwsTenantCredentials, "disable", disable_all_but_stubborn)
    with Session(db) as session, session.begin():
        assert access_keys.disable_all_for_account(session, credentials, acme.account_id) == 1
    assert status_of(db, stubborn["id"]) == "active" and status_of(db, easy["id"]) == "disabled"
    assert iam_key_status(stubborn["access_key_id"]) == "Active"

    monkeypatch.setattr(AwsTenantCredentials, "disable", disable)
    with Session(db) as session, session.begin():
        assert access_keys.disable_all_for_account(session, credentials, acme.account_id) == 1
    assert iam_key_status(stubborn["access_key_id"]) == "Inactive"


def test_a_rolled_back_suspension_switches_the_keys_back_on(
    api: ApiClient, acme: Tenant, db: sa.Engine, credentials: TenantCredentials
) -> None:
    key = create_key(api, acme).json
    with pytest.raises(RuntimeError), Session(db) as session, session.begin():
        access_keys.disable_all_for_account(session, credentials, acme.account_id)
        assert iam_key_status(key["access_key_id"]) == "Inactive"
        raise RuntimeError("the suspension fails after the keys were disabled")

    assert status_of(db, key["id"]) == "active"
    assert iam_key_status(key["access_key_id"]) == "Active"
    assert audit_rows(db, "access_key.update") == []


# --------------------------------------------------------------------------- the stored secret


def test_the_stored_secret_can_be_read_back_until_the_key_is_revoked(
    api: ApiClient, acme: Tenant, db: sa.Engine
) -> None:
    created = create_key(api, acme).json
    cipher = registry.crypto()
    with Session(db) as session:
        key = session.get_one(AccessKey, uuid.UUID(created["id"]))
        assert access_keys.decrypt_secret(cipher, key) == created["secret_access_key"]

    api.delete(f"{keys_path(acme)}/{created['id']}", token=acme.token("owner"))
    with Session(db) as session:
        key = session.get_one(AccessKey, uuid.UUID(created["id"]))
        with pytest.raises(Conflict):
            access_keys.decrypt_secret(cipher, key)
