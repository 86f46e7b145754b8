"""The bucket-permission matrix for every object operation: a member's grant (none/read/write/admin)
decides; owners and admins reach everything; a viewer with a write grant still only reads."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import ApiClient, ApiResponse
from tests.e2e.test_objects import (
    bucket_path,
    put_object,
    s3_client,
)
from tests.factories import Tenant, grant, make_bucket, make_tenant

KEY = "shared/plan.txt"


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Acme")


@pytest.fixture
def s3(aws_server: dict[str, str]) -> Any:
    return s3_client(aws_server)


@dataclass(frozen=True)
class Operation:
    name: str
    needs: str  # the bucket level it needs
    success: int
    call: Callable[[ApiClient, str, str], ApiResponse]  # (api, bucket path, token)


OPERATIONS = [
    Operation("list", "read", 200, lambda api, path, token: api.get(f"{path}/objects", token=token)),
    Operation(
        "upload-url",
        "write",
        200,
        lambda api, path, token: api.post(
            f"{path}/objects/upload-url", token=token, json={"key": "new.txt", "size": 3}
        ),
    ),
    Operation(
        "download-url",
        "read",
        200,
        lambda api, path, token: api.post(f"{path}/objects/download-url", token=token, json={"key": KEY}),
    ),
    Operation(
        "delete", "write", 204, lambda api, path, token: api.delete(f"{path}/objects", token=token, params={"key": KEY})
    ),
    Operation(
        "tags-get", "read", 200, lambda api, path, token: api.get(f"{path}/tags", token=token, params={"key": KEY})
    ),
    Operation(
        "tags-put",
        "write",
        200,
        lambda api, path, token: api.put(f"{path}/tags", token=token, params={"key": KEY}, json={"tags": {"a": "b"}}),
    ),
    Operation(
        "tags-delete",
        "write",
        204,
        lambda api, path, token: api.delete(f"{path}/tags", token=token, params={"key": KEY}),
    ),
    Operation(
        "favorite-put",
        "read",
        201,
        lambda api, path, token: api.put(f"{path}/favorites", token=token, params={"key": KEY}),
    ),
    Operation(
        "favorite-delete",
        "read",
        204,
        lambda api, path, token: api.delete(f"{path}/favorites", token=token, params={"key": KEY}),
    ),
]
OPERATION_IDS = [operation.name for operation in OPERATIONS]
RANK = {"read": 0, "write": 1, "admin": 2}


@pytest.fixture
def bucket_with_object(db: sa.Engine, acme: Tenant, s3: Any) -> uuid.UUID:
    bucket_id = make_bucket(db, acme.account_id)
    put_object(s3, db, bucket_id, KEY)
    return bucket_id


@pytest.mark.parametrize("operation", OPERATIONS, ids=OPERATION_IDS)
@pytest.mark.parametrize("level", [None, "read", "write", "admin"], ids=["no-grant", "read", "write", "admin"])
def test_a_members_grant_decides(
    api: ApiClient,
    db: sa.Engine,
    *,
    acme: Tenant,
    bucket_with_object: uuid.UUID,
    level: str | None,
    operation: Operation,
) -> None:
    member = acme.members["member"]
    if level is not None:
        grant(db, bucket_with_object, member.user_id, level)
    r = operation.call(api, bucket_path(acme, bucket_with_object), member.token)
    if level is None:
        expected = 404  # a bucket you hold nothing on does not exist for you
    elif RANK[level] >= RANK[operation.needs]:
        expected = operation.success
    else:
        expected = 403
    assert r.status == expected, r


@pytest.mark.parametrize("operation", OPERATIONS, ids=OPERATION_IDS)
@pytest.mark.parametrize("role", ["owner", "admin"])
def test_owners_and_admins_reach_every_bucket(
    api: ApiClient,
    acme: Tenant,
    bucket_with_object: uuid.UUID,
    role: str,
    operation: Operation,
) -> None:
    r = operation.call(api, bucket_path(acme, bucket_with_object), acme.token(role))
    assert r.status == operation.success, r


@pytest.mark.parametrize("operation", OPERATIONS, ids=OPERATION_IDS)
def test_a_viewer_with_a_write_grant_only_reads(
    api: ApiClient,
    db: sa.Engine,
    acme: Tenant,
    bucket_with_object: uuid.UUID,
    operation: Operation,
) -> None:
    viewer = acme.members["viewer"]
    grant(db, bucket_with_object, viewer.user_id, "write")
    r = operation.call(api, bucket_path(acme, bucket_with_object), viewer.token)
    assert r.status == (operation.success if operation.needs == "read" else 403), r


@pytest.mark.parametrize("role", ["owner", "admin", "member", "viewer"])
def test_every_role_may_list_their_own_favorites(
    api: ApiClient,
    acme: Tenant,
    role: str,
) -> None:
    r = api.get(f"/v1/accounts/{acme.account_id}/favorites", token=acme.token(role))
    assert r.status == 200 and r.json == {"items": [], "next_cursor": None}, r
