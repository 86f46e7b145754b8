"""AwsTenantCredentials against moto in server mode: IAM users, keys, policies and CloudWatch metrics.

moto does not evaluate IAM policies unless asked; one test switches its request authentication
on (``/moto-api/reset-auth``) to prove a created key really works in its bucket and nowhere else.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from primecloud.adapters.storage import BucketMetrics, CredentialNotFound
from primecloud.adapters.tenant_aws import AwsTenantCredentials, TooManyBuckets, names_in_document
from primecloud.errors import Unavailable


@pytest.fixture
def iam(aws_server: dict[str, str]) -> Any:
    return boto3.client("iam", endpoint_url=aws_server["AWS_ENDPOINT_URL"])


@pytest.fixture
def s3(aws_server: dict[str, str]) -> Any:
    return boto3.client(
        "s3", endpoint_url=aws_server["AWS_ENDPOINT_URL"], config=Config(s3={"addressing_style": "path"})
    )


@pytest.fixture
def tenants(aws_server: dict[str, str]) -> AwsTenantCredentials:
    return AwsTenantCredentials(region="us-east-1")


@pytest.fixture
def account_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def two_buckets(s3: Any) -> Iterator[tuple[str, str]]:
    names = (f"pc-allowed-{uuid.uuid4().hex[:8]}", f"pc-other-{uuid.uuid4().hex[:8]}")
    for name in names:
        s3.create_bucket(Bucket=name)
    yield names
    for name in names:
        for item in s3.list_objects_v2(Bucket=name).get("Contents", []):
            s3.delete_object(Bucket=name, Key=item["Key"])
        s3.delete_bucket(Bucket=name)


def _user_of(iam: Any, access_key_id: str) -> str:
    return str(iam.get_access_key_last_used(AccessKeyId=access_key_id)["UserName"])


def _policy_document(iam: Any, user_name: str) -> dict[str, Any]:
    (attached,) = iam.list_attached_user_policies(UserName=user_name)["AttachedPolicies"]
    policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
    version = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"])
    document = version["PolicyVersion"]["Document"]
    parsed: dict[str, Any] = json.loads(document) if isinstance(document, str) else document
    return parsed


def _resources(document: dict[str, Any]) -> list[str]:
    return sorted(resource for statement in document["Statement"] for resource in statement["Resource"])


def test_create_credential_makes_a_user_with_one_key_and_a_policy_for_its_buckets(
    tenants: AwsTenantCredentials, iam: Any, account_id: str, two_buckets: tuple[str, str]
) -> None:
    allowed, _ = two_buckets
    credential = tenants.create_credential(account_id, "CI deploy key", [allowed])

    user_name = _user_of(iam, credential.access_key_id)
    user = iam.get_user(UserName=user_name)["User"]
    assert user["Path"] == f"/primecloud/{account_id}/"
    tags = {tag["Key"]: tag["Value"] for tag in iam.list_user_tags(UserName=user_name)["Tags"]}
    assert tags == {"primecloud:account": account_id, "primecloud:name": "CI deploy key"}
    keys = iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"]
    assert [(key["AccessKeyId"], key["Status"]) for key in keys] == [(credential.access_key_id, "Active")]
    assert len(credential.secret_access_key) == 40 and credential.secret_access_key not in repr(credential)

    document = _policy_document(iam, user_name)
    assert _resources(document) == [f"arn:aws:s3:::{allowed}", f"arn:aws:s3:::{allowed}/*"]
    (statement,) = document["Statement"]
    assert statement["Effect"] == "Allow"
    assert {"s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:DeleteObject"} <= set(statement["Action"])
    assert "s3:ListAllMyBuckets" not in statement["Action"] and "s3:*" not in statement["Action"]
    assert iam.list_user_policies(UserName=user_name)["PolicyNames"] == []  # no inline policy


def test_a_created_key_works_in_its_bucket_and_nowhere_else(
    tenants: AwsTenantCredentials, account_id: str, two_buckets: tuple[str, str], aws_server: dict[str, str]
) -> None:
    allowed, other = two_buckets
    credential = tenants.create_credential(account_id, "scoped", [allowed])
    tenant_s3 = boto3.client(
        "s3",
        endpoint_url=aws_server["AWS_ENDPOINT_URL"],
        aws_access_key_id=credential.access_key_id,
        aws_secret_access_key=credential.secret_access_key,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    reset_auth = aws_server["AWS_ENDPOINT_URL"] + "/moto-api/reset-auth"
    requests.post(reset_auth, data=b"0", timeout=5).raise_for_status()  # moto now checks signatures and IAM
    try:
        tenant_s3.put_object(Bucket=allowed, Key="hello.txt", Body=b"hi")
        assert tenant_s3.get_object(Bucket=allowed, Key="hello.txt")["Body"].read() == b"hi"
        assert [item["Key"] for item in tenant_s3.list_objects_v2(Bucket=allowed)["Contents"]] == ["hello.txt"]
        with pytest.raises(ClientError) as denied:
            tenant_s3.put_object(Bucket=other, Key="hello.txt", Body=b"hi")
        assert denied.value.response["Error"]["Code"] == "AccessDenied"
        with pytest.raises(ClientError) as listing:
            tenant_s3.list_buckets()
        assert listing.value.response["Error"]["Code"] == "AccessDenied"
    finally:
        requests.post(reset_auth, data=b"inf", timeout=5).raise_for_status()


def test_update_policy_replaces_the_bucket_list_and_keeps_at_most_five_versions(
    tenants: AwsTenantCredentials, iam: Any, account_id: str, two_buckets: tuple[str, str]
) -> None:
    allowed, other = two_buckets
    credential = tenants.create_credential(account_id, "key", [allowed])
    user_name = _user_of(iam, credential.access_key_id)

    for _ in range(6):
        tenants.update_policy(credential.access_key_id, [allowed, other])

    assert _resources(_policy_document(iam, user_name)) == sorted(
        [f"arn:aws:s3:::{allowed}", f"arn:aws:s3:::{allowed}/*", f"arn:aws:s3:::{other}", f"arn:aws:s3:::{other}/*"]
    )
    (attached,) = iam.list_attached_user_policies(UserName=user_name)["AttachedPolicies"]
    assert len(iam.list_policy_versions(PolicyArn=attached["PolicyArn"])["Versions"]) <= 5


def test_a_key_for_an_account_without_buckets_may_do_nothing(
    tenants: AwsTenantCredentials, iam: Any, account_id: str
) -> None:
    credential = tenants.create_credential(account_id, "empty", [])
    document = _policy_document(iam, _user_of(iam, credential.access_key_id))
    assert [statement["Effect"] for statement in document["Statement"]] == ["Deny"]


def test_disable_and_enable_switch_the_key_status(
    tenants: AwsTenantCredentials, iam: Any, account_id: str, two_buckets: tuple[str, str]
) -> None:
    credential = tenants.create_credential(account_id, "key", [two_buckets[0]])
    user_name = _user_of(iam, credential.access_key_id)

    tenants.disable(credential.access_key_id)
    assert iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"][0]["Status"] == "Inactive"
    tenants.enable(credential.access_key_id)
    assert iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"][0]["Status"] == "Active"


def test_delete_removes_keys_policy_and_user_and_is_idempotent(
    tenants: AwsTenantCredentials, iam: Any, account_id: str, two_buckets: tuple[str, str]
) -> None:
    credential = tenants.create_credential(account_id, "key", [two_buckets[0]])
    user_name = _user_of(iam, credential.access_key_id)
    (attached,) = iam.list_attached_user_policies(UserName=user_name)["AttachedPolicies"]
    tenants.update_policy(credential.access_key_id, list(two_buckets))  # a second policy version to clean up

    tenants.delete(credential.access_key_id)
    tenants.delete(credential.access_key_id)

    lookups: tuple[Callable[[], object], ...] = (
        lambda: iam.get_user(UserName=user_name),
        lambda: iam.get_policy(PolicyArn=attached["PolicyArn"]),
        lambda: iam.get_access_key_last_used(AccessKeyId=credential.access_key_id),
    )
    for call in lookups:
        with pytest.raises(ClientError) as missing:
            call()
        assert missing.value.response["Error"]["Code"] == "NoSuchEntity"
    with pytest.raises(CredentialNotFound):
        tenants.disable(credential.access_key_id)
    with pytest.raises(CredentialNotFound):
        tenants.update_policy(credential.access_key_id, [])


def test_more_buckets_than_the_key_may_hold_policies_for_are_refused_before_anything_is_created(
    tenants: AwsTenantCredentials, iam: Any, account_id: str
) -> None:
    path = f"/primecloud/{account_id}/"
    with pytest.raises(TooManyBuckets, match="10 IAM policies of 6,144 characters"):
        tenants.create_credential(account_id, "huge", [f"bucket-{index:03d}-{'x' * 52}" for index in range(400)])
    assert iam.list_users(PathPrefix=path)["Users"] == []
    assert iam.list_policies(Scope="Local", PathPrefix=path)["Policies"] == []


def _granted(iam: Any, user_name: str) -> dict[str, list[str]]:
    """Policy name -> the bucket names its default version grants."""
    granted = {}
    for attached in iam.list_attached_user_policies(UserName=user_name)["AttachedPolicies"]:
        policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
        version = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"])
        granted[attached["PolicyName"]] = sorted(names_in_document(version["PolicyVersion"]["Document"]))
    return granted


def test_a_long_bucket_list_spreads_over_several_policies_and_each_change_keeps_the_others_in_place(
    tenants: AwsTenantCredentials, iam: Any, account_id: str
) -> None:
    names = [f"bucket-{index:03d}-{'x' * 52}" for index in range(60)]
    credential = tenants.create_credential(account_id, "many", names)
    user_name = _user_of(iam, credential.access_key_id)
    before = _granted(iam, user_name)
    assert sorted(before) == [f"{user_name}-buckets", f"{user_name}-buckets-2"]
    assert sorted(name for granted in before.values() for name in granted) == names

    # one goes: only the policy naming it changes; one comes: it joins a policy with room
    gone, new = names[3], f"bucket-new-{'y' * 52}"
    tenants.update_policy(credential.access_key_id, [*(name for name in names if name != gone), new])
    after = _granted(iam, user_name)
    assert sorted(name for granted in after.values() for name in granted) == sorted(
        [*(name for name in names if name != gone), new]
    )
    for policy_name, granted in before.items():
        assert set(granted) - {gone} <= set(after[policy_name])  # nothing that stays moved

    # back to a short list: the emptied policy is removed; to none: one deny-all policy is left
    tenants.update_policy(credential.access_key_id, names[:2])
    assert sorted(name for granted in _granted(iam, user_name).values() for name in granted) == names[:2]
    assert len(_granted(iam, user_name)) == 1
    tenants.update_policy(credential.access_key_id, [])
    (document,) = [_policy_document(iam, user_name)]
    assert [statement["Effect"] for statement in document["Statement"]] == ["Deny"]


def test_a_list_beyond_the_policy_quota_leaves_the_policies_alone(
    tenants: AwsTenantCredentials, iam: Any, account_id: str
) -> None:
    credential = tenants.create_credential(account_id, "key", ["bucket-a"])
    user_name = _user_of(iam, credential.access_key_id)
    with pytest.raises(TooManyBuckets):
        tenants.update_policy(credential.access_key_id, [f"bucket-{index:03d}-{'x' * 52}" for index in range(400)])
    assert _granted(iam, user_name) == {f"{user_name}-buckets": ["bucket-a"]}


def test_a_failed_key_creation_removes_the_user_and_policy(
    tenants: AwsTenantCredentials, iam: Any, account_id: str
) -> None:
    class NoKeys:
        def __init__(self, client: Any) -> None:
            self._client = client

        def __getattr__(self, name: str) -> Any:
            if name == "create_access_key":

                def fail(**kwargs: Any) -> None:
                    raise ClientError({"Error": {"Code": "LimitExceeded", "Message": "too many"}}, name)

                return fail
            return getattr(self._client, name)

    tenants._iam = NoKeys(iam)
    with pytest.raises(Unavailable) as raised:
        tenants.create_credential(account_id, "doomed", ["bkt"])
    assert raised.value.detail == "IAM failed CreateAccessKey (LimitExceeded)."
    path = f"/primecloud/{account_id}/"
    assert iam.list_users(PathPrefix=path)["Users"] == []
    assert iam.list_policies(Scope="Local", PathPrefix=path)["Policies"] == []


def test_unreachable_iam_is_unavailable(account_id: str) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = AwsTenantCredentials(
        timeout_seconds=1, iam_client=boto3.client("iam", endpoint_url=f"http://127.0.0.1:{port}")
    )
    with pytest.raises(Unavailable) as raised:
        down.disable("AKIAEXAMPLE000000000")
    assert raised.value.detail == "IAM is unreachable (GetAccessKeyLastUsed)."


# --------------------------------------------------------------------------- CloudWatch metrics


def test_bucket_metrics_read_daily_storage_and_request_metrics_from_cloudwatch(
    aws_server: dict[str, str], tenants: AwsTenantCredentials
) -> None:
    cloudwatch = boto3.client("cloudwatch", endpoint_url=aws_server["AWS_ENDPOINT_URL"])
    measured, quiet = f"pc-metrics-{uuid.uuid4().hex[:8]}", f"pc-quiet-{uuid.uuid4().hex[:8]}"
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(hours=1)

    def datum(metric: str, value: float, at: datetime, **dimensions: str) -> dict[str, Any]:
        return {
            "MetricName": metric,
            "Dimensions": [{"Name": "BucketName", "Value": measured}]
            + [{"Name": name, "Value": item} for name, item in dimensions.items()],
            "Timestamp": at,
            "Value": value,
        }

    cloudwatch.put_metric_data(
        Namespace="AWS/S3",
        MetricData=[
            # daily storage: yesterday's and today's value per storage class; the latest counts
            datum("BucketSizeBytes", 1_000, end - timedelta(hours=30), StorageType="StandardStorage"),
            datum("BucketSizeBytes", 5_000, end - timedelta(hours=3), StorageType="StandardStorage"),
            datum("BucketSizeBytes", 700, end - timedelta(hours=3), StorageType="StandardIAStorage"),
            datum("NumberOfObjects", 42, end - timedelta(hours=3), StorageType="AllStorageTypes"),
            # request metrics (EntireBucket filter): two inside the window, one before it
            datum("BytesDownloaded", 300, end - timedelta(minutes=20), FilterId="EntireBucket"),
            datum("BytesDownloaded", 200, end - timedelta(minutes=40), FilterId="EntireBucket"),
            datum("BytesDownloaded", 9_999, end - timedelta(hours=3), FilterId="EntireBucket"),
            datum("BytesUploaded", 50, end - timedelta(minutes=10), FilterId="EntireBucket"),
            datum("AllRequests", 7, end - timedelta(minutes=10), FilterId="EntireBucket"),
        ],
    )

    metrics = tenants.bucket_metrics_many([measured, quiet], start, end)

    assert metrics[measured].storage_bytes == 5_000 + 700
    assert metrics[measured].object_count == 42
    measured_at = metrics[measured].storage_measured_at
    assert measured_at is not None
    assert measured_at <= end
    assert (metrics[measured].egress_bytes, metrics[measured].ingress_bytes, metrics[measured].requests) == (
        500,
        50,
        7,
    )
    assert metrics[measured].traffic_mode == "window"
    assert metrics[quiet] == BucketMetrics(
        bucket=quiet,
        storage_bytes=None,
        object_count=None,
        storage_measured_at=None,
        egress_bytes=None,
        ingress_bytes=None,
        requests=None,
        traffic_mode="window",
    )
    assert tenants.bucket_metrics(measured, start, end) == metrics[measured]
