"""Access keys through HTTP: S3 credentials made in the backend (moto IAM), secret shown once, kept only encrypted.

The backend is moto in server mode; what IAM holds is read back with a boto3 client of its own.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
import sqlalchemy as sa
from botocore.exceptions import ClientError
from sqlalchemy.orm import Session

from primecloud.adapters.crypto import EnvelopeCipher
from primecloud.adapters.tenant_aws import AwsTenantCredentials
from primecloud.errors import Unavailable
from primecloud.models.iam import Account
from primecloud.models.storage import AccessKey, Bucket
from primecloud.models.system import AuditLog
from primecloud.services import audit
from tests.conftest import ApiClient, ApiResponse, assert_problem
from tests.factories import Tenant, make_api_key, make_bucket, make_tenant

# --------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Acme")


@pytest.fixture
def globex(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Globex")


@pytest.fixture
def buckets(api: ApiClient, db: sa.Engine, acme: Tenant) -> list[tuple[uuid.UUID, str]]:
    """Three live buckets of Acme: (id, name)."""
    names = [f"acme-{index}-{uuid.uuid4().hex[:12]}" for index in range(3)]
    return [(make_bucket(db, acme.account_id, name), name) for name in names]


def keys_path(tenant: Tenant) -> str:
    return f"/v1/accounts/{tenant.account_id}/access-keys"


def create_key(
    api: ApiClient,
    tenant: Tenant,
    bucket_ids: list[uuid.UUID] | None = None,
    *,
    as_role: str = "admin",
    token: str | None = None,
    name: str = "ci deploy",
) -> ApiResponse:
    body: dict[str, Any] = {"name": name}
    if bucket_ids is not None:
        body["bucket_ids"] = [str(bucket_id) for bucket_id in bucket_ids]
    return api.post(keys_path(tenant), token=token or tenant.token(as_role), json=body)


def key_row(engine: sa.Engine, key_id: str) -> AccessKey:
    with Session(engine) as session:
        return session.get_one(AccessKey, uuid.UUID(key_id))


def key_count(engine: sa.Engine) -> int:
    with Session(engine) as session:
        return session.scalar(sa.select(sa.func.count()).select_from(AccessKey)) or 0


def audit_rows(engine: sa.Engine, action: str) -> list[AuditLog]:
    with Session(engine) as session:
        return list(session.scalars(sa.select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.created_at)))


def all_audit_json(engine: sa.Engine) -> str:
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT * FROM audit_logs")).mappings().all()
    return json.dumps([dict(row) for row in rows], default=str)


def iam() -> Any:
    """moto's IAM, read back with a client of the test's own (the api fixture has pointed boto3 at moto)."""
    return boto3.client("iam", endpoint_url=os.environ["AWS_ENDPOINT_URL"])


def iam_users(tenant: Tenant) -> list[str]:
    users = iam().list_users(PathPrefix=f"/primecloud/{tenant.account_id}/")["Users"]
    return [user["UserName"] for user in users]


def iam_user_of(access_key_id: str) -> str:
    return str(iam().get_access_key_last_used(AccessKeyId=access_key_id)["UserName"])


def iam_key_status(access_key_id: str) -> str:
    user = iam_user_of(access_key_id)
    (key,) = iam().list_access_keys(UserName=user)["AccessKeyMetadata"]
    return str(key["Status"])


def policy_documents(access_key_id: str) -> list[dict[str, Any]]:
    """The default versions of every managed policy attached to the key's IAM user."""
    user = iam_user_of(access_key_id)
    documents = []
    for attached in iam().list_attached_user_policies(UserName=user)["AttachedPolicies"]:
        policy = iam().get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
        version = iam().get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"])
        document = version["PolicyVersion"]["Document"]
        documents.append(json.loads(document) if isinstance(document, str) else document)
    return documents


def policy_resources(access_key_id: str) -> list[str]:
    """What the key's policies allow, together (a key whose policies include a Deny allows nothing)."""
    statements = [statement for document in policy_documents(access_key_id) for statement in document["Statement"]]
    if any(statement["Effect"] == "Deny" for statement in statements):
        assert len(statements) == 1, "a deny-all policy beside others would cancel their grants"
        return []
    return sorted(resource for statement in statements for resource in statement["Resource"])


