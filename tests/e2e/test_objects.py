"""Objects through HTTP: listings from the backend, presigned uploads and downloads really used against
moto, deletes that take the object's tags, favorites and shares along, quotas, suspension, tenancy."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
import sqlalchemy as sa
from botocore.config import Config
from sqlalchemy.orm import Session

from primecloud.models.billing import UsageRecord
from primecloud.models.iam import Account
from primecloud.models.storage import Bucket, ObjectFavorite, ObjectShare, ObjectTag
from primecloud.models.system import AuditLog
from tests.conftest import ApiClient, ApiResponse, assert_problem
from tests.factories import Tenant, make_api_key, make_bucket, make_tenant

# --- helpers shared by the object, tag and favorite tests ---------------------------------------------


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Acme")


@pytest.fixture
def globex(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Globex")


def s3_client(aws_server: dict[str, str]) -> Any:
    """A plain boto3 client to arrange objects and inspect what the API did in the backend."""
    return boto3.client(
        "s3", endpoint_url=aws_server["AWS_ENDPOINT_URL"], config=Config(s3={"addressing_style": "path"})
    )


@pytest.fixture
def s3(aws_server: dict[str, str]) -> Any:
    return s3_client(aws_server)


@pytest.fixture
def bucket(db: sa.Engine, acme: Tenant) -> uuid.UUID:
    return make_bucket(db, acme.account_id)


def bucket_name(engine: sa.Engine, bucket_id: uuid.UUID) -> str:
    with Session(engine) as session:
        return session.get_one(Bucket, bucket_id).name


def put_object(s3: Any, engine: sa.Engine, bucket_id: uuid.UUID, key: str, body: bytes = b"hello") -> None:
    s3.put_object(Bucket=bucket_name(engine, bucket_id), Key=key, Body=body)


def bucket_path(tenant: Tenant, bucket_id: uuid.UUID, rest: str = "") -> str:
    return f"/v1/accounts/{tenant.account_id}/buckets/{bucket_id}{rest}"


def error_fields(r: ApiResponse) -> list[str]:
    return [error["field"] for error in r.json.get("errors") or []]


def audit_rows(engine: sa.Engine, action: str) -> list[AuditLog]:
    with Session(engine) as session:
        return list(session.scalars(sa.select(AuditLog).where(AuditLog.action == action)))


def all_audit_json(engine: sa.Engine) -> str:
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT * FROM audit_logs")).mappings().all()
    return json.dumps([dict(row) for row in rows], default=str)


def suspend(engine: sa.Engine, tenant: Tenant) -> None:
    with Session(engine) as session, session.begin():
        session.get_one(Account, tenant.account_id).status = "suspended"


def upload_url(api: ApiClient, tenant: Tenant, bucket_id: uuid.UUID, role: str = "owner", **body: Any) -> ApiResponse:
    payload = {"key": "docs/readme.txt", "content_type": "text/plain", "size": 5, **body}
    return api.post(bucket_path(tenant, bucket_id, "/objects/upload-url"), token=tenant.token(role), json=payload)


def download_url(api: ApiClient, tenant: Tenant, bucket_id: uuid.UUID, key: str, role: str = "owner") -> ApiResponse:
    return api.post(
        bucket_path(tenant, bucket_id, "/objects/download-url"), token=tenant.token(role), json={"key": key}
    )


def list_objects(
    api: ApiClient, tenant: Tenant, bucket_id: uuid.UUID, role: str = "owner", **params: Any
) -> ApiResponse:
    return api.get(bucket_path(tenant, bucket_id, "/objects"), token=tenant.token(role), params=params)


# --- acceptance: a real upload and download through the presigned URLs -----------------------------


def test_upload_and_download_through_presigned_urls(
    api: ApiClient, acme: Tenant, bucket: uuid.UUID, db: sa.Engine
) -> None:
    content = b"%PDF-1.7 quarterly numbers \x00\xff" * 100

    # given an upload URL for exactly these bytes
    r = upload_url(
        api, acme, bucket, key="reports/2026/Q3 report.pdf", content_type="application/pdf", size=len(content)
    )
    assert r.status == 200, r
    upload = r.json
    assert upload["method"] == "PUT" and upload["key"] == "reports/2026/Q3 report.pdf"
    assert upload["headers"] == {"Content-Type": "application/pdf", "Content-Length": str(len(content))}
    expires_at = datetime.fromisoformat(upload["expires_at"])
    assert timedelta(minutes=14) < expires_at - datetime.now(UTC) <= timedelta(minutes=15)
    assert parse_qs(urlsplit(upload["url"]).query)["X-Amz-Expires"] == ["900"]

    # when the client uploads with it, the bytes land in the backend
    put = requests.put(upload["url"], data=content, headers=upload["headers"], timeout=10)
    assert put.status_code == 200, put.text

    listed = list_objects(api, acme, bucket, prefix="reports/")
    assert [(item["key"], item["size"]) for item in listed.json["items"]] == [
        ("reports/2026/Q3 report.pdf", len(content))
    ]

    # and a download URL gives them back, as an attachment named after the key's last segment
    r = download_url(api, acme, bucket, "reports/2026/Q3 report.pdf")
    assert r.status == 200, r
    download = r.json
    assert download["method"] == "GET" and download["headers"] == {} and download["size"] == len(content)
    assert download["etag"] == listed.json["items"][0]["etag"]
    assert datetime.fromisoformat(download["expires_at"]) - datetime.now(UTC) <= timedelta(minutes=5)
    assert parse_qs(urlsplit(download["url"]).query)["X-Amz-Expires"] == ["300"]
    got = requests.get(download["url"], timeout=10)
    assert got.status_code == 200 and got.content == content
    assert got.headers["Content-Disposition"].startswith('attachment; filename="Q3 report.pdf"')

    # the upload URL was audited with the key and size, never the URL
    (entry,) = audit_rows(db, "object.upload_url")
    assert entry.account_id == acme.account_id and entry.actor_user_id == acme.members["owner"].user_id
    assert entry.target_type == "bucket" and entry.target_id == str(bucket)
    assert entry.new_value == {
        "object_key": "reports/2026/Q3 report.pdf",
        "size": len(content),
        "content_type": "application/pdf",
    }
    assert "X-Amz-Signature" not in all_audit_json(db)


def test_object_keys_are_taken_as_sent(api: ApiClient, acme: Tenant, bucket: uuid.UUID, s3: Any, db: sa.Engine) -> None:
    key = " notes/ünïcode file.txt "  # leading and trailing spaces are part of an S3 key
    upload = upload_url(api, acme, bucket, key=key, size=3).json
    assert upload["key"] == key
    assert requests.put(upload["url"], data=b"abc", headers=upload["headers"], timeout=10).status_code == 200
    assert s3.get_object(Bucket=bucket_name(db, bucket), Key=key)["Body"].read() == b"abc"
    assert download_url(api, acme, bucket, key).status == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"size": 0}, "body.size"),
        ({"size": -1}, "body.size"),
        ({"size": 5 * 1024**3 + 1}, "body.size"),
        ({"size": "lots"}, "body.size"),
        ({"key": ""}, "body.key"),
        ({"key": "k" * 1025}, "body.key"),
        ({"key": "é" * 600}, "body.key"),  # 600 characters, but 1200 bytes
        ({"content_type": "not a type"}, "body.content_type"),
        ({"content_type": "text/plain\r\nX-Evil: 1"}, "body.content_type"),
        ({"url": "https://example.test"}, "body.url"),
    ],
    ids=[
        "zero",
        "negative",
        "over-5-gib",
        "not-a-number",
        "empty-key",
        "key-too-long",
        "key-too-many-bytes",
        "bad-type",
        "header-injection",
        "unknown-field",
    ],
)
def test_bad_upload_requests_are_422_naming_the_field(
    api: ApiClient, acme: Tenant, bucket: uuid.UUID, *, db: sa.Engine, body: dict[str, Any], field: str
) -> None:
    r = upload_url(api, acme, bucket, **body)
    assert_problem(r, 422, "validation-error")
    assert field in error_fields(r), r.json
    assert audit_rows(db, "object.upload_url") == []


def test_the_largest_single_upload_is_5_gib(api: ApiClient, acme: Tenant, bucket: uuid.UUID) -> None:
    r = upload_url(api, acme, bucket, size=5 * 1024**3)
    assert r.status == 200 and r.json["headers"]["Content-Length"] == str(5 * 1024**3)
    over = upload_url(api, acme, bucket, size=5 * 1024**3 + 1)
    assert "5 GiB" in over.json["detail"]


def test_content_type_defaults_to_octet_stream(api: ApiClient, acme: Tenant, bucket: uuid.UUID) -> None:
    r = api.post(
        bucket_path(acme, bucket, "/objects/upload-url"), token=acme.token("owner"), json={"key": "blob", "size": 1}
    )
    assert r.status == 200 and r.json["headers"]["Content-Type"] == "application/octet-stream"


def test_download_of_a_missing_object_is_404(
    api: ApiClient, acme: Tenant, bucket: uuid.UUID, s3: Any, db: sa.Engine
) -> None:
    put_object(s3, db, bucket, "there.txt")
    assert_problem(download_url(api, acme, bucket, "not-there.txt"), 404, "not-found")
    assert_problem(download_url(api, acme, bucket, "there.tx"), 404, "not-found")  # keys are not prefixes


# --- quota ---------------------------------------------------------------------------------------------


def add_usage(engine: sa.Engine, tenant: Tenant, bucket_id: uuid.UUID, storage_bytes: int, hours_ago: int) -> None:
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours_ago)
    with Session(engine) as session, session.begin():
        session.add(
            UsageRecord(
                account_id=tenant.account_id,
                bucket_id=bucket_id,
                metric="storage_bytes",
                quantity=Decimal(storage_bytes),
                period_start=start,
                period_end=start + timedelta(hours=1),
                source="test",
            )
        )


def test_a_never_sampled_bucket_is_measured_by_listing(api: ApiClient, acme: Tenant, db: sa.Engine, s3: Any) -> None:
    bucket_id = make_bucket(db, acme.account_id, quota_bytes=100)
    put_object(s3, db, bucket_id, "a.bin", b"x" * 60)

    assert upload_url(api, acme, bucket_id, size=40).status == 200  # 60 + 40 = the quota exactly
    body = assert_problem(upload_url(api, acme, bucket_id, size=41), 409, "quota-exceeded")
    assert "100" in body["detail"] and "40 free" in body["detail"]
    assert len(audit_rows(db, "object.upload_url")) == 1


def test_the_latest_usage_sample_counts_when_there_is_one(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    bucket_id = make_bucket(db, acme.account_id, quota_bytes=100)  # empty in the backend
    add_usage(db, acme, bucket_id, 10, hours_ago=2)
    add_usage(db, acme, bucket_id, 90, hours_ago=1)

    assert upload_url(api, acme, bucket_id, size=10).status == 200
    assert_problem(upload_url(api, acme, bucket_id, size=11), 409, "quota-exceeded")


def test_a_bucket_without_quota_takes_any_single_upload(
    api: ApiClient, acme: Tenant, bucket: uuid.UUID, db: sa.Engine
) -> None:
    add_usage(db, acme, bucket, 10**15, hours_ago=1)
    assert upload_url(api, acme, bucket, size=5 * 1024**3).status == 200


# --- listing -------------------------------------------------------------------------------------------


def test_listing_walks_pages_with_a_cursor(
    api: ApiClient, acme: Tenant, bucket: uuid.UUID, s3: Any, db: sa.Engine
) -> None:
    keys = sorted(f"logs/{n:02d}.txt" for n in range(7))
    for key in keys:
        put_object(s3, db, bucket, key, key.encode())

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        r = list_objects(api, acme, bucket, **params)
        assert r.status == 200, r
        assert len(r.json["items"]) <= 3
        seen += [item["key"] for item in r.json["items"]]
        pages += 1
        cursor = r.json["next_cursor"]
        if cursor is None:
            break
    assert seen == keys and pages == 3

    first = list_objects(api, acme, bucket, limit=50).json
    assert first["next_cursor"] is None and len(first["items"]) == 7
    item = first["items"][0]
    assert set(item) == {"key", "size", "etag", "last_modified"}
    assert item["size"] == len("logs/00.txt") and item["etag"] and not item["etag"].startswith('"')
    assert datetime.fromisoformat(item["last_modified"]).tzinfo is not None


def test_listing_with_prefix_and_delimiter(
    api: ApiClient, acme: Tenant, bucket: uuid.UUID, s3: Any, db: sa.Engine
) -> None:
    for key in ("a/1.txt", "a/2.txt", "a/b/3.txt", "a/c/4.txt", "top.txt"):
        put_object(s3, db, bucket, key)

    r = list_objects(api, acme, bucket, prefix="a/", delimiter="/")
    assert r.status == 200, r
    assert [item["key"] for item in r.json["items"]] == ["a/1.txt", "a/2.txt"]
    assert r.json["common_prefixes"] == ["a/b/", "a/c/"]

    root = list_objects(api, acme, bucket, delimiter="/").json
    assert [item["key"] for item in root["items"]] == ["top.txt"] and root["common_prefixes"] == ["a/"]

    flat = list_objects(api, acme, bucket, prefix="a/").json
    assert len(flat["items"]) == 4 and flat["common_prefixes"] == []


def test_a_cursor_only_continues_its_own_listing(
    api: ApiClient, acme: Tenant, bucket: uuid.UUID, s3: Any, db: sa.Engine
) -> None:
    for n in range(3):
        put_object(s3, db, bucket, f"a/{n}")
    cursor = list_objects(api, acme, bucket, prefix="a/", limit=1).json["next_cursor"]
    assert cursor

    assert list_objects(api, acme, bucket, prefix="a/", limit=1, cursor=cursor).status == 200
    r = list_objects(api, acme, bucket, prefix="b/", limit=1, cursor=cursor)
    assert_problem(r, 422, "validation-error")
    assert error_fields(r) == ["query.cursor"]
    assert error_fields(list_objects(api, acme, bucket, cursor="garbage!")) == ["query.cursor"]


def test_listing_an_empty_bucket(api: ApiClient, acme: Tenant, bucket: uuid.UUID) -> None:
    r = list_objects(api, acme, bucket)
    assert r.status == 200 and r.json == {"items": [], "next_cursor": None, "common_prefixes": []}


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"delimiter": ""}, {"prefix": "p" * 1025}])
def test_bad_listing_parameters_are_422(
    api: ApiClient, acme: Tenant, bucket: uuid.UUID, params: dict[str, Any]
) -> None:
    assert_problem(list_objects(api, acme, bucket, **params), 422, "validation-error")


# --- delete --------------------------------------------------------------------------------------------


def test_delete_takes_tags_favorites_and_shares_along(
    api: ApiClient, acme: Tenant, bucket: uuid.UUID, s3: Any, db: sa.Engine
) -> None:
    put_object(s3, db, bucket, "doomed.txt")
    put_object(s3, db, bucket, "kept.txt")
    for key in ("doomed.txt", "kept.txt"):
        assert (
            api.put(
                bucket_path(acme, bucket, "/tags"),
                token=acme.token("owner"),
                params={"key": key},
                json={"tags": {"team": "x"}},
            ).status
            == 200
        )
        for role in ("owner", "admin"):
            assert (
                api.put(bucket_path(acme, bucket, "/favorites"), token=acme.token(role), params={"key": key}).status
                == 201
            )
    with Session(db) as session, session.begin():
        session.add(ObjectShare(bucket_id=bucket, object_key="doomed.txt", token_hash=uuid.uuid4().hex * 2))

    r = api.delete(bucket_path(acme, bucket, "/objects"), token=acme.token("admin"), params={"key": "doomed.txt"})
    assert r.status == 204 and r.text == "", r

    listed = list_objects(api, acme, bucket).json
    assert [item["key"] for item in listed["items"]] == ["kept.txt"]
    with Session(db) as session:
        assert session.scalars(sa.select(ObjectTag.object_key)).all() == ["kept.txt"]
        assert sorted(session.scalars(sa.select(ObjectFavorite.object_key))) == ["kept.txt", "kept.txt"]
        (share,) = session.scalars(sa.select(ObjectShare)).all()
        assert share.revoked_at is not None  # a later object under this key is not shared by the old link
    (entry,) = audit_rows(db, "object.delete")
    assert entry.actor_user_id == acme.members["admin"].user_id and entry.target_id == str(bucket)
    assert (
        entry.old_value is not None and entry.old_value["object_key"] == "doomed.txt" and entry.old_value["size"] == 5
    )
    assert entry.new_value == {"tags_deleted": 1, "favorites_deleted": 2, "shares_revoked": 1}

    # deleting it again: nothing there any more
    again = api.delete(bucket_path(acme, bucket, "/objects"), token=acme.token("admin"), params={"key": "doomed.txt"})
    assert_problem(again, 404, "not-found")
    assert len(audit_rows(db, "object.delete")) == 1


def test_delete_needs_a_key(api: ApiClient, acme: Tenant, bucket: uuid.UUID) -> None:
    r = api.delete(bucket_path(acme, bucket, "/objects"), token=acme.token("owner"))
    assert_problem(r, 422, "validation-error")
    assert error_fields(r) == ["query.key"]


# --- suspension ----------------------------------------------------------------------------------------


def test_a_suspended_account_downloads_but_does_not_upload(
    api: ApiClient, acme: Tenant, bucket: uuid.UUID, s3: Any, db: sa.Engine
) -> None:
    put_object(s3, db, bucket, "invoice.pdf", b"%PDF")
    suspend(db, acme)

    assert_problem(upload_url(api, acme, bucket), 403, "account-suspended")
    assert_problem(
        api.delete(bucket_path(acme, bucket, "/objects"), token=acme.token("owner"), params={"key": "invoice.pdf"}),
        403,
        "account-suspended",
    )
    assert list_objects(api, acme, bucket).status == 200
    r = download_url(api, acme, bucket, "invoice.pdf")
    assert r.status == 200, r
    assert requests.get(r.json["url"], timeout=10).content == b"%PDF"


# --- tenancy and isolation -----------------------------------------------------------------------------


def test_another_tenants_bucket_is_404(
    api: ApiClient, acme: Tenant, globex: Tenant, *, bucket: uuid.UUID, s3: Any, db: sa.Engine
) -> None:
    put_object(s3, db, bucket, "secret.txt")
    other = globex.token("owner")
    # through Globex's own account, naming Acme's bucket
    for r in (
        api.get(bucket_path(globex, bucket, "/objects"), token=other),
        api.post(bucket_path(globex, bucket, "/objects/download-url"), token=other, json={"key": "secret.txt"}),
        api.post(bucket_path(globex, bucket, "/objects/upload-url"), token=other, json={"key": "x", "size": 1}),
        api.delete(bucket_path(globex, bucket, "/objects"), token=other, params={"key": "secret.txt"}),
        # through Acme's account, which Globex's owner is no member of
        api.get(bucket_path(acme, bucket, "/objects"), token=other),
        api.post(bucket_path(acme, bucket, "/objects/download-url"), token=other, json={"key": "secret.txt"}),
    ):
        assert_problem(r, 404, "not-found")
    assert_problem(list_objects(api, acme, uuid.uuid4()), 404, "not-found")


def test_a_key_in_another_bucket_is_not_reachable(
    api: ApiClient, acme: Tenant, bucket: uuid.UUID, s3: Any, db: sa.Engine
) -> None:
    other_bucket = make_bucket(db, acme.account_id)
    put_object(s3, db, bucket, "only-here.txt")

    assert_problem(download_url(api, acme, other_bucket, "only-here.txt"), 404, "not-found")
    assert list_objects(api, acme, other_bucket).json["items"] == []
    delete = api.delete(
        bucket_path(acme, other_bucket, "/objects"), token=acme.token("owner"), params={"key": "only-here.txt"}
    )
    assert_problem(delete, 404, "not-found")
    assert [item["key"] for item in list_objects(api, acme, bucket).json["items"]] == ["only-here.txt"]


def test_a_deleted_bucket_is_404(api: ApiClient, acme: Tenant, bucket: uuid.UUID, db: sa.Engine) -> None:
    with Session(db) as session, session.begin():
        session.get_one(Bucket, bucket).deleted_at = datetime.now(UTC)
    assert_problem(list_objects(api, acme, bucket), 404, "not-found")
    assert_problem(upload_url(api, acme, bucket), 404, "not-found")


def test_api_key_scopes_bound_object_access(api: ApiClient, acme: Tenant, bucket: uuid.UUID, db: sa.Engine) -> None:
    with Session(db) as session, session.begin():
        account = session.get_one(Account, acme.account_id)
        reader, _ = make_api_key(session, account, acme.members["owner"].user_id, ["objects:read"])
        writer, _ = make_api_key(session, account, acme.members["owner"].user_id, ["objects:write"])
    path = bucket_path(acme, bucket, "/objects")
    payload = {"key": "k", "size": 1}
    assert api.get(path, token=reader).status == 200
    assert_problem(api.post(path + "/upload-url", token=reader, json=payload), 403, "forbidden")
    assert api.post(path + "/upload-url", token=writer, json=payload).status == 200
    assert_problem(api.get(path, token=writer), 403, "forbidden")
