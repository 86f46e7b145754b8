"""SFTP users through HTTP: provisioned in SftpGo (the spec-enforcing stub) with a bucket home and a
credential of their own (IAM in moto), removed with it, nothing left behind when a backend fails;
plus the suspension hooks dunning calls."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from localrun.services.sftpgo_stub import SftpGoStub, StubError
from primecloud.actor import Actor
from primecloud.adapters import registry
from primecloud.config import get_settings
from primecloud.models.iam import Account
from primecloud.models.storage import SftpUser
from primecloud.models.system import AuditLog
from primecloud.schemas.sftp_users import SftpUserCreate
from primecloud.services import sftp_users
from tests.conftest import ApiClient, ApiResponse, assert_problem
from tests.e2e.sftp_support import PUBLIC_KEY, iam_client, sftpgo_stub, tenant_iam_users  # noqa: F401
from tests.factories import Tenant, make_api_key, make_bucket, make_tenant

pytestmark = pytest.mark.usefixtures("sftpgo_stub")

HOME_BASE = "/srv/sftpgo/users"  # SftpGoClient's default


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Acme")


@pytest.fixture
def globex(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Globex")


@pytest.fixture
def stub(sftpgo_stub: SftpGoStub) -> SftpGoStub:  # noqa: F811 - the fixture imported above
    return sftpgo_stub


@dataclass
class HomeBucket:
    id: uuid.UUID
    name: str


@pytest.fixture
def bucket(db: sa.Engine, acme: Tenant, api: ApiClient) -> HomeBucket:
    name = f"sftp-{uuid.uuid4().hex[:16]}"
    return HomeBucket(make_bucket(db, acme.account_id, name), name)


def users_path(tenant: Tenant) -> str:
    return f"/v1/accounts/{tenant.account_id}/sftp-users"


def create_user(api: ApiClient, tenant: Tenant, *, as_role: str = "admin", **fields: Any) -> ApiResponse:
    body = {"username": "backup", **fields}
    return api.post(users_path(tenant), token=tenant.token(as_role), json=json.loads(json.dumps(body, default=str)))


def slug_of(engine: sa.Engine, tenant: Tenant) -> str:
    with Session(engine) as session:
        return session.get_one(Account, tenant.account_id).slug


def rows(engine: sa.Engine) -> list[SftpUser]:
    with Session(engine) as session:
        return list(session.scalars(sa.select(SftpUser)))


def audit_rows(engine: sa.Engine, action: str) -> list[AuditLog]:
    with Session(engine) as session:
        return list(session.scalars(sa.select(AuditLog).where(AuditLog.action == action)))


def fail_add_user(stub: SftpGoStub) -> None:
    """SftpGo answers AddUser with a 500 from now on."""

    def broken(path: dict[str, str], query: dict[str, Any], body: Any) -> Any:
        raise StubError(500, "database is locked")

    stub.handlers["post", "/users"] = broken


def backends() -> sftp_users.SftpBackends:
    return sftp_users.SftpBackends(registry.sftpgo, registry.tenant_credentials, get_settings().storage_endpoint_url)


# --- create -----------------------------------------------------------------------------------------


def test_a_bucket_homed_user_gets_a_credential_of_its_own(
    api: ApiClient, acme: Tenant, db: sa.Engine, stub: SftpGoStub, bucket: HomeBucket
) -> None:
    r = create_user(api, acme, bucket_id=bucket.id, quota_bytes=5 * 1024**3)

    assert r.status == 201, r
    body = r.json
    login = f"{slug_of(db, acme)}.backup"
    assert body["username"] == login and body["bucket_id"] == str(bucket.id) and body["home_dir"] is None
    assert body["quota_bytes"] == 5 * 1024**3 and body["status"] == "active"
    password = body["password"]
    assert password and len(password) >= 32

    # SftpGo has the user, with the bucket as its S3 home and the password it was shown
    user = stub.users[login]
    assert user["status"] == 1 and user["quota_size"] == 5 * 1024**3
    assert user["home_dir"] == f"{HOME_BASE}/{login}"
    s3config = user["filesystem"]["s3config"]
    assert user["filesystem"]["provider"] == 1
    assert s3config["bucket"] == bucket.name and s3config["region"] == "us-east-1"
    assert s3config["endpoint"] == get_settings().storage_endpoint_url and s3config["force_path_style"] is True
    assert stub.password_matches(login, password)
    assert registry.sftpgo().get_user(login).bucket == bucket.name

    # the key SftpGo holds is a tenant credential limited to that one bucket
    iam = iam_client()
    (iam_user,) = tenant_iam_users(acme.account_id)
    assert iam.get_access_key_last_used(AccessKeyId=s3config["access_key"])["UserName"] == iam_user
    (policy,) = iam.list_attached_user_policies(UserName=iam_user)["AttachedPolicies"]
    version = iam.get_policy(PolicyArn=policy["PolicyArn"])["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=policy["PolicyArn"], VersionId=version)["PolicyVersion"]["Document"]
    if isinstance(document, str):
        document = json.loads(unquote(document))
    assert sorted(document["Statement"][0]["Resource"]) == [
        f"arn:aws:s3:::{bucket.name}",
        f"arn:aws:s3:::{bucket.name}/*",
    ]

    (row,) = rows(db)
    assert str(row.id) == body["id"] and row.username == login and row.account_id == acme.account_id
    (entry,) = audit_rows(db, "sftp_user.create")
    assert entry.target_id == body["id"] and entry.new_value is not None
    assert entry.new_value["username"] == login and entry.new_value["auth_methods"] == ["password"]
    with db.connect() as connection:
        everything = json.dumps(
            [dict(r) for r in connection.execute(sa.text("SELECT * FROM audit_logs")).mappings()]
            + [dict(r) for r in connection.execute(sa.text("SELECT * FROM sftp_users")).mappings()],
            default=str,
        )
    assert password not in everything


def test_a_key_only_user_in_a_folder_of_the_account(
    api: ApiClient, acme: Tenant, db: sa.Engine, stub: SftpGoStub
) -> None:
    r = create_user(api, acme, username="deploy", home_dir="sites/www", public_key=PUBLIC_KEY)

    assert r.status == 201, r
    assert r.json["password"] is None and r.json["home_dir"] == "sites/www" and r.json["bucket_id"] is None
    user = stub.users[r.json["username"]]
    assert user["filesystem"] == {"provider": 0}
    assert user["home_dir"] == f"{HOME_BASE}/{acme.account_id}/sites/www"  # under the account's own folder
    assert user["public_keys"] == [PUBLIC_KEY]
    assert registry.sftpgo().get_user(r.json["username"]).has_password is False
    assert tenant_iam_users(acme.account_id) == []  # no bucket, no credential


def test_a_key_and_a_password_when_asked(api: ApiClient, acme: Tenant, stub: SftpGoStub) -> None:
    r = create_user(api, acme, public_key=PUBLIC_KEY, generate_password=True)
    assert r.status == 201, r
    login = r.json["username"]
    assert stub.password_matches(login, r.json["password"]) and stub.users[login]["public_keys"] == [PUBLIC_KEY]
    assert stub.users[login]["home_dir"] == f"{HOME_BASE}/{acme.account_id}/backup"  # the default folder


def test_usernames_are_unique_per_account_only(
    api: ApiClient, acme: Tenant, globex: Tenant, db: sa.Engine, stub: SftpGoStub
) -> None:
    assert create_user(api, acme).status == 201
    assert_problem(create_user(api, acme, as_role="owner"), 409, "conflict")
    assert create_user(api, globex).status == 201  # another account's "backup" is another login
    assert sorted(stub.users) == sorted([f"{slug_of(db, acme)}.backup", f"{slug_of(db, globex)}.backup"])


def test_accounts_whose_slugs_share_31_characters_have_logins_of_their_own(
    api: ApiClient, acme: Tenant, globex: Tenant, db: sa.Engine, stub: SftpGoStub
) -> None:
    # given two accounts whose slugs differ only after 31 characters
    shared = f"k{uuid.uuid4().hex[:24]}-holdings"[:31]
    with Session(db) as session, session.begin():
        session.get_one(Account, acme.account_id).slug = f"{shared}-europe"
        session.get_one(Account, globex.account_id).slug = f"{shared}-asia"

    # when both create "backup": each gets it, under a prefix no other account has
    first = create_user(api, acme)
    second = create_user(api, globex)
    assert (first.status, second.status) == (201, 201), (first, second)
    assert first.json["username"] == f"{shared}.backup"
    globex_prefix, _, name = second.json["username"].partition(".")
    assert name == "backup" and globex_prefix != shared and globex_prefix.startswith(shared[:24])
    assert len(second.json["username"]) <= 64
    assert sorted(stub.users) == sorted([f"{shared}.backup", second.json["username"]])
    with Session(db) as session:
        prefixes = {session.get_one(Account, t.account_id).sftp_login_prefix for t in (acme, globex)}
    assert prefixes == {shared, globex_prefix}

    # and each account keeps its prefix: a second user of Globex, and a taken name is 409 for its own only
    assert create_user(api, globex, username="reports").json["username"] == f"{globex_prefix}.reports"
    assert_problem(create_user(api, globex, as_role="owner"), 409, "conflict")


def test_a_deleted_users_name_is_free_again(api: ApiClient, acme: Tenant, stub: SftpGoStub) -> None:
    first = create_user(api, acme).json
    assert api.delete(f"{users_path(acme)}/{first['id']}", token=acme.token("admin")).status == 204
    again = create_user(api, acme)
    assert again.status == 201 and again.json["id"] != first["id"]


@pytest.mark.parametrize(
    "case",
    [
        ({"username": "ab"}, "body.username"),
        ({"username": "Alice"}, "body.username"),
        ({"username": "a.b.c"}, "body.username"),
        ({"username": "x" * 33}, "body.username"),
        ({"home_dir": "../elsewhere"}, "body.home_dir"),
        ({"home_dir": "/etc"}, "body.home_dir"),
        ({"home_dir": "a/./b"}, "body.home_dir"),
        ({"home_dir": "a", "bucket_id": str(uuid.uuid4())}, "body"),
        ({"public_key": "ssh-ed25519 not-base64!"}, "body.public_key"),
        ({"public_key": "ssh-rsa " + PUBLIC_KEY.split()[1]}, "body.public_key"),
        ({"generate_password": False}, "body"),
        ({"quota_bytes": 0}, "body.quota_bytes"),
        ({"password": "chosen-by-me"}, "body.password"),
    ],
    ids=[
        "short-name",
        "uppercase",
        "dots",
        "long-name",
        "dotdot-home",
        "absolute-home",
        "dot-segment",
        "bucket-and-home",
        "bad-key",
        "key-type-mismatch",
        "no-credentials",
        "zero-quota",
        "own-password",
    ],
)
def test_bad_input_is_422_and_provisions_nothing(
    api: ApiClient, acme: Tenant, db: sa.Engine, stub: SftpGoStub, case: tuple[dict[str, Any], str]
) -> None:
    fields, field = case
    body = assert_problem(create_user(api, acme, **fields), 422, "validation-error")
    assert any(error["field"].startswith(field) for error in body["errors"]), body
    assert stub.users == {} and rows(db) == []


def test_sftpgo_failing_leaves_nothing_behind(
    api: ApiClient, acme: Tenant, db: sa.Engine, stub: SftpGoStub, bucket: HomeBucket
) -> None:
    fail_add_user(stub)

    assert_problem(create_user(api, acme, bucket_id=bucket.id), 503, "unavailable")

    assert rows(db) == [] and stub.users == {}
    (attempt,) = [request for request in stub.requests if request.method == "POST"]
    assert attempt.body["filesystem"]["s3config"]["access_key"]  # a credential was made for it...
    assert tenant_iam_users(acme.account_id) == []  # ... and is gone again
    assert audit_rows(db, "sftp_user.create") == []


def test_sftpgo_unreachable_leaves_nothing_behind(
    api: ApiClient, acme: Tenant, db: sa.Engine, stub: SftpGoStub, bucket: HomeBucket
) -> None:
    stub.stop()
    assert_problem(create_user(api, acme, bucket_id=bucket.id), 503, "unavailable")
    assert rows(db) == [] and tenant_iam_users(acme.account_id) == []


def test_a_bucket_of_another_account_is_404(
    api: ApiClient, acme: Tenant, globex: Tenant, db: sa.Engine, stub: SftpGoStub
) -> None:
    foreign = make_bucket(db, globex.account_id)
    assert_problem(create_user(api, acme, bucket_id=foreign), 404, "not-found")
    assert_problem(create_user(api, acme, bucket_id=uuid.uuid4()), 404, "not-found")
    assert stub.users == {} and rows(db) == [] and tenant_iam_users(acme.account_id) == []


# --- list and delete --------------------------------------------------------------------------------


def test_listing_pages_through_the_accounts_live_users(
    api: ApiClient, acme: Tenant, globex: Tenant, stub: SftpGoStub
) -> None:
    made = [create_user(api, acme, username=name).json for name in ("one", "two", "three")]
    create_user(api, globex, username="theirs")
    assert api.delete(f"{users_path(acme)}/{made[1]['id']}", token=acme.token("owner")).status == 204

    first = api.get(users_path(acme), token=acme.token("admin"), params={"limit": 1})
    assert first.status == 200, first
    second = api.get(
        users_path(acme), token=acme.token("admin"), params={"limit": 1, "cursor": first.json["next_cursor"]}
    )
    assert second.json["next_cursor"] is None
    items = first.json["items"] + second.json["items"]
    assert [item["id"] for item in items] == [made[2]["id"], made[0]["id"]]  # newest first, deleted ones gone
    assert set(items[0]) == {"id", "username", "bucket_id", "home_dir", "quota_bytes", "status", "created_at"}


def test_delete_removes_the_login_and_its_credential(
    api: ApiClient, acme: Tenant, db: sa.Engine, stub: SftpGoStub, bucket: HomeBucket
) -> None:
    created = create_user(api, acme, bucket_id=bucket.id).json
    access_key = stub.users[created["username"]]["filesystem"]["s3config"]["access_key"]
    assert len(tenant_iam_users(acme.account_id)) == 1

    r = api.delete(f"{users_path(acme)}/{created['id']}", token=acme.token("admin"))

    assert r.status == 204, r
    assert stub.users == {}
    assert tenant_iam_users(acme.account_id) == []
    with pytest.raises(iam_client().exceptions.NoSuchEntityException):
        iam_client().get_access_key_last_used(AccessKeyId=access_key)
    (row,) = rows(db)
    assert row.deleted_at is not None
    (entry,) = audit_rows(db, "sftp_user.delete")
    assert entry.target_id == created["id"] and entry.old_value is not None
    assert entry.old_value["username"] == created["username"]
    assert_problem(api.delete(f"{users_path(acme)}/{created['id']}", token=acme.token("admin")), 404, "not-found")


def test_delete_while_sftpgo_is_down_keeps_everything(
    api: ApiClient, acme: Tenant, db: sa.Engine, stub: SftpGoStub, bucket: HomeBucket
) -> None:
    created = create_user(api, acme, bucket_id=bucket.id).json
    stub.stop()

    assert_problem(api.delete(f"{users_path(acme)}/{created['id']}", token=acme.token("admin")), 503, "unavailable")

    (row,) = rows(db)
    assert row.deleted_at is None and len(tenant_iam_users(acme.account_id)) == 1
    assert audit_rows(db, "sftp_user.delete") == []


def test_a_local_user_is_deleted_without_touching_credentials(api: ApiClient, acme: Tenant, stub: SftpGoStub) -> None:
    created = create_user(api, acme, public_key=PUBLIC_KEY).json
    assert api.delete(f"{users_path(acme)}/{created['id']}", token=acme.token("owner")).status == 204
    assert stub.users == {}


# --- who may do what --------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "status"), [("owner", 201), ("admin", 201), ("member", 403), ("viewer", 403)])
def test_who_may_create(api: ApiClient, acme: Tenant, stub: SftpGoStub, role: str, status: int) -> None:
    assert create_user(api, acme, as_role=role).status == status
    assert len(stub.users) == (1 if status == 201 else 0)


@pytest.mark.parametrize(("role", "status"), [("owner", 200), ("admin", 200), ("member", 403), ("viewer", 403)])
def test_who_may_list(api: ApiClient, acme: Tenant, role: str, status: int) -> None:
    assert api.get(users_path(acme), token=acme.token(role)).status == status


@pytest.mark.parametrize(("role", "status"), [("owner", 204), ("admin", 204), ("member", 403), ("viewer", 403)])
def test_who_may_delete(api: ApiClient, acme: Tenant, stub: SftpGoStub, role: str, status: int) -> None:
    created = create_user(api, acme).json
    assert api.delete(f"{users_path(acme)}/{created['id']}", token=acme.token(role)).status == status
    assert (created["username"] in stub.users) is (status != 204)


def test_api_keys_need_the_sftp_scopes(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    with Session(db) as session, session.begin():
        account = session.get_one(Account, acme.account_id)
        reader, _ = make_api_key(session, account, acme.members["owner"].user_id, ["sftp:read"])
        writer, _ = make_api_key(session, account, acme.members["owner"].user_id, ["sftp:write"])
    assert api.get(users_path(acme), token=reader).status == 200
    assert_problem(api.post(users_path(acme), token=reader, json={"username": "ci-bot"}), 403, "forbidden")
    assert api.post(users_path(acme), token=writer, json={"username": "ci-bot"}).status == 201


def test_another_tenants_users_are_404(api: ApiClient, acme: Tenant, globex: Tenant, stub: SftpGoStub) -> None:
    theirs = create_user(api, globex).json
    assert_problem(api.get(users_path(globex), token=acme.token("owner")), 404, "not-found")
    r = api.post(users_path(globex), token=acme.token("owner"), json={"username": "intruder"})
    assert_problem(r, 404, "not-found")
    assert_problem(api.delete(f"{users_path(globex)}/{theirs['id']}", token=acme.token("owner")), 404, "not-found")
    assert_problem(api.delete(f"{users_path(acme)}/{theirs['id']}", token=acme.token("owner")), 404, "not-found")
    assert theirs["username"] in stub.users


def test_a_suspended_account_cannot_add_users_but_can_remove_them(
    api: ApiClient, acme: Tenant, db: sa.Engine, stub: SftpGoStub
) -> None:
    created = create_user(api, acme).json
    with db.begin() as connection:
        connection.execute(sa.text("UPDATE accounts SET status = 'suspended' WHERE id = :id"), {"id": acme.account_id})

    assert_problem(create_user(api, acme, username="another"), 403, "account-suspended")
    assert api.get(users_path(acme), token=acme.token("admin")).status == 200
    assert api.delete(f"{users_path(acme)}/{created['id']}", token=acme.token("admin")).status == 204


# --- suspension hooks (called by dunning, not routes) ------------------------------------------------


def _run_hook(engine: sa.Engine, hook: Any, tenant: Tenant) -> sftp_users.StatusChange:
    with Session(engine) as session, session.begin():
        result: sftp_users.StatusChange = hook(session, Actor.system("check_overdue"), tenant.account_id, backends())
        return result


def test_suspension_disables_every_login_and_reactivation_enables_them(
    api: ApiClient, acme: Tenant, db: sa.Engine, stub: SftpGoStub, bucket: HomeBucket
) -> None:
    globex = make_tenant(db, "Globex")
    logins = sorted(
        create_user(api, acme, username=name, bucket_id=bucket.id).json["username"] for name in ("alpha", "bravo")
    )
    theirs = create_user(api, globex).json["username"]
    secrets_before = [stub.users[login]["filesystem"]["s3config"]["access_secret"] for login in logins]

    disabled = _run_hook(db, sftp_users.disable_all_for_account, acme)

    assert disabled == sftp_users.StatusChange(changed=logins, failed=[])
    assert [stub.users[login]["status"] for login in logins] == [0, 0] and stub.users[theirs]["status"] == 1
    assert {row.status for row in rows(db) if row.account_id == acme.account_id} == {"disabled"}
    assert registry.sftpgo().get_user(logins[0]).enabled is False
    listed = api.get(users_path(acme), token=acme.token("owner")).json["items"]
    assert {item["status"] for item in listed} == {"disabled"}
    assert {entry.target_id for entry in audit_rows(db, "sftp_user.disable")} == {item["id"] for item in listed}
    # SftpGo's PUT replaces the whole user: the S3 secrets it holds must survive the round trip
    assert [stub.users[login]["filesystem"]["s3config"]["access_secret"] for login in logins] == secrets_before
    assert _run_hook(db, sftp_users.disable_all_for_account, acme) == sftp_users.StatusChange()  # idempotent

    enabled = _run_hook(db, sftp_users.enable_for_account, acme)

    assert enabled == sftp_users.StatusChange(changed=logins, failed=[])
    assert [stub.users[login]["status"] for login in logins] == [1, 1]
    assert {row.status for row in rows(db)} == {"active"}
    assert len(audit_rows(db, "sftp_user.enable")) == 2
    assert _run_hook(db, sftp_users.enable_for_account, acme) == sftp_users.StatusChange()


def test_hooks_report_what_sftpgo_could_not_switch(
    api: ApiClient, acme: Tenant, db: sa.Engine, stub: SftpGoStub
) -> None:
    logins = sorted(create_user(api, acme, username=name).json["username"] for name in ("alpha", "bravo"))
    del stub.users[logins[0]]  # gone from SftpGo behind our back: nobody can log in as it anyway

    assert _run_hook(db, sftp_users.disable_all_for_account, acme) == sftp_users.StatusChange(changed=logins)
    assert _run_hook(db, sftp_users.enable_for_account, acme) == sftp_users.StatusChange(
        changed=[logins[1]], failed=[logins[0]]
    )

    stub.stop()  # SftpGo down: nothing switches, the rows say so, a later call retries
    assert _run_hook(db, sftp_users.disable_all_for_account, acme) == sftp_users.StatusChange(failed=[logins[1]])
    assert {row.username: row.status for row in rows(db)} == {logins[0]: "disabled", logins[1]: "active"}


def test_hooks_need_no_sftpgo_for_an_account_without_sftp_users(acme: Tenant, db: sa.Engine) -> None:
    def unconfigured() -> Any:
        raise AssertionError("SftpGo should not be asked")

    none = sftp_users.SftpBackends(unconfigured, unconfigured)
    with Session(db) as session, session.begin():
        actor = Actor.system("check_overdue")
        assert sftp_users.disable_all_for_account(session, actor, acme.account_id, none) == sftp_users.StatusChange()
        assert sftp_users.enable_for_account(session, actor, acme.account_id, none) == sftp_users.StatusChange()


def test_hooks_switch_users_back_when_the_transaction_rolls_back(
    api: ApiClient, acme: Tenant, db: sa.Engine, stub: SftpGoStub
) -> None:
    login = create_user(api, acme).json["username"]
    with Session(db) as session:
        result = sftp_users.disable_all_for_account(session, Actor.system("check_overdue"), acme.account_id, backends())
        assert result.changed == [login] and stub.users[login]["status"] == 0
        session.rollback()  # say the suspension itself failed to commit

    assert stub.users[login]["status"] == 1
    assert [row.status for row in rows(db)] == ["active"]


def test_a_create_that_does_not_commit_removes_the_login_and_the_credential(
    api: ApiClient, acme: Tenant, db: sa.Engine, stub: SftpGoStub, bucket: HomeBucket
) -> None:
    with Session(db) as session:
        account = session.get_one(Account, acme.account_id)
        actor = Actor(user_id=acme.members["owner"].user_id)
        request = SftpUserCreate(username="late", bucket_id=bucket.id)
        created = sftp_users.create(session, actor, account, request, backends())
        assert created.username in stub.users and len(tenant_iam_users(acme.account_id)) == 1
        session.rollback()  # what the edge does when anything after the service fails, a commit included

    assert stub.users == {} and tenant_iam_users(acme.account_id) == [] and rows(db) == []


def test_a_bucket_that_is_an_sftp_home_is_not_deleted_until_its_users_are(
    api: ApiClient, acme: Tenant, db: sa.Engine, stub: SftpGoStub, bucket: HomeBucket
) -> None:
    created = create_user(api, acme, bucket_id=bucket.id).json
    bucket_url = f"/v1/accounts/{acme.account_id}/buckets/{bucket.id}"

    r = api.delete(bucket_url, token=acme.token("admin"))

    problem = assert_problem(r, 409, "conflict")
    assert created["username"] in problem["detail"]
    assert api.get(bucket_url, token=acme.token("admin")).status == 200  # still there, still the home
    assert api.delete(f"{users_path(acme)}/{created['id']}", token=acme.token("admin")).status == 204
    assert api.delete(bucket_url, token=acme.token("admin")).status == 204