def arns(*names: str) -> list[str]:
    return sorted(arn for name in names for arn in (f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"))


def suspend(engine: sa.Engine, tenant: Tenant) -> None:
    with Session(engine) as session, session.begin():
        session.get_one(Account, tenant.account_id).status = "suspended"


def failing(error: Exception) -> Callable[..., Any]:
    def fail(*_args: Any, **_kwargs: Any) -> Any:
        raise error

    return fail


# --------------------------------------------------------------------------- roles, scopes, tenants


@pytest.mark.parametrize(("role", "status"), [("owner", 201), ("admin", 201), ("member", 403), ("viewer", 403)])
def test_who_may_create_access_keys(api: ApiClient, acme: Tenant, role: str, status: int) -> None:
    r = create_key(api, acme, as_role=role)
    assert r.status == status, r
    assert len(iam_users(acme)) == (1 if status == 201 else 0)


@pytest.mark.parametrize(("role", "status"), [("owner", 200), ("admin", 200), ("member", 403), ("viewer", 403)])
def test_who_may_list_access_keys(api: ApiClient, acme: Tenant, role: str, status: int) -> None:
    create_key(api, acme)
    assert api.get(keys_path(acme), token=acme.token(role)).status == status


@pytest.mark.parametrize(("role", "status"), [("owner", 200), ("admin", 200), ("member", 403), ("viewer", 403)])
def test_who_may_update_access_keys(api: ApiClient, acme: Tenant, role: str, status: int) -> None:
    created = create_key(api, acme).json
    r = api.patch(f"{keys_path(acme)}/{created['id']}", token=acme.token(role), json={"status": "disabled"})
    assert r.status == status, r
    assert iam_key_status(created["access_key_id"]) == ("Inactive" if status == 200 else "Active")


@pytest.mark.parametrize(("role", "status"), [("owner", 204), ("admin", 204), ("member", 403), ("viewer", 403)])
def test_who_may_revoke_access_keys(api: ApiClient, acme: Tenant, role: str, status: int) -> None:
    created = create_key(api, acme).json
    assert api.delete(f"{keys_path(acme)}/{created['id']}", token=acme.token(role)).status == status
    assert len(iam_users(acme)) == (0 if status == 204 else 1)


def test_an_api_key_with_access_key_scopes_acts_with_its_creators_role(
    api: ApiClient, acme: Tenant, db: sa.Engine
) -> None:
    # given API keys made by Acme's admin (writer) and by its member (a member may not manage access keys)
    with Session(db) as session, session.begin():
        account = session.get_one(Account, acme.account_id)
        admin_id, member_id = acme.members["admin"].user_id, acme.members["member"].user_id
        writer, writer_row = make_api_key(session, account, admin_id, ["access-keys:read", "access-keys:write"])
        reader, _ = make_api_key(session, account, admin_id, ["access-keys:read"])
        other, _ = make_api_key(session, account, admin_id, ["buckets:write"])
        members_key, _ = make_api_key(session, account, member_id, ["access-keys:read", "access-keys:write"])
        writer_id = writer_row.id

    # the writer creates, changes and revokes; the audit names the API key
    r = create_key(api, acme, token=writer)
    assert r.status == 201, r
    (entry,) = audit_rows(db, "access_key.create")
    assert entry.actor_api_key_id == writer_id and entry.actor_user_id == admin_id
    assert r.json["created_by"] == str(admin_id)
    key_path = f"{keys_path(acme)}/{r.json['id']}"
    assert api.patch(key_path, token=writer, json={"name": "renamed"}).status == 200

    # the reader lists but may not create, change or revoke
    assert api.get(keys_path(acme), token=reader).status == 200
    assert "access-keys:write" in assert_problem(create_key(api, acme, token=reader), 403, "forbidden")["detail"]
    assert_problem(api.patch(key_path, token=reader, json={"status": "disabled"}), 403, "forbidden")
    assert_problem(api.delete(key_path, token=reader), 403, "forbidden")
    # a key without the scopes may not even list
    assert "access-keys:read" in assert_problem(api.get(keys_path(acme), token=other), 403, "forbidden")["detail"]
    # scopes never lift a key above its creator's role
    assert_problem(create_key(api, acme, token=members_key), 403, "forbidden")
    assert_problem(api.get(keys_path(acme), token=members_key), 403, "forbidden")

    assert api.delete(key_path, token=writer).status == 204
    assert iam_users(acme) == []


def test_another_tenants_access_keys_are_404(api: ApiClient, acme: Tenant, globex: Tenant, db: sa.Engine) -> None:
    theirs = create_key(api, globex).json
    token = acme.token("owner")

    assert_problem(create_key(api, globex, token=token), 404, "not-found")
    assert_problem(api.get(keys_path(globex), token=token), 404, "not-found")
    for path in (f"{keys_path(globex)}/{theirs['id']}", f"{keys_path(acme)}/{theirs['id']}"):
        assert_problem(api.patch(path, token=token, json={"status": "disabled"}), 404, "not-found")
        assert_problem(api.delete(path, token=token), 404, "not-found")
    assert_problem(api.delete(f"{keys_path(acme)}/{uuid.uuid4()}", token=token), 404, "not-found")

    assert key_row(db, theirs["id"]).status == "active"
    assert iam_key_status(theirs["access_key_id"]) == "Active"
    assert api.get(keys_path(acme), token=token).json["items"] == []
    assert iam_users(acme) == []


def test_another_tenants_bucket_cannot_be_chosen(api: ApiClient, acme: Tenant, globex: Tenant, db: sa.Engine) -> None:
    their_bucket = make_bucket(db, globex.account_id)
    body = assert_problem(create_key(api, acme, [their_bucket]), 422, "validation-error")
    assert [error["field"] for error in body["errors"]] == ["body.bucket_ids"]
    assert str(their_bucket) not in json.dumps(body)  # the rejected value is never echoed
    assert key_count(db) == 0 and iam_users(acme) == []


# --------------------------------------------------------------------------- create


def test_the_secret_is_shown_once_and_kept_only_encrypted(
    api: ApiClient, acme: Tenant, db: sa.Engine, buckets: list[tuple[uuid.UUID, str]]
) -> None:
    (first_id, first), (second_id, second), _ = buckets
    r = create_key(api, acme, [second_id, first_id, second_id])

    assert r.status == 201, r
    body = r.json
    secret = body["secret_access_key"]
    assert len(secret) == 40
    assert set(body) == {
        "id",
        "name",
        "access_key_id",
        "status",
        "bucket_ids",
        "created_by",
        "last_used_at",
        "created_at",
        "secret_access_key",
    }
    assert body["name"] == "ci deploy" and body["status"] == "active" and body["last_used_at"] is None
    assert body["bucket_ids"] == [str(second_id), str(first_id)]  # as chosen, without repeats
    assert body["created_by"] == str(acme.members["admin"].user_id)

    # the row: the backend's key id, and the secret only as KMS ciphertext bound to account and key id
    row = key_row(db, body["id"])
    assert row.account_id == acme.account_id and row.access_key_id == body["access_key_id"]
    assert row.allowed_bucket_ids == [second_id, first_id]
    assert row.secret_ciphertext is not None and secret.encode() not in row.secret_ciphertext
    cipher = EnvelopeCipher(os.environ["KMS_KEY_ID"])
    context = {"account_id": str(acme.account_id), "access_key_id": body["access_key_id"]}
    assert cipher.decrypt_text(row.secret_ciphertext, context=context) == secret

    # the backend: one IAM user for the account whose policy names exactly the chosen buckets
    (user,) = iam_users(acme)
    assert iam_user_of(body["access_key_id"]) == user
    assert iam_key_status(body["access_key_id"]) == "Active"
    assert policy_resources(body["access_key_id"]) == arns(first, second)

    # the audit entry, and nowhere else the secret shows up again
    (entry,) = audit_rows(db, "access_key.create")
    assert entry.account_id == acme.account_id and entry.actor_user_id == acme.members["admin"].user_id
    assert entry.target_type == "access_key" and entry.target_id == body["id"]
    assert entry.new_value == {
        "name": "ci deploy",
        "access_key_id": body["access_key_id"],
        "bucket_ids": [str(second_id), str(first_id)],
        "status": "active",
    }
    listing = api.get(keys_path(acme), token=acme.token("owner"))
    assert secret not in listing.text and "secret" not in listing.text
    assert secret not in all_audit_json(db)


def test_a_key_without_buckets_covers_every_live_bucket_of_the_account(
    api: ApiClient,
    acme: Tenant,
    globex: Tenant,
    db: sa.Engine,
    buckets: list[tuple[uuid.UUID, str]],
) -> None:
    make_bucket(db, globex.account_id)  # another account's bucket is never included
    gone_id = make_bucket(db, acme.account_id)
    with Session(db) as session, session.begin():
        session.get_one(Bucket, gone_id).deleted_at = datetime.now(UTC)

    r = create_key(api, acme)

    assert r.status == 201, r
    assert r.json["bucket_ids"] == []
    assert policy_resources(r.json["access_key_id"]) == arns(*(name for _, name in buckets))


def test_an_account_without_buckets_gets_a_key_that_may_do_nothing_yet(api: ApiClient, acme: Tenant) -> None:
    r = create_key(api, acme, [])
    assert r.status == 201, r
    assert policy_resources(r.json["access_key_id"]) == []


def test_a_deleted_or_unknown_bucket_cannot_be_chosen(
    api: ApiClient, acme: Tenant, db: sa.Engine, buckets: list[tuple[uuid.UUID, str]]
) -> None:
    (live_id, _), (gone_id, _), _ = buckets
    with Session(db) as session, session.begin():
        session.get_one(Bucket, gone_id).deleted_at = datetime.now(UTC)
    for chosen in ([live_id, gone_id], [live_id, uuid.uuid4()]):
        body = assert_problem(create_key(api, acme, chosen), 422, "validation-error")
        assert body["errors"][0]["field"] == "body.bucket_ids"
    assert key_count(db) == 0 and iam_users(acme) == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "body.name"),
        ({"name": ""}, "body.name"),
        ({"name": "x" * 101}, "body.name"),
        ({"name": "ci", "bucket_ids": ["not-a-uuid"]}, "body.bucket_ids.0"),
        ({"name": "ci", "bucket_ids": "all"}, "body.bucket_ids"),
        ({"name": "ci", "bucket_ids": [str(uuid.uuid4()) for _ in range(101)]}, "body.bucket_ids"),
        ({"name": "ci", "secret_access_key": "mine"}, "body.secret_access_key"),
    ],
    ids=["name-missing", "name-empty", "name-too-long", "bucket-not-uuid", "buckets-not-list", "too-many", "unknown"],
)
def test_bad_input_is_422_naming_the_field(
    api: ApiClient, acme: Tenant, db: sa.Engine, payload: dict[str, Any], field: str
) -> None:
    body = assert_problem(api.post(keys_path(acme), token=acme.token("owner"), json=payload), 422, "validation-error")
    assert field in [error["field"] for error in body["errors"]], body
    assert key_count(db) == 0 and iam_users(acme) == []


