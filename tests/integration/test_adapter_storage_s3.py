"""S3ObjectStorage against moto in server mode (real HTTP, so presigned URLs are really used)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from primecloud.adapters import storage_s3
from primecloud.adapters.storage import (
    BucketAlreadyExists,
    BucketNotEmpty,
    BucketNotFound,
    LifecycleRule,
    ObjectNotFound,
)
from primecloud.adapters.storage_s3 import S3ObjectStorage
from primecloud.errors import Invalid, Unavailable
from tests.unit.test_adapter_sigv4 import presigned_url_accepts


@pytest.fixture
def s3(aws_server: dict[str, str]) -> Any:
    """A plain boto3 client to arrange and inspect what the adapter did."""
    return boto3.client(
        "s3", endpoint_url=aws_server["AWS_ENDPOINT_URL"], config=Config(s3={"addressing_style": "path"})
    )


@pytest.fixture
def storage(aws_server: dict[str, str]) -> S3ObjectStorage:
    return S3ObjectStorage(endpoint_url=aws_server["AWS_ENDPOINT_URL"], region="us-east-1")


@pytest.fixture
def bucket_name() -> str:
    return f"pc-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def bucket(storage: S3ObjectStorage, bucket_name: str) -> Iterator[str]:
    storage.create_bucket(bucket_name)
    yield bucket_name
    if storage.bucket_exists(bucket_name):
        storage.delete_bucket(bucket_name, force=True)


class FailingClient:
    """The real client, except that one operation fails the way S3 fails."""

    def __init__(self, client: Any, operation: str, code: str = "InternalError") -> None:
        self._client = client
        self._operation = operation
        self._code = code

    def __getattr__(self, name: str) -> Any:
        if name == self._operation:

            def fail(**kwargs: Any) -> None:
                raise ClientError({"Error": {"Code": self._code, "Message": "boom"}}, name)

            return fail
        return getattr(self._client, name)


# --------------------------------------------------------------------------- buckets


def test_create_bucket_applies_versioning_lifecycle_and_tags(
    storage: S3ObjectStorage, s3: Any, bucket_name: str
) -> None:
    rules = [
        {"id": "tmp", "prefix": "tmp/", "expire_days": 7, "abort_multipart_days": 2},
        {"id": "old-versions", "noncurrent_expire_days": 30, "enabled": False},
    ]
    storage.create_bucket(bucket_name, versioning=True, lifecycle_rules=rules, tags={"account": "acct-1"})
    try:
        assert s3.get_bucket_versioning(Bucket=bucket_name)["Status"] == "Enabled"
        lifecycle = sorted(s3.get_bucket_lifecycle_configuration(Bucket=bucket_name)["Rules"], key=lambda r: r["ID"])
        assert lifecycle == [
            {
                "ID": "old-versions",
                "Filter": {"Prefix": ""},
                "Status": "Disabled",
                "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
            },
            {
                "ID": "tmp",
                "Filter": {"Prefix": "tmp/"},
                "Status": "Enabled",
                "Expiration": {"Days": 7},
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2},
            },
        ]
        assert s3.get_bucket_tagging(Bucket=bucket_name)["TagSet"] == [{"Key": "account", "Value": "acct-1"}]
    finally:
        storage.delete_bucket(bucket_name, force=True)


def test_an_existing_bucket_name_is_a_conflict_and_the_bucket_is_left_alone(
    storage: S3ObjectStorage, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="keep.txt", Body=b"mine")
    with pytest.raises(BucketAlreadyExists) as raised:
        storage.create_bucket(bucket, versioning=True)
    assert raised.value.status == 409
    assert s3.get_object(Bucket=bucket, Key="keep.txt")["Body"].read() == b"mine"
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)


@pytest.mark.parametrize("name", ["ab", "UpperCase", "has_underscore", "192.168.1.10", "a..b", "-start", "xn--abc"])
def test_invalid_bucket_names_are_refused_before_the_backend_is_asked(
    storage: S3ObjectStorage, s3: Any, name: str
) -> None:
    with pytest.raises(Invalid):
        storage.create_bucket(name)
    assert name not in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def test_invalid_lifecycle_rules_are_refused_before_anything_is_created(
    storage: S3ObjectStorage, s3: Any, bucket_name: str
) -> None:
    with pytest.raises(Invalid):
        storage.create_bucket(bucket_name, lifecycle_rules=[{"id": "nothing-to-do"}])
    with pytest.raises(Invalid):
        storage.create_bucket(bucket_name, lifecycle_rules=[{"id": "x", "expire_days": 0}])
    with pytest.raises(Invalid):
        storage.create_bucket(bucket_name, lifecycle_rules=[{"id": "x", "expire_days": 1, "transition": 3}])
    assert not storage.bucket_exists(bucket_name)


def test_a_bucket_whose_configuration_fails_is_removed_again(
    storage: S3ObjectStorage, s3: Any, bucket_name: str
) -> None:
    storage._client = FailingClient(storage.client, "put_bucket_lifecycle_configuration")
    with pytest.raises(Unavailable) as raised:
        storage.create_bucket(bucket_name, versioning=True, lifecycle_rules=[{"id": "x", "expire_days": 3}])
    assert "PutBucketLifecycleConfiguration" in raised.value.detail and "InternalError" in raised.value.detail
    assert bucket_name not in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def test_set_lifecycle_replaces_and_an_empty_list_removes_the_rules(
    storage: S3ObjectStorage, s3: Any, bucket: str
) -> None:
    storage.set_lifecycle(bucket, [LifecycleRule(id="a", expire_days=5)])
    assert [rule["ID"] for rule in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]] == ["a"]
    storage.set_lifecycle(bucket, [])
    with pytest.raises(ClientError) as raised:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert raised.value.response["Error"]["Code"] == "NoSuchLifecycleConfiguration"


def test_versioning_can_be_enabled_and_suspended(storage: S3ObjectStorage, s3: Any, bucket: str) -> None:
    storage.set_versioning(bucket, True)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    storage.set_versioning(bucket, False)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"


def test_bucket_exists(storage: S3ObjectStorage, bucket: str, bucket_name: str) -> None:
    assert storage.bucket_exists(bucket)
    assert not storage.bucket_exists(bucket_name + "-x")


def test_deleting_a_non_empty_bucket_needs_force(storage: S3ObjectStorage, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="a.txt", Body=b"a")
    with pytest.raises(BucketNotEmpty):
        storage.delete_bucket(bucket)
    assert storage.delete_bucket(bucket, force=True) == 1
    assert not storage.bucket_exists(bucket)
    with pytest.raises(BucketNotFound):
        storage.delete_bucket(bucket)


def test_force_delete_removes_every_version_and_delete_marker_in_batches(
    storage: S3ObjectStorage, s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage_s3, "DELETE_BATCH", 3)
    storage.set_versioning(bucket, True)
    for key in ("a", "b", "c", "d"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"1")
        s3.put_object(Bucket=bucket, Key=key, Body=b"22")
    s3.delete_object(Bucket=bucket, Key="a")  # a delete marker
    s3.create_multipart_upload(Bucket=bucket, Key="unfinished")
    batches: list[int] = []
    real_delete = storage.client.delete_objects

    def counting_delete(**kwargs: Any) -> Any:
        batches.append(len(kwargs["Delete"]["Objects"]))
        return real_delete(**kwargs)

    monkeypatch.setattr(storage.client, "delete_objects", counting_delete)

    assert storage.delete_bucket(bucket, force=True) == 9  # 8 versions + 1 delete marker
    assert max(batches) <= 3 and sum(batches) == 9
    assert not storage.bucket_exists(bucket)


def test_empty_bucket_stops_after_max_versions_and_a_rerun_continues(
    storage: S3ObjectStorage, s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage_s3, "DELETE_BATCH", 2)
    for index in range(5):
        s3.put_object(Bucket=bucket, Key=f"k{index}", Body=b"x")
    s3.create_multipart_upload(Bucket=bucket, Key="unfinished")
    assert storage.empty_bucket(bucket, max_versions=2) == 2
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 3
    assert len(s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])) == 1  # only once the bucket is empty
    assert storage.empty_bucket(bucket) == 3
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_emptying_stops_when_the_backend_keeps_versions_it_claims_to_delete(
    storage: S3ObjectStorage, s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3.put_object(Bucket=bucket, Key="locked", Body=b"x")
    monkeypatch.setattr(storage.client, "delete_objects", lambda **kwargs: {})  # "deleted", yet still there
    with pytest.raises(Unavailable) as raised:
        storage.empty_bucket(bucket)
    assert "kept object versions" in raised.value.detail


# --------------------------------------------------------------------------- objects


def test_list_objects_pages_with_prefix_and_delimiter(storage: S3ObjectStorage, s3: Any, bucket: str) -> None:
    for key in ("a/1.txt", "a/2.txt", "a/sub/3.txt", "b/1.txt", "top.txt"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())

    root = storage.list_objects(bucket, delimiter="/")
    assert [item.key for item in root.objects] == ["top.txt"]
    assert root.common_prefixes == ["a/", "b/"]
    assert root.next_token is None
    top = root.objects[0]
    assert top.size == len(b"top.txt") and top.etag == hashlib.md5(b"top.txt").hexdigest()  # noqa: S324
    assert top.last_modified.tzinfo is not None and top.last_modified.utcoffset() == timedelta(0)

    keys: list[str] = []
    token = None
    pages = 0
    while True:
        page = storage.list_objects(bucket, prefix="a/", max_keys=2, continuation_token=token)
        keys += [item.key for item in page.objects]
        pages += 1
        token = page.next_token
        if token is None:
            break
    assert keys == ["a/1.txt", "a/2.txt", "a/sub/3.txt"] and pages == 2

    with pytest.raises(Invalid):
        storage.list_objects(bucket, max_keys=1001)


def test_missing_buckets_and_objects_are_not_found(storage: S3ObjectStorage, bucket: str, bucket_name: str) -> None:
    with pytest.raises(BucketNotFound) as raised:
        storage.list_objects(bucket_name + "-missing")
    assert raised.value.status == 404
    with pytest.raises(ObjectNotFound):
        storage.head_object(bucket, "nope.txt")
    with pytest.raises(ObjectNotFound):
        storage.get_object_tags(bucket, "nope.txt")


def test_delete_object_removes_it_and_an_absent_key_is_fine(storage: S3ObjectStorage, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="gone.txt", Body=b"x")
    storage.delete_object(bucket, "gone.txt")
    storage.delete_object(bucket, "gone.txt")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_object_tags_round_trip_and_an_empty_set_removes_them(storage: S3ObjectStorage, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="doc.pdf", Body=b"%PDF")
    storage.put_object_tags(bucket, "doc.pdf", {"project": "apollo", "owner": "ops"})
    assert storage.get_object_tags(bucket, "doc.pdf") == {"project": "apollo", "owner": "ops"}
    assert {t["Key"] for t in s3.get_object_tagging(Bucket=bucket, Key="doc.pdf")["TagSet"]} == {"project", "owner"}
    storage.put_object_tags(bucket, "doc.pdf", {})
    assert storage.get_object_tags(bucket, "doc.pdf") == {}
    with pytest.raises(Invalid):
        storage.put_object_tags(bucket, "doc.pdf", {f"k{i}": "v" for i in range(11)})
    with pytest.raises(Invalid):
        storage.put_object_tags(bucket, "doc.pdf", {"k" * 129: "v"})


# --------------------------------------------------------------------------- presigned URLs


def test_presigned_put_uploads_and_binds_size_and_content_type(storage: S3ObjectStorage, s3: Any, bucket: str) -> None:
    body = b'{"hello": "world"}'
    upload = storage.presign_put(bucket, "in/data.json", content_type="application/json", content_length=len(body))

    assert upload.method == "PUT"
    assert upload.headers == {"Content-Type": "application/json", "Content-Length": str(len(body))}
    query = parse_qs(urlsplit(upload.url).query)
    assert query["X-Amz-Expires"] == [str(storage_s3.DEFAULT_UPLOAD_URL_SECONDS)]
    assert set(query["X-Amz-SignedHeaders"][0].split(";")) == {"content-length", "content-type", "host"}
    assert upload.expires_at > datetime.now(UTC)
    # What S3/MinIO check: the signature holds for exactly the declared size and type.
    secret = "testing"
    assert presigned_url_accepts(upload.url, "PUT", upload.headers, secret)
    assert not presigned_url_accepts(upload.url, "PUT", {**upload.headers, "Content-Length": "19"}, secret)
    assert not presigned_url_accepts(upload.url, "PUT", {**upload.headers, "Content-Type": "text/html"}, secret)

    response = requests.put(upload.url, data=body, headers=upload.headers, timeout=10)
    assert response.status_code == 200
    stored = s3.get_object(Bucket=bucket, Key="in/data.json")
    assert stored["Body"].read() == body and stored["ContentType"] == "application/json"


def test_presigned_put_refuses_bad_input(storage: S3ObjectStorage, bucket: str) -> None:
    with pytest.raises(Invalid):
        storage.presign_put(bucket, "x", content_type="text/plain", content_length=-1)
    with pytest.raises(Invalid):
        storage.presign_put(bucket, "x", content_type="text/plain", content_length=6 * 1024**3)
    with pytest.raises(Invalid):
        storage.presign_put(bucket, "", content_type="text/plain", content_length=1)
    with pytest.raises(Invalid):
        storage.presign_put(bucket, "x", content_type="text/plain", content_length=1, expires_in=3601)


def test_presigned_get_downloads_as_an_attachment_with_a_short_expiry(
    storage: S3ObjectStorage, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="reports/q3.pdf", Body=b"%PDF-1.7 report")
    download = storage.presign_get(bucket, "reports/q3.pdf", filename='Bericht "Q3" ü.pdf')

    query = parse_qs(urlsplit(download.url).query)
    assert query["X-Amz-Expires"] == ["300"]
    disposition = query["response-content-disposition"][0]
    assert disposition == "attachment; filename=\"Bericht Q3 _.pdf\"; filename*=UTF-8''Bericht%20Q3%20%C3%BC.pdf"
    response = requests.get(download.url, timeout=10)
    assert response.status_code == 200 and response.content == b"%PDF-1.7 report"
    assert response.headers["Content-Disposition"] == disposition
    with pytest.raises(Invalid):
        storage.presign_get(bucket, "reports/q3.pdf", expires_in=0)


def test_presigned_urls_are_signed_for_the_public_endpoint(aws_server: dict[str, str], bucket: str) -> None:
    public = S3ObjectStorage(
        endpoint_url=aws_server["AWS_ENDPOINT_URL"],
        public_endpoint_url="https://files.primecloud.example",
        region="us-east-1",
    )
    url = public.presign_get(bucket, "a.txt").url
    assert url.startswith(f"https://files.primecloud.example/{bucket}/a.txt?")


# --------------------------------------------------------------------------- usage and failures


def test_bucket_usage_counts_bytes_of_every_version_and_current_objects(
    storage: S3ObjectStorage, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="a", Body=b"12345")
    s3.put_object(Bucket=bucket, Key="b", Body=b"123")
    usage = storage.bucket_usage(bucket)
    assert (usage.bytes, usage.objects, usage.versions) == (8, 2, 2)

    storage.set_versioning(bucket, True)
    s3.put_object(Bucket=bucket, Key="a", Body=b"1234567")  # a second version of a
    s3.delete_object(Bucket=bucket, Key="b")  # b's version stays, behind a delete marker
    usage = storage.bucket_usage(bucket)
    assert (usage.bytes, usage.objects, usage.versions) == (5 + 3 + 7, 1, 3)


def test_an_unreachable_backend_is_unavailable_and_the_message_names_the_operation(bucket: str) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = S3ObjectStorage(endpoint_url=f"http://127.0.0.1:{port}", timeout_seconds=1)
    with pytest.raises(Unavailable) as raised:
        down.list_objects(bucket)
    assert raised.value.status == 503
    assert "ListObjectsV2" in raised.value.detail
    assert "testing" not in raised.value.detail  # no credentials, ever


def test_backend_errors_become_unavailable_with_the_error_code(storage: S3ObjectStorage, bucket: str) -> None:
    storage._client = FailingClient(storage.client, "list_objects_v2", code="SlowDown")
    with pytest.raises(Unavailable) as raised:
        storage.list_objects(bucket)
    assert raised.value.detail == "The storage backend failed ListObjectsV2 (SlowDown)."
