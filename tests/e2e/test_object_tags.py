"""Object tags through HTTP: kept in the database, mirrored to S3 object tagging, replaced as a set,
validated by S3's rules, rolled back when the backend fails."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.adapters import registry
from primecloud.errors import Unavailable
from primecloud.models.storage import ObjectTag
from tests.conftest import ApiClient, ApiResponse, assert_problem
from tests.e2e.test_objects import (
    audit_rows,
    bucket_name,
    bucket_path,
    error_fields,
    put_object,
    s3_client,
    suspend,
)
from tests.factories import Tenant, make_bucket, make_tenant

KEY = "designs/logo.svg"


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Acme")


@pytest.fixture
def globex(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Globex")


@pytest.fixture
def s3(aws_server: dict[str, str]) -> Any:
    return s3_client(aws_server)


@pytest.fixture
def bucket(db: sa.Engine, acme: Tenant) -> uuid.UUID:
    return make_bucket(db, acme.account_id)


@pytest.fixture
def tagged_object(db: sa.Engine, bucket: uuid.UUID, s3: Any) -> uuid.UUID:
    put_object(s3, db, bucket, KEY)
    return bucket


def put_tags(
    api: ApiClient, tenant: Tenant, bucket_id: uuid.UUID, tags: Any, *, key: str = KEY, role: str = "owner"
) -> ApiResponse:
    return api.put(
        bucket_path(tenant, bucket_id, "/tags"), token=tenant.token(role), params={"key": key}, json={"tags": tags}
    )


def get_tags(api: ApiClient, tenant: Tenant, bucket_id: uuid.UUID, key: str = KEY, role: str = "owner") -> ApiResponse:
    return api.get(bucket_path(tenant, bucket_id, "/tags"), token=tenant.token(role), params={"key": key})


def delete_tags(
    api: ApiClient, tenant: Tenant, bucket_id: uuid.UUID, key: str = KEY, role: str = "owner"
) -> ApiResponse:
    return api.delete(bucket_path(tenant, bucket_id, "/tags"), token=tenant.token(role), params={"key": key})


def s3_tags(s3: Any, engine: sa.Engine, bucket_id: uuid.UUID, key: str = KEY) -> dict[str, str]:
    response = s3.get_object_tagging(Bucket=bucket_name(engine, bucket_id), Key=key)
    return {tag["Key"]: tag["Value"] for tag in response["TagSet"]}


def tag_rows(engine: sa.Engine) -> list[tuple[str, str, str]]:
    with Session(engine) as session:
        rows = session.execute(sa.select(ObjectTag.object_key, ObjectTag.tag_key, ObjectTag.tag_value))
        return sorted(tuple(row) for row in rows)  # type: ignore[misc]


def test_tags_are_stored_and_mirrored_to_the_backend(
    api: ApiClient,
    acme: Tenant,
    tagged_object: uuid.UUID,
    s3: Any,
    db: sa.Engine,
) -> None:
    assert get_tags(api, acme, tagged_object).json == {"key": KEY, "tags": {}}

    tags = {"project": "apollo", "stage": "final draft", "owner": "ops@example.test", "path": "a/b=c+d:e_f-g.h"}
    r = put_tags(api, acme, tagged_object, tags, role="admin")
    assert r.status == 200, r
    assert r.json == {"key": KEY, "tags": tags}
    assert get_tags(api, acme, tagged_object).json == {"key": KEY, "tags": tags}
    assert s3_tags(s3, db, tagged_object) == tags
    assert len(tag_rows(db)) == 4

    (entry,) = audit_rows(db, "object_tags.put")
    assert entry.account_id == acme.account_id and entry.actor_user_id == acme.members["admin"].user_id
    assert entry.target_type == "bucket" and entry.target_id == str(tagged_object)
    assert entry.old_value == {"object_key": KEY, "tags": {}}
    assert entry.new_value == {"object_key": KEY, "tags": tags}


def test_put_replaces_the_whole_set(
    api: ApiClient,
    acme: Tenant,
    tagged_object: uuid.UUID,
    s3: Any,
    db: sa.Engine,
) -> None:
    put_tags(api, acme, tagged_object, {"a": "1", "b": "2"})
    r = put_tags(api, acme, tagged_object, {"b": "3", "c": ""})
    assert r.status == 200 and r.json["tags"] == {"b": "3", "c": ""}
    assert s3_tags(s3, db, tagged_object) == {"b": "3", "c": ""}
    assert tag_rows(db) == [(KEY, "b", "3"), (KEY, "c", "")]
    latest = max(audit_rows(db, "object_tags.put"), key=lambda entry: entry.created_at)
    assert latest.old_value == {"object_key": KEY, "tags": {"a": "1", "b": "2"}}

    assert put_tags(api, acme, tagged_object, {}).json["tags"] == {}  # an empty set removes them all
    assert s3_tags(s3, db, tagged_object) == {} and tag_rows(db) == []


def test_delete_removes_every_tag(
    api: ApiClient,
    acme: Tenant,
    tagged_object: uuid.UUID,
    s3: Any,
    db: sa.Engine,
) -> None:
    put_tags(api, acme, tagged_object, {"a": "1", "b": "2"})
    r = delete_tags(api, acme, tagged_object)
    assert r.status == 204 and r.text == ""
    assert get_tags(api, acme, tagged_object).json["tags"] == {}
    assert s3_tags(s3, db, tagged_object) == {} and tag_rows(db) == []
    (entry,) = audit_rows(db, "object_tags.delete")
    assert entry.old_value == {"object_key": KEY, "tags": {"a": "1", "b": "2"}}

    assert delete_tags(api, acme, tagged_object).status == 204  # nothing left: still fine, nothing audited
    assert len(audit_rows(db, "object_tags.delete")) == 1


def test_a_backend_failure_is_503_and_leaves_the_rows_as_they_were(
    api: ApiClient, acme: Tenant, tagged_object: uuid.UUID, *, s3: Any, db: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = make_bucket(db, acme.account_id)
    put_object(s3, db, other, KEY)
    assert put_tags(api, acme, tagged_object, {"kept": "yes"}).status == 200

    def unavailable(*_args: Any, **_kwargs: Any) -> None:
        raise Unavailable("The storage backend failed PutObjectTagging (InternalError).")

    monkeypatch.setattr(registry.storage(), "put_object_tags", unavailable)

    # a first set on an untagged object: no rows at all
    assert_problem(put_tags(api, acme, other, {"a": "1"}), 503, "unavailable")
    # a replacement and a removal: the old rows stay
    assert_problem(put_tags(api, acme, tagged_object, {"b": "2"}), 503, "unavailable")
    assert_problem(delete_tags(api, acme, tagged_object), 503, "unavailable")
    assert tag_rows(db) == [(KEY, "kept", "yes")]
    assert len(audit_rows(db, "object_tags.put")) == 1 and audit_rows(db, "object_tags.delete") == []

    monkeypatch.undo()
    assert get_tags(api, acme, tagged_object).json["tags"] == {"kept": "yes"} == s3_tags(s3, db, tagged_object)


@pytest.mark.parametrize(
    "tags",
    [
        {f"k{n}": "v" for n in range(11)},
        {"": "v"},
        {"k" * 129: "v"},
        {"k": "v" * 257},
        {"bad<key>": "v"},
        {"k": "bad\nvalue"},
        {"aws:cloudformation:stack": "v"},
        {"k": 1},
        {"k": None},
        ["k", "v"],
        "k=v",
    ],
    ids=[
        "eleven",
        "empty-key",
        "long-key",
        "long-value",
        "bad-key-chars",
        "bad-value-chars",
        "reserved",
        "number-value",
        "null-value",
        "list",
        "string",
    ],
)
def test_tags_outside_s3s_rules_are_422(
    api: ApiClient,
    acme: Tenant,
    tagged_object: uuid.UUID,
    db: sa.Engine,
    tags: Any,
) -> None:
    r = put_tags(api, acme, tagged_object, tags)
    assert_problem(r, 422, "validation-error")
    assert error_fields(r) == ["body.tags"], r.json
    assert "bad<key>" not in r.text and "cloudformation" not in r.text  # rejected input is not echoed
    assert tag_rows(db) == [] and audit_rows(db, "object_tags.put") == []


def test_ten_tags_of_the_longest_lengths_fit(
    api: ApiClient,
    acme: Tenant,
    tagged_object: uuid.UUID,
    s3: Any,
    db: sa.Engine,
) -> None:
    tags = {f"{n}".rjust(128, "k"): "v" * 256 for n in range(10)}
    assert put_tags(api, acme, tagged_object, tags).status == 200
    assert s3_tags(s3, db, tagged_object) == tags


def test_tags_of_a_missing_object_are_404(
    api: ApiClient,
    acme: Tenant,
    bucket: uuid.UUID,
    db: sa.Engine,
) -> None:
    assert_problem(get_tags(api, acme, bucket, key="nope"), 404, "not-found")
    assert_problem(put_tags(api, acme, bucket, {"a": "b"}, key="nope"), 404, "not-found")
    assert_problem(delete_tags(api, acme, bucket, key="nope"), 404, "not-found")
    assert tag_rows(db) == []


def test_tags_belong_to_one_bucket(
    api: ApiClient, acme: Tenant, globex: Tenant, *, tagged_object: uuid.UUID, s3: Any, db: sa.Engine
) -> None:
    other = make_bucket(db, acme.account_id)
    put_object(s3, db, other, KEY)
    put_tags(api, acme, tagged_object, {"bucket": "first"})
    put_tags(api, acme, other, {"bucket": "second"})

    assert get_tags(api, acme, tagged_object).json["tags"] == {"bucket": "first"}
    assert get_tags(api, acme, other).json["tags"] == {"bucket": "second"}
    delete_tags(api, acme, other)
    assert get_tags(api, acme, tagged_object).json["tags"] == {"bucket": "first"}
    # another tenant cannot see or change them
    assert_problem(get_tags(api, globex, tagged_object), 404, "not-found")
    assert_problem(
        api.put(
            bucket_path(acme, tagged_object, "/tags"),
            token=globex.token("owner"),
            params={"key": KEY},
            json={"tags": {}},
        ),
        404,
        "not-found",
    )
    assert get_tags(api, acme, tagged_object).json["tags"] == {"bucket": "first"}


def test_a_suspended_account_reads_tags_but_does_not_write_them(
    api: ApiClient,
    acme: Tenant,
    tagged_object: uuid.UUID,
    db: sa.Engine,
) -> None:
    put_tags(api, acme, tagged_object, {"a": "1"})
    suspend(db, acme)
    assert get_tags(api, acme, tagged_object).json["tags"] == {"a": "1"}
    assert_problem(put_tags(api, acme, tagged_object, {"a": "2"}), 403, "account-suspended")
    assert_problem(delete_tags(api, acme, tagged_object), 403, "account-suspended")
    assert tag_rows(db) == [(KEY, "a", "1")]