def test_a_suspended_account_cannot_create_or_change_keys_but_may_list_and_revoke(
    api: ApiClient, acme: Tenant, db: sa.Engine
) -> None:
    created = create_key(api, acme).json
    suspend(db, acme)
    key_path = f"{keys_path(acme)}/{created['id']}"

    assert_problem(create_key(api, acme, as_role="owner"), 403, "account-suspended")
    assert_problem(api.patch(key_path, token=acme.token("owner"), json={"status": "active"}), 403, "account-suspended")
    assert api.get(keys_path(acme), token=acme.token("owner")).status == 200
    # taking a credential away only reduces access: allowed, e.g. for a leaked key
    assert api.delete(key_path, token=acme.token("owner")).status == 204
    assert iam_users(acme) == []


# --------------------------------------------------------------------------- backend failures


def test_backend_down_is_503_and_leaves_nothing(
    api: ApiClient, acme: Tenant, db: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        AwsTenantCredentials, "create_credential", failing(Unavailable("IAM failed CreateUser (ServiceFailure)."))
    )
    body = assert_problem(create_key(api, acme), 503, "unavailable")
    assert "IAM" in body["detail"]
    assert key_count(db) == 0 and iam_users(acme) == []
    assert audit_rows(db, "access_key.create") == []


def test_a_failure_after_the_backend_created_the_key_removes_it_again(
    api: ApiClient, acme: Tenant, db: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the backend creates the credential but the key service then fails to encrypt the secret
    made: list[str] = []
    create_credential = AwsTenantCredentials.create_credential

    def create_and_remember(self: AwsTenantCredentials, *args: Any) -> Any:
        credential = create_credential(self, *args)
        made.append(credential.access_key_id)
        return credential

    monkeypatch.setattr(AwsTenantCredentials, "create_credential", create_and_remember)
    monkeypatch.setattr(EnvelopeCipher, "encrypt", failing(Unavailable("The key service failed GenerateDataKey.")))

    assert_problem(create_key(api, acme), 503, "unavailable")

    # then neither the row nor the IAM user is left
    assert len(made) == 1
    assert key_count(db) == 0 and iam_users(acme) == []
    with pytest.raises(ClientError):
        iam().get_access_key_last_used(AccessKeyId=made[0])


def test_a_failed_commit_removes_the_new_credential_too(
    api: ApiClient, acme: Tenant, db: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the audit entry breaks a CHECK constraint, which only the commit's flush finds out
    record = audit.record
    monkeypatch.setattr(audit, "record", lambda *args, **kwargs: record(*args, **{**kwargs, "severity": "bogus"}))

    r = create_key(api, acme)

    assert r.status == 500, r
    assert key_count(db) == 0 and iam_users(acme) == []


# --------------------------------------------------------------------------- list


def test_the_list_is_paged_newest_first_and_never_shows_secrets(
    api: ApiClient, acme: Tenant, globex: Tenant, db: sa.Engine, buckets: list[tuple[uuid.UUID, str]]
) -> None:
    created = [create_key(api, acme, [buckets[0][0]] if n == 1 else None, name=f"key {n}").json for n in range(3)]
    create_key(api, globex)  # another account's key never shows up

    r = api.get(keys_path(acme), token=acme.token("owner"))
    assert r.status == 200, r
    items = r.json["items"]
    assert [item["name"] for item in items] == ["key 2", "key 1", "key 0"]
    assert set(items[0]) == {
        "id",
        "name",
        "access_key_id",
        "status",
        "bucket_ids",
        "created_by",
        "last_used_at",
        "created_at",
    }
    assert items[1]["bucket_ids"] == [str(buckets[0][0])] and items[0]["bucket_ids"] == []
    assert [item["access_key_id"] for item in items] == [key["access_key_id"] for key in reversed(created)]
    assert not any(key["secret_access_key"] in r.text for key in created)

    first = api.get(keys_path(acme), token=acme.token("owner"), params={"limit": 2})
    assert [item["name"] for item in first.json["items"]] == ["key 2", "key 1"] and first.json["next_cursor"]
    rest = api.get(keys_path(acme), token=acme.token("owner"), params={"limit": 2, "cursor": first.json["next_cursor"]})
    assert [item["name"] for item in rest.json["items"]] == ["key 0"] and rest.json["next_cursor"] is None
    assert_problem(
        api.get(keys_path(acme), token=acme.token("owner"), params={"cursor": "junk"}), 422, "validation-error"
    )


# --------------------------------------------------------------------------- update


def test_disable_and_enable_switch_the_key_in_the_backend(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    created = create_key(api, acme).json
    key_path = f"{keys_path(acme)}/{created['id']}"

    r = api.patch(key_path, token=acme.token("owner"), json={"status": "disabled"})
    assert r.status == 200, r
    assert r.json["status"] == "disabled" and "secret_access_key" not in r.json
    assert iam_key_status(created["access_key_id"]) == "Inactive"
    assert key_row(db, created["id"]).status == "disabled"

    assert api.patch(key_path, token=acme.token("owner"), json={"status": "active"}).json["status"] == "active"
    assert iam_key_status(created["access_key_id"]) == "Active"

    first, second = audit_rows(db, "access_key.update")
    assert (first.old_value, first.new_value) == ({"status": "active"}, {"status": "disabled"})
    assert (second.old_value, second.new_value) == ({"status": "disabled"}, {"status": "active"})
    assert first.actor_user_id == acme.members["owner"].user_id and first.target_id == created["id"]


def test_changing_the_buckets_replaces_the_policy(
    api: ApiClient, acme: Tenant, db: sa.Engine, buckets: list[tuple[uuid.UUID, str]]
) -> None:
    (first_id, first), (second_id, second), (third_id, third) = buckets
    created = create_key(api, acme, [first_id]).json
    key_path = f"{keys_path(acme)}/{created['id']}"

    r = api.patch(
        key_path, token=acme.token("admin"), json={"bucket_ids": [second_id.hex, third_id.hex], "name": "two"}
    )
    assert r.status == 200, r
    assert r.json["bucket_ids"] == [str(second_id), str(third_id)] and r.json["name"] == "two"
    assert policy_resources(created["access_key_id"]) == arns(second, third)
    (entry,) = audit_rows(db, "access_key.update")
    assert entry.old_value == {"name": "ci deploy", "bucket_ids": [str(first_id)]}
    assert entry.new_value == {"name": "two", "bucket_ids": [str(second_id), str(third_id)]}

    # an empty list: every bucket of the account
    assert api.patch(key_path, token=acme.token("admin"), json={"bucket_ids": []}).json["bucket_ids"] == []
    assert policy_resources(created["access_key_id"]) == arns(first, second, third)


def test_a_rename_or_no_change_leaves_the_backend_alone(
    api: ApiClient, acme: Tenant, db: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = create_key(api, acme).json
    key_path = f"{keys_path(acme)}/{created['id']}"
    down = failing(Unavailable("IAM is down."))
    for method in ("update_policy", "enable", "disable"):
        monkeypatch.setattr(AwsTenantCredentials, method, down)

    assert api.patch(key_path, token=acme.token("admin"), json={"name": "  new name  "}).json["name"] == "new name"
    assert api.patch(key_path, token=acme.token("admin"), json={"status": "active", "bucket_ids": []}).status == 200
    assert api.patch(key_path, token=acme.token("admin"), json={}).status == 200
    (entry,) = audit_rows(db, "access_key.update")  # only the rename changed anything
    assert entry.new_value == {"name": "new name"}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"status": "revoked"}, "body.status"),
        ({"status": None}, "body.status"),
        ({"name": None}, "body.name"),
        ({"bucket_ids": None}, "body.bucket_ids"),
        ({"access_key_id": "AKIA0000"}, "body.access_key_id"),
    ],
    ids=["revoked-status", "null-status", "null-name", "null-buckets", "unknown"],
)
def test_bad_update_input_is_422(api: ApiClient, acme: Tenant, payload: dict[str, Any], field: str) -> None:
    created = create_key(api, acme).json
    r = api.patch(f"{keys_path(acme)}/{created['id']}", token=acme.token("admin"), json=payload)
    assert field in [error["field"] for error in assert_problem(r, 422, "validation-error")["errors"]]


