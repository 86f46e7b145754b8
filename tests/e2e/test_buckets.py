"""Buckets through HTTP: create, list, read, change, delete; the moto S3 backend is checked with boto3."""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass
from typing import Any, cast

import boto3
import pytest
import sqlalchemy as sa
from botocore.config import Config
from botocore.exceptions import ClientError
from sqlalchemy.orm import Session

from primecloud.models.iam import Account
from primecloud.models.storage import Bucket, BucketPermission, ObjectShare
from primecloud.models.system import AuditLog
from tests.conftest import ApiClient, ApiResponse, assert_problem
from tests.factories import Member, Tenant, add_member, make_api_key, make_bucket, make_tenant

ROLES = ["owner", "admin", "member", "viewer"]


# --------------------------------------------------------------------------- helpers shared with the other bucket tests


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Acme")


@pytest.fixture
def globex(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Globex")


def s3_client(aws_server: dict[str, str]) -> Any:
    """A plain boto3 client to look at what the API did in the backend."""
    return boto3.client(
        "s3", endpoint_url=aws_server["AWS_ENDPOINT_URL"], config=Config(s3={"addressing_style": "path"})
    )


@pytest.fixture
def s3(aws_server: dict[str, str]) -> Any:
    return s3_client(aws_server)


def new_name(prefix: str = "pc") -> str:
    """Bucket names are global in the backend and moto lives for the whole session: never reuse one."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def buckets_url(account_id: uuid.UUID) -> str:
    return f"/v1/accounts/{account_id}/buckets"


def bucket_url(account_id: uuid.UUID, bucket_id: uuid.UUID | str) -> str:
    return f"/v1/accounts/{account_id}/buckets/{bucket_id}"


def invalid_fields(response: ApiResponse) -> list[str]:
    """The fields a 422 problem names (it never repeats the rejected values)."""
    problem = assert_problem(response, 422, "validation-error")
    return [str(error["field"]) for error in cast("list[dict[str, Any]]", problem["errors"])]


def backend_has(s3: Any, name: str) -> bool:
    try:
        s3.head_bucket(Bucket=name)
    except ClientError:
        return False
    return True


def versioning_of(s3: Any, name: str) -> str | None:
    return s3.get_bucket_versioning(Bucket=name).get("Status")  # type: ignore[no-any-return]


def lifecycle_of(s3: Any, name: str) -> list[dict[str, Any]]:
    try:
        return s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]  # type: ignore[no-any-return]
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "NoSuchLifecycleConfiguration"
        return []


def load_bucket(db: sa.Engine, bucket_id: uuid.UUID | str) -> Bucket:
    with Session(db) as session:
        return session.get_one(Bucket, uuid.UUID(str(bucket_id)))


def bucket_rows(db: sa.Engine, name: str) -> list[Bucket]:
    with Session(db) as session:
        return list(session.scalars(sa.select(Bucket).where(Bucket.name == name)))


def audit_entries(db: sa.Engine, action: str) -> list[AuditLog]:
    with Session(db) as session:
        return list(session.scalars(sa.select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.created_at)))


@dataclass
class Crew:
    """Everyone who may or may not reach one bucket of a tenant, by a short name.

    owner/admin reach it by role; member/viewer hold no grant; member_read/member_write/
    member_admin are members with that grant; viewer_admin is a viewer granted admin (reads at most).
    """

    tenant: Tenant
    bucket_id: uuid.UUID
    bucket_name: str
    people: dict[str, Member]

    def token(self, who: str) -> str:
        return self.people[who].token

    @property
    def url(self) -> str:
        return bucket_url(self.tenant.account_id, self.bucket_id)


GRANTED = [("member_read", "member", "read"), ("member_write", "member", "write"), ("member_admin", "member", "admin")]
GRANTED += [("viewer_admin", "viewer", "admin")]
EVERYONE = [*ROLES, *(who for who, _role, _level in GRANTED)]


def make_crew(db: sa.Engine, tenant: Tenant, **bucket_fields: Any) -> Crew:
    name = new_name("crew")
    bucket_id = make_bucket(db, tenant.account_id, name, **bucket_fields)
    people = dict(tenant.members)
    with Session(db, expire_on_commit=False) as session, session.begin():
        account = session.get_one(Account, tenant.account_id)
        for who, role, level in GRANTED:
            person = add_member(session, account, role)
            session.add(BucketPermission(bucket_id=bucket_id, user_id=person.user_id, level=level))
            people[who] = person
    return Crew(tenant, bucket_id, name, people)


@pytest.fixture
def crew(db: sa.Engine, aws_server: dict[str, str], acme: Tenant) -> Crew:
    return make_crew(db, acme)  # its bucket lives in the storage backend (moto)


def create(api: ApiClient, tenant: Tenant, name: str, role: str = "admin", **fields: Any) -> Any:
    r = api.post(buckets_url(tenant.account_id), token=tenant.token(role), json={"name": name, **fields})
    assert r.status == 201, r
    return r.json


# --------------------------------------------------------------------------- POST .../buckets


@pytest.mark.parametrize(("role", "status"), [("owner", 201), ("admin", 201), ("member", 403), ("viewer", 403)])
def test_only_owners_and_admins_create_buckets(
    api: ApiClient, acme: Tenant, s3: Any, db: sa.Engine, *, role: str, status: int
) -> None:
    name = new_name()
    r = api.post(buckets_url(acme.account_id), token=acme.token(role), json={"name": name})
    assert r.status == status, r
    assert backend_has(s3, name) is (status == 201)
    assert len(bucket_rows(db, name)) == (status == 201)


def test_create_makes_the_backend_bucket_with_its_settings(
    api: ApiClient, acme: Tenant, s3: Any, db: sa.Engine
) -> None:
    name = new_name()
    rules = [
        {"id": "expire-tmp", "prefix": "tmp/", "expire_days": 30},
        {"id": "old-versions", "enabled": False, "noncurrent_expire_days": 7, "abort_multipart_days": 2},
    ]
    r = api.post(
        buckets_url(acme.account_id),
        token=acme.token("admin"),
        json={
            "name": name,
            "region": "eu-central-1",
            "versioning": True,
            "lifecycle_rules": rules,
            "quota_bytes": 10**9,
        },
    )
    assert r.status == 201, r
    body = r.json
    assert body["name"] == name and body["region"] == "eu-central-1" and body["versioning"] is True
    assert body["quota_bytes"] == 10**9 and body["status"] == "active" and body["my_level"] == "admin"
    assert body["lifecycle_rules"] == [
        {
            "id": "expire-tmp",
            "prefix": "tmp/",
            "enabled": True,
            "expire_days": 30,
            "noncurrent_expire_days": None,
            "abort_multipart_days": None,
        },
        {
            "id": "old-versions",
            "prefix": "",
            "enabled": False,
            "expire_days": None,
            "noncurrent_expire_days": 7,
            "abort_multipart_days": 2,
        },
    ]
    assert body["created_at"] and body["updated_at"]

    # the backend: versioned, in the region asked for, with both rules
    assert versioning_of(s3, name) == "Enabled"
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-central-1"
    backend_rules = {rule["ID"]: rule for rule in lifecycle_of(s3, name)}
    assert backend_rules["expire-tmp"]["Expiration"] == {"Days": 30}
    assert backend_rules["expire-tmp"]["Status"] == "Enabled"
    assert backend_rules["old-versions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 7
    assert backend_rules["old-versions"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 2}
    assert backend_rules["old-versions"]["Status"] == "Disabled"

    # the row: rules in their stored form (unset actions left out); AWS has no quotas, so it is only stored
    bucket = load_bucket(db, body["id"])
    assert bucket.account_id == acme.account_id and bucket.deleted_at is None and bucket.quota_bytes == 10**9
    assert bucket.lifecycle_rules == [
        {"id": "expire-tmp", "prefix": "tmp/", "enabled": True, "expire_days": 30},
        {"id": "old-versions", "prefix": "", "enabled": False, "noncurrent_expire_days": 7, "abort_multipart_days": 2},
    ]
    (entry,) = audit_entries(db, "bucket.create")
    assert entry.account_id == acme.account_id and entry.actor_user_id == acme.members["admin"].user_id
    assert entry.target_type == "bucket" and entry.target_id == body["id"] and entry.severity == "info"
    assert entry.new_value is not None
    assert entry.new_value["name"] == name and entry.new_value["versioning"] is True
    assert entry.new_value["lifecycle_rules"] == bucket.lifecycle_rules


def test_create_defaults(api: ApiClient, acme: Tenant, s3: Any) -> None:
    name = new_name()
    body = create(api, acme, name, role="owner")
    assert body["region"] == "us-east-1"  # settings.storage_region
    assert body["versioning"] is False and body["lifecycle_rules"] == [] and body["quota_bytes"] is None
    assert versioning_of(s3, name) is None and lifecycle_of(s3, name) == []


@pytest.mark.parametrize(
    "name",
    [
        "ab",
        "x" * 64,
        "Upper-case",
        "under_score",
        "-leading-hyphen",
        "trailing-hyphen-",
        "two..dots",
        "dot.-hyphen",
        "192.168.10.20",
        "xn--punycode",
        "sthree-reserved",
        "access-point-s3alias",
        "white space",
        "",
    ],
)
def test_names_follow_the_s3_rules(api: ApiClient, acme: Tenant, db: sa.Engine, name: str) -> None:
    r = api.post(buckets_url(acme.account_id), token=acme.token("owner"), json={"name": name})
    assert invalid_fields(r) == ["body.name"], r
    with Session(db) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Bucket)) == 0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"lifecycle_rules": [{"id": "no-action"}]}, "body.lifecycle_rules.0"),
        ({"lifecycle_rules": [{"id": "", "expire_days": 1}]}, "body.lifecycle_rules.0.id"),
        ({"lifecycle_rules": [{"id": "a", "expire_days": 0}]}, "body.lifecycle_rules.0.expire_days"),
        ({"lifecycle_rules": [{"id": "a", "expire_days": "30"}]}, "body.lifecycle_rules.0.expire_days"),
        ({"lifecycle_rules": [{"id": "a", "expire_days": True}]}, "body.lifecycle_rules.0.expire_days"),
        (
            {"lifecycle_rules": [{"id": "a", "expire_days": 1, "transition": "GLACIER"}]},
            "body.lifecycle_rules.0.transition",
        ),
        (
            {"lifecycle_rules": [{"id": "same", "expire_days": 1}, {"id": "same", "abort_multipart_days": 1}]},
            "body.lifecycle_rules",
        ),
        ({"lifecycle_rules": {"id": "a", "expire_days": 1}}, "body.lifecycle_rules"),
        ({"quota_bytes": 0}, "body.quota_bytes"),
        ({"quota_bytes": -5}, "body.quota_bytes"),
        ({"quota_bytes": "1000"}, "body.quota_bytes"),
        ({"region": "Europe"}, "body.region"),
        ({"versioning": "sometimes"}, "body.versioning"),
        ({"owner": "someone"}, "body.owner"),
    ],
)
def test_invalid_settings_are_422_naming_the_field(
    api: ApiClient, acme: Tenant, s3: Any, fields: dict[str, Any], field: str
) -> None:
    name = new_name()
    r = api.post(buckets_url(acme.account_id), token=acme.token("owner"), json={"name": name, **fields})
    assert field in invalid_fields(r), r
    assert not backend_has(s3, name)


def test_a_live_name_is_409_in_any_account(
    api: ApiClient, acme: Tenant, globex: Tenant, s3: Any, db: sa.Engine
) -> None:
    name = new_name()
    first = create(api, acme, name)
    for tenant in (acme, globex):
        r = api.post(buckets_url(tenant.account_id), token=tenant.token("owner"), json={"name": name})
        assert_problem(r, 409, "conflict")
    assert [row.id for row in bucket_rows(db, name)] == [uuid.UUID(first["id"])]
    assert len(audit_entries(db, "bucket.create")) == 1
    assert backend_has(s3, name)  # the first bucket is untouched


def test_a_deleted_buckets_name_stays_taken_until_the_purge_removed_it(
    api: ApiClient, acme: Tenant, s3: Any, db: sa.Engine
) -> None:
    """The database frees the name at once (the unique index covers live rows only), but the backend
    bucket and its objects stay until the purge job: the backend refuses the name, so it is 409."""
    name = new_name()
    old = create(api, acme, name)
    assert api.delete(bucket_url(acme.account_id, old["id"]), token=acme.token("owner")).status == 204
    r = api.post(buckets_url(acme.account_id), token=acme.token("owner"), json={"name": name})
    assert_problem(r, 409, "conflict")
    assert [row.id for row in bucket_rows(db, name)] == [uuid.UUID(old["id"])]  # no second row

    s3.delete_bucket(Bucket=name)  # what the purge job does
    again = create(api, acme, name, role="owner")
    assert again["id"] != old["id"]
    assert {row.deleted_at is None for row in bucket_rows(db, name)} == {True, False}


def test_a_name_taken_only_in_the_backend_is_409(api: ApiClient, acme: Tenant, s3: Any, db: sa.Engine) -> None:
    name = new_name()
    s3.create_bucket(Bucket=name)
    r = api.post(buckets_url(acme.account_id), token=acme.token("owner"), json={"name": name})
    assert_problem(r, 409, "conflict")
    assert bucket_rows(db, name) == []
    assert backend_has(s3, name)  # someone else's bucket is left alone


def test_api_keys_need_the_bucket_scopes(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    with Session(db) as session, session.begin():
        account = session.get_one(Account, acme.account_id)
        reader, _ = make_api_key(session, account, acme.members["admin"].user_id, ["buckets:read"])
        writer, _ = make_api_key(session, account, acme.members["admin"].user_id, ["buckets:write"])
    url = buckets_url(acme.account_id)
    assert_problem(api.post(url, token=reader, json={"name": new_name()}), 403, "forbidden")
    assert api.get(url, token=reader).status == 200
    made = api.post(url, token=writer, json={"name": new_name()})
    assert made.status == 201, made
    assert_problem(api.get(url, token=writer), 403, "forbidden")
    assert api.get(bucket_url(acme.account_id, made.json["id"]), token=reader).json["my_level"] == "admin"
    assert_problem(
        api.patch(bucket_url(acme.account_id, made.json["id"]), token=reader, json={"quota_bytes": 5}), 403, "forbidden"
    )


def test_a_suspended_account_lists_and_reads_but_changes_nothing(
    api: ApiClient, crew: Crew, s3: Any, db: sa.Engine
) -> None:
    account_id = crew.tenant.account_id
    with Session(db) as session, session.begin():
        session.get_one(Account, account_id).status = "suspended"
    name = new_name()
    r = api.post(buckets_url(account_id), token=crew.token("owner"), json={"name": name})
    assert_problem(r, 403, "account-suspended")
    assert not backend_has(s3, name)
    assert_problem(api.patch(crew.url, token=crew.token("owner"), json={"versioning": True}), 403, "account-suspended")
    assert_problem(api.delete(crew.url, token=crew.token("owner")), 403, "account-suspended")
    assert api.get(buckets_url(account_id), token=crew.token("viewer")).status == 200
    assert api.get(crew.url, token=crew.token("member_read")).status == 200
    assert load_bucket(db, crew.bucket_id).deleted_at is None


# --------------------------------------------------------------------------- GET .../buckets


def test_list_shows_members_only_the_buckets_they_were_granted(
    api: ApiClient, crew: Crew, globex: Tenant, db: sa.Engine
) -> None:
    account_id = crew.tenant.account_id
    other = make_bucket(db, account_id, new_name("other"))
    gone = make_bucket(db, account_id, new_name("gone"), deleted_at=sa.func.now(), status="deleting")
    make_bucket(db, globex.account_id, new_name("globex"))
    expected: dict[str, dict[uuid.UUID, str]] = {
        "owner": {crew.bucket_id: "admin", other: "admin"},
        "admin": {crew.bucket_id: "admin", other: "admin"},
        "member": {},
        "viewer": {},
        "member_read": {crew.bucket_id: "read"},
        "member_write": {crew.bucket_id: "write"},
        "member_admin": {crew.bucket_id: "admin"},
        "viewer_admin": {crew.bucket_id: "read"},  # a viewer reads at most, whatever was granted
    }
    for who, levels in expected.items():
        r = api.get(buckets_url(account_id), token=crew.token(who))
        assert r.status == 200, (who, r)
        assert {uuid.UUID(item["id"]): item["my_level"] for item in r.json["items"]} == levels, who
        assert r.json["next_cursor"] is None
        assert gone not in {uuid.UUID(item["id"]) for item in r.json["items"]}


def test_pages_walk_every_bucket_once_in_name_order(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    prefix = new_name("page")
    names = [f"{prefix}-{index:02d}" for index in range(7)]
    for name in reversed(names):
        make_bucket(db, acme.account_id, name)
    member = acme.members["member"]
    with Session(db) as session, session.begin():
        for bucket in session.scalars(sa.select(Bucket).where(Bucket.name.in_(names[::2]))):
            session.add(BucketPermission(bucket_id=bucket.id, user_id=member.user_id, level="write"))

    def walk(token: str) -> list[str]:
        seen: list[str] = []
        cursor = None
        for _ in range(10):
            params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            r = api.get(buckets_url(acme.account_id), token=token, params=params)
            assert r.status == 200, r
            assert len(r.json["items"]) <= 3
            seen += [item["name"] for item in r.json["items"]]
            cursor = r.json["next_cursor"]
            if cursor is None:
                return seen
        raise AssertionError("the cursor walk did not end")

    assert walk(acme.token("owner")) == names
    assert walk(member.token) == names[::2]


def test_a_cursor_this_api_did_not_issue_is_422(api: ApiClient, acme: Tenant) -> None:
    r = api.get(buckets_url(acme.account_id), token=acme.token("owner"), params={"cursor": "garbage!"})
    assert_problem(r, 422, "validation-error")
    r = api.get(buckets_url(acme.account_id), token=acme.token("owner"), params={"limit": 101})
    assert_problem(r, 422, "validation-error")


@pytest.mark.parametrize("who", ["owner", "member_write"])
def test_listing_takes_two_statements(db: sa.Engine, crew: Crew, who: str) -> None:
    """The access check, then the page (for members and viewers with their levels, from the same join).

    Invoked directly: through the gateway, the authorizer's own query would land on the same engine.
    """
    from localrun.gateway.events import authorized_event
    from localrun.invoke import invoke
    from tests.conftest import count_statements

    account_id = crew.tenant.account_id
    person = crew.people[who]
    with Session(db) as session, session.begin():
        for index in range(12):
            bucket = Bucket(account_id=account_id, name=f"{crew.bucket_name}-{index:02d}", region="us-east-1")
            session.add(bucket)
            session.flush()
            session.add(BucketPermission(bucket_id=bucket.id, user_id=person.user_id, level="read"))
    event = authorized_event(
        "GET",
        "/v1/accounts/{account_id}/buckets",
        {"account_id": str(account_id)},
        str(person.user_id),
        query={"limit": "10"},
    )
    invoke("ListBucketsFunction", copy.deepcopy(event))  # warm: imports and connection
    with count_statements() as statements:
        result = invoke("ListBucketsFunction", event)
    assert result["statusCode"] == 200, result
    assert len(statements) == 2, statements.statements
    assert '"next_cursor":null' not in result["body"]  # a full page of 10 out of 13


# --------------------------------------------------------------------------- GET .../buckets/{id}

READ_LEVELS = {
    "owner": "admin",
    "admin": "admin",
    "member": None,
    "viewer": None,
    "member_read": "read",
    "member_write": "write",
    "member_admin": "admin",
    "viewer_admin": "read",
}


@pytest.mark.parametrize("who", EVERYONE)
def test_read_a_bucket_by_role_and_grant(api: ApiClient, crew: Crew, who: str) -> None:
    r = api.get(crew.url, token=crew.token(who))
    level = READ_LEVELS[who]
    if level is None:  # no grant: the bucket does not exist for them
        assert_problem(r, 404, "not-found")
        return
    assert r.status == 200, r
    assert r.json["id"] == str(crew.bucket_id) and r.json["name"] == crew.bucket_name
    assert r.json["my_level"] == level


# --------------------------------------------------------------------------- PATCH .../buckets/{id}

# Changing or deleting a bucket is for the account's owners and admins; a bucket admin grant is not enough.
MANAGE_STATUS = {
    "owner": 200,
    "admin": 200,
    "member": 404,
    "viewer": 404,
    "member_read": 403,
    "member_write": 403,
    "member_admin": 403,
    "viewer_admin": 403,
}


@pytest.mark.parametrize("who", EVERYONE)
def test_only_owners_and_admins_change_a_bucket(api: ApiClient, crew: Crew, db: sa.Engine, who: str) -> None:
    r = api.patch(crew.url, token=crew.token(who), json={"quota_bytes": 4096})
    assert r.status == MANAGE_STATUS[who], r
    assert load_bucket(db, crew.bucket_id).quota_bytes == (4096 if r.status == 200 else None)


def test_update_changes_the_backend_and_the_row_and_audits_old_and_new(
    api: ApiClient, crew: Crew, s3: Any, db: sa.Engine
) -> None:
    rules = [{"id": "expire-logs", "prefix": "logs/", "expire_days": 14}]
    r = api.patch(
        crew.url,
        token=crew.token("admin"),
        json={"versioning": True, "lifecycle_rules": rules, "quota_bytes": 5 * 2**30},
    )
    assert r.status == 200, r
    assert r.json["versioning"] is True and r.json["quota_bytes"] == 5 * 2**30 and r.json["my_level"] == "admin"
    assert [rule["id"] for rule in r.json["lifecycle_rules"]] == ["expire-logs"]
    assert versioning_of(s3, crew.bucket_name) == "Enabled"
    (rule,) = lifecycle_of(s3, crew.bucket_name)
    assert rule["ID"] == "expire-logs" and rule["Expiration"] == {"Days": 14}
    bucket = load_bucket(db, crew.bucket_id)
    assert bucket.versioning is True and bucket.quota_bytes == 5 * 2**30
    assert bucket.lifecycle_rules == [{"id": "expire-logs", "prefix": "logs/", "enabled": True, "expire_days": 14}]
    (entry,) = audit_entries(db, "bucket.update")
    assert entry.target_id == str(crew.bucket_id) and entry.actor_user_id == crew.people["admin"].user_id
    assert entry.old_value == {"lifecycle_rules": [], "quota_bytes": None, "versioning": False}
    assert entry.new_value == {
        "lifecycle_rules": bucket.lifecycle_rules,
        "quota_bytes": 5 * 2**30,
        "versioning": True,
    }

    # off again: S3 can only suspend versioning; [] removes the rules; null removes the quota
    r = api.patch(
        crew.url, token=crew.token("owner"), json={"versioning": False, "lifecycle_rules": [], "quota_bytes": None}
    )
    assert r.status == 200, r
    assert r.json["versioning"] is False and r.json["lifecycle_rules"] == [] and r.json["quota_bytes"] is None
    assert versioning_of(s3, crew.bucket_name) == "Suspended"
    assert lifecycle_of(s3, crew.bucket_name) == []
    second = audit_entries(db, "bucket.update")[1]
    assert second.old_value == entry.new_value and second.new_value == entry.old_value


def test_only_the_fields_sent_change(api: ApiClient, crew: Crew, s3: Any, db: sa.Engine) -> None:
    r = api.patch(crew.url, token=crew.token("owner"), json={"versioning": True})
    assert r.status == 200, r
    r = api.patch(crew.url, token=crew.token("owner"), json={"quota_bytes": 1234})
    assert r.status == 200, r
    assert r.json["versioning"] is True and r.json["quota_bytes"] == 1234
    assert versioning_of(s3, crew.bucket_name) == "Enabled"
    (_, quota_entry) = audit_entries(db, "bucket.update")
    assert quota_entry.old_value == {"quota_bytes": None} and quota_entry.new_value == {"quota_bytes": 1234}


def test_an_update_that_changes_nothing_touches_neither_backend_nor_audit(
    api: ApiClient, crew: Crew, db: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from primecloud.adapters import registry
    from primecloud.errors import Unavailable

    def unreachable(*_args: Any, **_kwargs: Any) -> None:
        raise Unavailable("the backend must not be called")

    monkeypatch.setattr(registry.storage(), "set_versioning", unreachable)
    monkeypatch.setattr(registry.storage(), "set_lifecycle", unreachable)
    r = api.patch(crew.url, token=crew.token("owner"), json={"versioning": False, "lifecycle_rules": []})
    assert r.status == 200, r
    r = api.patch(crew.url, token=crew.token("owner"), json={})
    assert r.status == 200, r
    assert audit_entries(db, "bucket.update") == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"versioning": None}, "body.versioning"),
        ({"lifecycle_rules": None}, "body.lifecycle_rules"),
        ({"lifecycle_rules": [{"id": "x"}]}, "body.lifecycle_rules.0"),
        ({"quota_bytes": 0}, "body.quota_bytes"),
        ({"name": "renamed-bucket"}, "body.name"),
        ({"region": "eu-west-1"}, "body.region"),
        ({"status": "active"}, "body.status"),
    ],
)
def test_update_rejects_bad_input_naming_the_field(
    api: ApiClient, crew: Crew, db: sa.Engine, body: dict[str, Any], field: str
) -> None:
    r = api.patch(crew.url, token=crew.token("owner"), json=body)
    assert field in invalid_fields(r), r
    assert load_bucket(db, crew.bucket_id).name == crew.bucket_name


# --------------------------------------------------------------------------- DELETE .../buckets/{id}


@pytest.mark.parametrize("who", EVERYONE)
def test_only_owners_and_admins_delete_a_bucket(api: ApiClient, crew: Crew, db: sa.Engine, who: str) -> None:
    r = api.delete(crew.url, token=crew.token(who))
    expected = 204 if MANAGE_STATUS[who] == 200 else MANAGE_STATUS[who]
    assert r.status == expected, r
    assert (load_bucket(db, crew.bucket_id).deleted_at is not None) is (expected == 204)


def _share(bucket_id: uuid.UUID, key: str, **fields: Any) -> ObjectShare:
    return ObjectShare(bucket_id=bucket_id, object_key=key, token_hash=uuid.uuid4().hex * 2, **fields)


def test_delete_is_soft_immediate_and_revokes_share_links(api: ApiClient, crew: Crew, s3: Any, db: sa.Engine) -> None:
    account_id = crew.tenant.account_id
    other = make_bucket(db, account_id, new_name("keep"))
    with Session(db) as session, session.begin():
        session.add_all([_share(crew.bucket_id, "a.txt"), _share(crew.bucket_id, "b.txt"), _share(other, "c.txt")])
        earlier = session.scalar(sa.select(sa.func.now() - sa.text("interval '1 day'")))
        session.add(_share(crew.bucket_id, "old.txt", revoked_at=earlier))

    assert api.delete(crew.url, token=crew.token("admin")).status == 204

    bucket = load_bucket(db, crew.bucket_id)
    assert bucket.deleted_at is not None and bucket.status == "deleting"
    assert backend_has(s3, crew.bucket_name)  # the purge job removes it later
    with Session(db) as session:
        shares = {share.object_key: share.revoked_at for share in session.scalars(sa.select(ObjectShare))}
    assert shares["a.txt"] == shares["b.txt"] == bucket.deleted_at
    assert shares["old.txt"] is not None and shares["old.txt"] < bucket.deleted_at  # kept as it was
    assert shares["c.txt"] is None  # another bucket's link is untouched

    # gone for everyone, on every bucket route
    for who in EVERYONE:
        assert_problem(api.get(crew.url, token=crew.token(who)), 404, "not-found")
        listed = api.get(buckets_url(account_id), token=crew.token(who)).json["items"]
        assert str(crew.bucket_id) not in {item["id"] for item in listed}
    owner = crew.token("owner")
    assert_problem(api.patch(crew.url, token=owner, json={"versioning": True}), 404, "not-found")
    assert_problem(api.delete(crew.url, token=owner), 404, "not-found")
    assert_problem(api.get(f"{crew.url}/permissions", token=owner), 404, "not-found")
    member = crew.people["member"].user_id
    assert_problem(api.put(f"{crew.url}/permissions/{member}", token=owner, json={"level": "read"}), 404, "not-found")
    reader = crew.people["member_read"].user_id
    assert_problem(api.delete(f"{crew.url}/permissions/{reader}", token=owner), 404, "not-found")

    (entry,) = audit_entries(db, "bucket.delete")
    assert entry.severity == "warning" and entry.target_id == str(crew.bucket_id)
    assert entry.actor_user_id == crew.people["admin"].user_id and entry.account_id == account_id
    assert entry.old_value is not None and entry.old_value["name"] == crew.bucket_name
    assert entry.new_value == {"status": "deleting", "revoked_shares": 2}


# --------------------------------------------------------------------------- access keys follow the buckets


def policy_buckets(aws_server: dict[str, str], access_key_id: str) -> set[str]:
    """The bucket names the IAM policy of a tenant access key allows."""
    iam = boto3.client("iam", endpoint_url=aws_server["AWS_ENDPOINT_URL"])
    user = iam.get_access_key_last_used(AccessKeyId=access_key_id)["UserName"]
    (attached,) = iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]
    version_id = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=version_id)["PolicyVersion"]
    raw = document["Document"]
    statements = (json.loads(raw) if isinstance(raw, str) else raw)["Statement"]
    resources = [arn for item in statements if item["Effect"] == "Allow" for arn in item["Resource"]]
    return {arn.removeprefix("arn:aws:s3:::").removesuffix("/*") for arn in resources}


def test_every_bucket_access_keys_gain_a_new_bucket_and_lose_a_deleted_one(
    api: ApiClient, acme: Tenant, aws_server: dict[str, str]
) -> None:
    first = create(api, acme, new_name("first"))
    key = api.post(f"/v1/accounts/{acme.account_id}/access-keys", token=acme.token("admin"), json={"name": "all"})
    assert key.status == 201, key
    only_first = api.post(
        f"/v1/accounts/{acme.account_id}/access-keys",
        token=acme.token("admin"),
        json={"name": "one", "bucket_ids": [first["id"]]},
    )
    assert only_first.status == 201, only_first
    every_key, first_key = key.json["access_key_id"], only_first.json["access_key_id"]
    assert policy_buckets(aws_server, every_key) == {first["name"]}

    second = create(api, acme, new_name("second"))
    assert policy_buckets(aws_server, every_key) == {first["name"], second["name"]}
    assert policy_buckets(aws_server, first_key) == {first["name"]}

    assert api.delete(bucket_url(acme.account_id, first["id"]), token=acme.token("owner")).status == 204
    assert policy_buckets(aws_server, every_key) == {second["name"]}
    assert first["name"] not in policy_buckets(aws_server, first_key)


@pytest.mark.parametrize(
    ("keys", "expected_statements"),
    [
        ([], 3),
        (["one"], 3),  # a key limited to other buckets cannot name the new one: nothing to refresh
        (["revoked"], 3),  # a revoked key has no backend credential left
        # only "every bucket" keys cost statements: their row locks, then the account's live buckets
        # (read after the locks, in a statement of its own, so concurrent creates see each other's)
        (["all", "one"], 5),
    ],
)
def test_create_takes_at_most_three_statements_unless_every_bucket_keys_need_it(
    api: ApiClient, acme: Tenant, aws_server: dict[str, str], keys: list[str], expected_statements: int
) -> None:
    """The access check, the INSERT (which also asks for the "every bucket" keys), the audit entry.

    Invoked directly: through the gateway, the authorizer's own query would land on the same engine.
    """
    from localrun.gateway.events import authorized_event
    from localrun.invoke import invoke
    from tests.conftest import count_statements

    first = create(api, acme, new_name("first"))
    keys_url = f"/v1/accounts/{acme.account_id}/access-keys"
    made: dict[str, str] = {}
    for kind in keys:
        body: dict[str, Any] = {"name": kind, **({"bucket_ids": [first["id"]]} if kind == "one" else {})}
        key = api.post(keys_url, token=acme.token("admin"), json=body)
        assert key.status == 201, key
        made[kind] = key.json["access_key_id"]
        if kind == "revoked":
            assert api.delete(f"{keys_url}/{key.json['id']}", token=acme.token("admin")).status == 204

    def create_event(name: str) -> dict[str, Any]:
        return authorized_event(
            "POST",
            "/v1/accounts/{account_id}/buckets",
            {"account_id": str(acme.account_id)},
            str(acme.members["admin"].user_id),
            body={"name": name},
        )

    assert invoke("CreateBucketFunction", create_event(new_name("warm")))["statusCode"] == 201  # imports, connection
    name = new_name("counted")
    with count_statements() as statements:
        result = invoke("CreateBucketFunction", create_event(name))
    assert result["statusCode"] == 201, result
    assert len(statements) == expected_statements, statements.statements
    if "all" in made:  # the "every bucket" key now names the new bucket too; the other one does not
        assert name in policy_buckets(aws_server, made["all"])
        assert policy_buckets(aws_server, made["one"]) == {first["name"]}


# --------------------------------------------------------------------------- tenancy


def _bucket_routes(account_id: uuid.UUID, bucket_id: uuid.UUID, user_id: uuid.UUID) -> list[tuple[str, str, Any]]:
    url = bucket_url(account_id, bucket_id)
    return [
        ("GET", url, None),
        ("PATCH", url, {"versioning": True}),
        ("DELETE", url, None),
        ("GET", f"{url}/permissions", None),
        ("PUT", f"{url}/permissions/{user_id}", {"level": "admin"}),
        ("DELETE", f"{url}/permissions/{user_id}", None),
    ]


def test_another_tenants_bucket_is_404_on_every_route(
    api: ApiClient, acme: Tenant, globex: Tenant, s3: Any, db: sa.Engine
) -> None:
    name = new_name("globex")
    theirs = make_bucket(db, globex.account_id, name)
    their_member = globex.members["member"]
    with Session(db) as session, session.begin():
        session.add(BucketPermission(bucket_id=theirs, user_id=their_member.user_id, level="read"))
    # Acme's owner asks for Globex's bucket under Acme's account, and under Globex's own
    for account_id in (acme.account_id, globex.account_id):
        for method, path, body in _bucket_routes(account_id, theirs, their_member.user_id):
            r = api.request(method, path, token=acme.token("owner"), json=body)
            assert_problem(r, 404, "not-found")
    assert api.post(buckets_url(globex.account_id), token=acme.token("owner"), json={"name": new_name()}).status == 404
    assert api.get(buckets_url(globex.account_id), token=acme.token("owner")).status == 404
    # and nothing of Globex changed
    bucket = load_bucket(db, theirs)
    assert bucket.deleted_at is None and bucket.versioning is False
    assert versioning_of(s3, name) is None
    with Session(db) as session:
        assert session.scalars(sa.select(BucketPermission.level).where(BucketPermission.bucket_id == theirs)).all() == [
            "read"
        ]


def test_a_malformed_id_is_422_naming_the_parameter(api: ApiClient, crew: Crew) -> None:
    owner = crew.token("owner")
    r = api.get(bucket_url(crew.tenant.account_id, "not-a-uuid"), token=owner)
    assert invalid_fields(r) == ["path.bucket_id"]
    r = api.put(f"{crew.url}/permissions/not-a-uuid", token=owner, json={"level": "read"})
    assert invalid_fields(r) == ["path.user_id"]