def test_updating_to_a_foreign_bucket_is_422_and_changes_nothing(
    api: ApiClient,
    acme: Tenant,
    globex: Tenant,
    db: sa.Engine,
    buckets: list[tuple[uuid.UUID, str]],
) -> None:
    (first_id, first), _, _ = buckets
    created = create_key(api, acme, [first_id]).json
    theirs = make_bucket(db, globex.account_id)
    r = api.patch(
        f"{keys_path(acme)}/{created['id']}", token=acme.token("admin"), json={"bucket_ids": [str(theirs)], "name": "x"}
    )
    assert assert_problem(r, 422, "validation-error")["errors"][0]["field"] == "body.bucket_ids"
    assert key_row(db, created["id"]).name == "ci deploy"
    assert policy_resources(created["access_key_id"]) == arns(first)


def test_a_backend_failure_midway_through_an_update_restores_what_was_changed(
    api: ApiClient,
    acme: Tenant,
    db: sa.Engine,
    buckets: list[tuple[uuid.UUID, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given the policy change goes through but disabling the key then fails
    (first_id, first), (second_id, _), _ = buckets
    created = create_key(api, acme, [first_id]).json
    monkeypatch.setattr(AwsTenantCredentials, "disable", failing(Unavailable("IAM failed UpdateAccessKey.")))

    r = api.patch(
        f"{keys_path(acme)}/{created['id']}",
        token=acme.token("admin"),
        json={"bucket_ids": [str(second_id)], "status": "disabled"},
    )

    # then the request fails as a whole: the row, the audit log and the backend policy are as before
    assert_problem(r, 503, "unavailable")
    row = key_row(db, created["id"])
    assert row.status == "active" and row.allowed_bucket_ids == [first_id]
    assert audit_rows(db, "access_key.update") == []
    assert policy_resources(created["access_key_id"]) == arns(first)
    assert iam_key_status(created["access_key_id"]) == "Active"


def test_a_revoked_key_cannot_be_changed(api: ApiClient, acme: Tenant) -> None:
    created = create_key(api, acme).json
    key_path = f"{keys_path(acme)}/{created['id']}"
    assert api.delete(key_path, token=acme.token("admin")).status == 204
    assert_problem(api.patch(key_path, token=acme.token("admin"), json={"status": "active"}), 409, "conflict")
    assert_problem(api.patch(key_path, token=acme.token("admin"), json={"name": "again"}), 409, "conflict")


# --------------------------------------------------------------------------- revoke


def test_revoking_removes_the_credential_and_forgets_the_secret(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    created = create_key(api, acme).json
    kept = create_key(api, acme, name="kept").json
    key_path = f"{keys_path(acme)}/{created['id']}"

    r = api.delete(key_path, token=acme.token("admin"))

    assert r.status == 204 and r.text == ""
    row = key_row(db, created["id"])
    assert row.status == "revoked" and row.secret_ciphertext is None
    with pytest.raises(ClientError) as missing:
        iam().get_access_key_last_used(AccessKeyId=created["access_key_id"])
    assert missing.value.response["Error"]["Code"] == "NoSuchEntity"
    assert iam_users(acme) == [iam_user_of(kept["access_key_id"])]
    (entry,) = audit_rows(db, "access_key.revoke")
    assert entry.target_id == created["id"] and entry.actor_user_id == acme.members["admin"].user_id
    assert entry.old_value == {"name": "ci deploy", "access_key_id": created["access_key_id"], "status": "active"}

    # revoking again changes nothing; the list keeps the key as revoked
    assert api.delete(key_path, token=acme.token("admin")).status == 204
    assert len(audit_rows(db, "access_key.revoke")) == 1
    statuses = {
        item["id"]: item["status"] for item in api.get(keys_path(acme), token=acme.token("admin")).json["items"]
    }
    assert statuses == {created["id"]: "revoked", kept["id"]: "active"}


def test_revoking_a_disabled_key_works(api: ApiClient, acme: Tenant) -> None:
    created = create_key(api, acme).json
    key_path = f"{keys_path(acme)}/{created['id']}"
    api.patch(key_path, token=acme.token("admin"), json={"status": "disabled"})
    assert api.delete(key_path, token=acme.token("admin")).status == 204
    assert iam_users(acme) == []


def test_a_backend_failure_on_revoke_keeps_the_key(
    api: ApiClient, acme: Tenant, db: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = create_key(api, acme).json
    monkeypatch.setattr(AwsTenantCredentials, "delete", failing(Unavailable("IAM failed DeleteUser.")))

    assert_problem(api.delete(f"{keys_path(acme)}/{created['id']}", token=acme.token("admin")), 503, "unavailable")

    row = key_row(db, created["id"])
    assert row.status == "active" and row.secret_ciphertext is not None
    assert audit_rows(db, "access_key.revoke") == []
    assert iam_key_status(created["access_key_id"]) == "Active"


def test_a_malformed_key_id_is_422(api: ApiClient, acme: Tenant) -> None:
    body = assert_problem(api.delete(f"{keys_path(acme)}/123", token=acme.token("owner")), 422, "validation-error")
    assert body["errors"][0]["field"] == "path.key_id"
