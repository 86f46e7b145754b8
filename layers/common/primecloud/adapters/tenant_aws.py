"""Tenant credentials and bucket metrics on AWS: IAM users with access keys, CloudWatch S3 metrics.

One IAM user per tenant key (path ``/primecloud/<account id>/``, name ``pc-<random>``) with
customer-managed policies ``<user>-buckets``, ``<user>-buckets-2``, ... that together list the
allowed buckets. Managed rather than inline policies: each may be 6,144 characters instead of
2,048 in all, room for about 35 buckets with 63-character names; a user holds at most
``max_policies_per_key`` of them (IAM's default quota of 10 attached managed policies), so a key
names at most about 350 such buckets (more with shorter names). A list that does not fit is
refused with ``TooManyBuckets`` (409) before anything changes. Updates keep each remaining bucket
in the policy that already names it (a bucket never drops out of every policy on its way from one
to another); callers serialize updates per key (IAM's policy versions are list-delete-create).
Keys are found again by their access key id (``GetAccessKeyLastUsed`` names the user).

Metrics come from CloudWatch's ``AWS/S3`` namespace: ``BucketSizeBytes`` (one series per storage
class) and ``NumberOfObjects`` are published once a day; ``BytesDownloaded``, ``BytesUploaded``
and ``AllRequests`` only for buckets with a request-metrics configuration (filter id
``EntireBucket`` by default) and are ``None`` otherwise. IAM and CloudWatch clients follow the
usual boto3 configuration (``AWS_ENDPOINT_URL`` points them at moto locally).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from primecloud.adapters.storage import (
    ARN_PREFIX,
    BucketMetrics,
    Capability,
    CredentialNotFound,
    NewCredential,
    NotSupported,
    bucket_access_policy,
    compact_json,
)
from primecloud.errors import Conflict, Invalid, PrimeCloudError, Unavailable
from primecloud.observability import logger

IAM_PATH_PREFIX = "/primecloud/"
MAX_MANAGED_POLICY_CHARS = 6144
MAX_POLICY_VERSIONS = 5
MAX_POLICIES_PER_KEY = 10  # IAM's default quota of managed policies attached to one user
STORAGE_LOOKBACK = timedelta(days=2)  # daily storage metrics arrive late; look back this far
DAY_SECONDS = 86400
MAX_METRIC_QUERIES = 500  # GetMetricData's limit per call
# BucketMetrics field prefix -> S3 request metric (published only with a request-metrics configuration)
TRAFFIC_METRICS = {"egress": "BytesDownloaded", "ingress": "BytesUploaded", "requests": "AllRequests"}
_TAG_VALUE_UNSAFE = re.compile(r"[^\w .:/=+\-@]")


class TooManyBuckets(Conflict):
    title = "Too many buckets for an access key"


def pack_bucket_names(bucket_names: Sequence[str], *, max_policies: int) -> list[list[str]]:
    """The names, sorted, packed in order into as few policies of at most 6,144 characters as fit.

    ``TooManyBuckets`` (409) when they need more than ``max_policies``. An empty list is one
    policy that allows nothing.
    """
    chunks: list[list[str]] = [[]]
    for name in sorted(set(bucket_names)):
        if not _fits([*chunks[-1], name]):
            if not chunks[-1]:
                raise Invalid("The bucket name does not fit an IAM policy.")
            chunks.append([])
        chunks[-1].append(name)
    if len(chunks) > max_policies:
        raise TooManyBuckets(too_many_buckets_detail(max_policies))
    return chunks


def too_many_buckets_detail(max_policies: int) -> str:
    return (
        f"An access key's buckets must fit {max_policies} IAM policies of {MAX_MANAGED_POLICY_CHARS:,} characters"
        f" (about {max_policies * 35} buckets with 63-character names); choose fewer buckets for the key,"
        " or use keys limited to chosen buckets instead of every bucket."
    )


def _document(bucket_names: Sequence[str]) -> str:
    return compact_json(bucket_access_policy(bucket_names, arn_prefix=ARN_PREFIX))


def _fits(bucket_names: Sequence[str]) -> bool:
    return len(_document(bucket_names)) <= MAX_MANAGED_POLICY_CHARS


def names_in_document(document: Any) -> set[str]:
    """The bucket names an Allow statement of a policy document grants (as IAM returns it)."""
    if isinstance(document, str):
        document = json.loads(unquote(document))
    names: set[str] = set()
    statements = document.get("Statement", [])
    for statement in [statements] if isinstance(statements, dict) else statements:
        if statement.get("Effect") != "Allow":
            continue
        resources = statement.get("Resource", [])
        for resource in [resources] if isinstance(resources, str) else resources:
            if resource.startswith(ARN_PREFIX):
                names.add(resource[len(ARN_PREFIX) :].split("/", 1)[0])
    return names


def plan_policies(
    current: dict[str, set[str]], wanted: Sequence[str], *, room: int
) -> list[tuple[str | None, list[str]]]:
    """Which policy names which bucket: (existing ARN or None for a new policy, names), in ``current``'s order.

    A bucket that stays keeps its policy; a new one goes to the first policy with room, else to a
    new policy while ``room`` (policies the user may hold) allows; only when that fails is the
    whole list packed again. Policies left empty are omitted (one stays when nothing is wanted).
    """
    wanted_set = set(wanted)
    slots: list[tuple[str | None, list[str]]] = []
    placed: set[str] = set()
    for arn, names in current.items():
        kept = sorted((names & wanted_set) - placed)
        placed.update(kept)
        slots.append((arn, kept))
    for name in sorted(wanted_set - placed):
        slot = next((slot for slot in slots if _fits([*slot[1], name])), None)
        if slot is not None:
            slot[1].append(name)
            slot[1].sort()
        elif len([slot for slot in slots if slot[1]]) < room:
            empty = next((slot for slot in slots if not slot[1]), None)
            if empty is not None:
                empty[1].append(name)
            else:
                slots.append((None, [name]))
        else:
            packed = pack_bucket_names(wanted, max_policies=room)
            arns = list(current)
            return [(arns[index] if index < len(arns) else None, names) for index, names in enumerate(packed)]
    filled = [slot for slot in slots if slot[1]]
    return filled or slots[:1] or [(None, [])]


def _policy_name(user_name: str, number: int) -> str:
    """``<user>-buckets`` for the first policy (the name keys made before there were several), then ``-2``..."""
    return f"{user_name}-buckets" if number == 1 else f"{user_name}-buckets-{number}"


def _policy_order(arn: str) -> tuple[int, str]:
    suffix = arn.rsplit("-buckets", 1)[-1].lstrip("-")
    return (int(suffix) if suffix.isdigit() else 1, arn)


@contextmanager
def _translated(service: str, operation: str, *, missing: str | None = None) -> Iterator[None]:
    """Boto errors as domain errors; ``NoSuchEntity`` raises CredentialNotFound(missing) when given."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code"))
        if code == "NoSuchEntity" and missing is not None:
            raise CredentialNotFound(missing) from exc
        logger.warning("aws call failed", extra={"service": service, "operation": operation, "code": code})
        if code == "MalformedPolicyDocument":
            raise Invalid(f"{service} refused the policy document ({operation}).") from exc
        raise Unavailable(f"{service} failed {operation} ({code}).") from exc
    except BotoCoreError as exc:
        logger.warning("aws unreachable", extra={"service": service, "operation": operation})
        raise Unavailable(f"{service} is unreachable ({operation}).") from exc


class AwsTenantCredentials:
    """``TenantCredentials`` on AWS (IAM + CloudWatch). Bucket quotas are not an S3 feature."""

    capabilities = frozenset({Capability.USAGE_API, Capability.TRAFFIC_METRICS, Capability.REQUEST_METRICS})

    def __init__(
        self,
        *,
        region: str = "us-east-1",
        timeout_seconds: float = 5.0,
        request_metrics_filter_id: str = "EntireBucket",
        max_policies_per_key: int = MAX_POLICIES_PER_KEY,
        iam_client: Any = None,
        cloudwatch_client: Any = None,
    ) -> None:
        self.region = region
        self.timeout_seconds = timeout_seconds
        self.request_metrics_filter_id = request_metrics_filter_id
        self.max_policies_per_key = max_policies_per_key
        self._iam = iam_client
        self._cloudwatch = cloudwatch_client

    def _client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        config = Config(
            connect_timeout=self.timeout_seconds,
            read_timeout=self.timeout_seconds,
            retries={"max_attempts": 3, "mode": "standard"},
        )
        return boto3.client(service, region_name=self.region, config=config)

    @property
    def iam(self) -> Any:
        if self._iam is None:
            self._iam = self._client("iam")
        return self._iam

    @property
    def cloudwatch(self) -> Any:
        if self._cloudwatch is None:
            self._cloudwatch = self._client("cloudwatch")
        return self._cloudwatch

    # ------------------------------------------------------------------ credentials

    @staticmethod
    def policy_document(bucket_names: Sequence[str]) -> str:
        document = compact_json(bucket_access_policy(bucket_names, arn_prefix=ARN_PREFIX))
        if len(document) > MAX_MANAGED_POLICY_CHARS:
            raise Invalid("Too many buckets for one access key; select fewer buckets.")
        return document

    def create_credential(self, account_id: str, name: str, bucket_names: Sequence[str]) -> NewCredential:
        """An IAM user with policies limited to ``bucket_names`` and one access key.

        ``bucket_names`` are the key's buckets; for "all the account's buckets" pass all of them
        (and call ``update_policy`` when the account gains or loses one). A list that needs more
        than ``max_policies_per_key`` policies is ``TooManyBuckets`` before anything is created;
        if a later step fails, what was created is removed again.
        """
        chunks = pack_bucket_names(bucket_names, max_policies=self.max_policies_per_key)
        user_name = f"pc-{secrets.token_hex(8)}"
        path = f"{IAM_PATH_PREFIX}{account_id}/"
        label = _TAG_VALUE_UNSAFE.sub("_", name)[:256] or "-"
        with _translated("IAM", "CreateUser"):
            self.iam.create_user(
                UserName=user_name,
                Path=path,
                Tags=[
                    {"Key": "primecloud:account", "Value": str(account_id)},
                    {"Key": "primecloud:name", "Value": label},
                ],
            )
        try:
            for index, chunk in enumerate(chunks):
                self._add_policy(user_name, path, _policy_name(user_name, index + 1), chunk)
            with _translated("IAM", "CreateAccessKey"):
                key = self.iam.create_access_key(UserName=user_name)["AccessKey"]
        except PrimeCloudError:
            self._remove_user(user_name)
            raise
        return NewCredential(access_key_id=key["AccessKeyId"], secret_access_key=key["SecretAccessKey"])

    def _add_policy(self, user_name: str, path: str, policy_name: str, bucket_names: Sequence[str]) -> None:
        with _translated("IAM", "CreatePolicy"):
            policy_arn = self.iam.create_policy(
                PolicyName=policy_name,
                Path=path,
                PolicyDocument=_document(bucket_names),
                Description="PrimeCloud tenant key: allowed buckets",
            )["Policy"]["Arn"]
        with _translated("IAM", "AttachUserPolicy"):
            self.iam.attach_user_policy(UserName=user_name, PolicyArn=policy_arn)

    def _user_of(self, access_key_id: str) -> str:
        with _translated("IAM", "GetAccessKeyLastUsed", missing="The access key does not exist."):
            return str(self.iam.get_access_key_last_used(AccessKeyId=access_key_id)["UserName"])

    def _policy_arns(self, user_name: str) -> list[str]:
        arns: list[str] = []
        paginator = self.iam.get_paginator("list_attached_user_policies")
        with _translated("IAM", "ListAttachedUserPolicies"):
            for page in paginator.paginate(UserName=user_name):
                arns += [policy["PolicyArn"] for policy in page.get("AttachedPolicies", [])]
        return arns

    def _granted(self, policy_arn: str) -> set[str]:
        """The bucket names the policy's default version grants."""
        with _translated("IAM", "GetPolicy"):
            version_id = self.iam.get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
        with _translated("IAM", "GetPolicyVersion"):
            version = self.iam.get_policy_version(PolicyArn=policy_arn, VersionId=version_id)["PolicyVersion"]
        return names_in_document(version["Document"])

    def update_policy(self, access_key_id: str, bucket_names: Sequence[str]) -> None:
        """Make the key's policies name exactly ``bucket_names``; ``TooManyBuckets`` if they cannot.

        Not safe to run concurrently for one key (IAM keeps 5 versions per policy: list, delete
        the oldest, create): the caller serializes per key. A key with one policy whose new list
        fits one policy is rewritten in place; otherwise each policy is read and only the
        policies whose names change are written, new policies first, emptied ones removed last.
        """
        wanted = sorted(set(bucket_names))
        user_name = self._user_of(access_key_id)
        attached = self._policy_arns(user_name)
        own = sorted((arn for arn in attached if f":policy{IAM_PATH_PREFIX}" in arn), key=_policy_order)
        if not own:
            raise CredentialNotFound("The access key has no PrimeCloud policy.")
        room = self.max_policies_per_key - (len(attached) - len(own))
        if len(own) == 1 and _fits(wanted):
            self._set_document(own[0], wanted)
            return
        current = {arn: self._granted(arn) for arn in own}
        plan = plan_policies(current, wanted, room=room)
        path = own[0].split(":policy", 1)[1].rsplit("/", 1)[0] + "/"
        taken = {arn.rsplit("/", 1)[1] for arn in own}
        for arn, names in plan:
            if arn is None:
                policy_name = next(
                    _policy_name(user_name, number)
                    for number in range(1, len(own) + len(plan) + 2)
                    if _policy_name(user_name, number) not in taken
                )
                taken.add(policy_name)
                self._add_policy(user_name, path, policy_name, names)
        for arn, names in plan:
            if arn is not None and set(names) != current[arn]:
                self._set_document(arn, names)
        kept = {arn for arn, _ in plan}
        for arn in own:
            if arn not in kept:
                with _translated("IAM", "DeletePolicy"):
                    self._delete_policy(user_name, arn)

    def _set_document(self, policy_arn: str, bucket_names: Sequence[str]) -> None:
        """A new default version naming ``bucket_names`` (the oldest version is dropped at 5)."""
        document = _document(bucket_names)
        with _translated("IAM", "ListPolicyVersions"):
            versions = self.iam.list_policy_versions(PolicyArn=policy_arn)["Versions"]
        if len(versions) >= MAX_POLICY_VERSIONS:
            oldest = min((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
            with _translated("IAM", "DeletePolicyVersion"):
                self.iam.delete_policy_version(PolicyArn=policy_arn, VersionId=oldest["VersionId"])
        with _translated("IAM", "CreatePolicyVersion"):
            self.iam.create_policy_version(PolicyArn=policy_arn, PolicyDocument=document, SetAsDefault=True)

    def _set_status(self, access_key_id: str, status: str) -> None:
        user_name = self._user_of(access_key_id)
        with _translated("IAM", "UpdateAccessKey"):
            self.iam.update_access_key(UserName=user_name, AccessKeyId=access_key_id, Status=status)

    def disable(self, access_key_id: str) -> None:
        self._set_status(access_key_id, "Inactive")

    def enable(self, access_key_id: str) -> None:
        self._set_status(access_key_id, "Active")

    def delete(self, access_key_id: str) -> None:
        """Remove the keys, the policy and the user; a key that is already gone is not an error."""
        try:
            user_name = self._user_of(access_key_id)
        except CredentialNotFound:
            return
        self._remove_user(user_name)

    def _remove_user(self, user_name: str) -> None:
        """Keys, then policies, then the user; a part that is already gone is skipped."""
        steps: list[tuple[str, Callable[[], None]]] = [
            ("DeleteAccessKey", lambda: self._delete_access_keys(user_name)),
            ("DeletePolicy", lambda: self._delete_policies(user_name)),
            ("DeleteUserPolicy", lambda: self._delete_inline_policies(user_name)),
            ("DeleteUser", lambda: self.iam.delete_user(UserName=user_name)),
        ]
        for operation, step in steps:
            try:
                with _translated("IAM", operation, missing=user_name):
                    step()
            except CredentialNotFound:
                continue

    def _delete_access_keys(self, user_name: str) -> None:
        for key in self.iam.list_access_keys(UserName=user_name).get("AccessKeyMetadata", []):
            self.iam.delete_access_key(UserName=user_name, AccessKeyId=key["AccessKeyId"])

    def _delete_policies(self, user_name: str) -> None:
        for page in self.iam.get_paginator("list_attached_user_policies").paginate(UserName=user_name):
            for policy in page.get("AttachedPolicies", []):
                self._delete_policy(user_name, policy["PolicyArn"])

    def _delete_policy(self, user_name: str, arn: str) -> None:
        self.iam.detach_user_policy(UserName=user_name, PolicyArn=arn)
        if f":policy{IAM_PATH_PREFIX}" not in arn:
            return  # never delete a policy this adapter did not create
        for version in self.iam.list_policy_versions(PolicyArn=arn)["Versions"]:
            if not version["IsDefaultVersion"]:
                self.iam.delete_policy_version(PolicyArn=arn, VersionId=version["VersionId"])
        self.iam.delete_policy(PolicyArn=arn)

    def _delete_inline_policies(self, user_name: str) -> None:
        for policy_name in self.iam.list_user_policies(UserName=user_name).get("PolicyNames", []):
            self.iam.delete_user_policy(UserName=user_name, PolicyName=policy_name)

    def set_bucket_quota(self, bucket: str, quota_bytes: int | None) -> None:
        raise NotSupported("Amazon S3 has no bucket quotas; enforce the quota in PrimeCloud instead.")

    # ------------------------------------------------------------------ metrics

    def _storage_types(self) -> dict[str, list[str]]:
        """Which storage classes each bucket has a BucketSizeBytes series for (one ListMetrics walk)."""
        types: dict[str, set[str]] = {}
        paginator = self.cloudwatch.get_paginator("list_metrics")
        with _translated("CloudWatch", "ListMetrics"):
            for page in paginator.paginate(Namespace="AWS/S3", MetricName="BucketSizeBytes"):
                for metric in page.get("Metrics", []):
                    dimensions = {item["Name"]: item["Value"] for item in metric.get("Dimensions", [])}
                    if "BucketName" in dimensions and "StorageType" in dimensions:
                        types.setdefault(dimensions["BucketName"], set()).add(dimensions["StorageType"])
        return {bucket: sorted(names) for bucket, names in types.items()}

    def _metric_data(
        self, queries: list[dict[str, Any]], start: datetime, end: datetime
    ) -> dict[str, list[tuple[datetime, float]]]:
        """Values per query id, newest first (GetMetricData, 500 queries per call)."""
        results: dict[str, list[tuple[datetime, float]]] = {}
        for offset in range(0, len(queries), MAX_METRIC_QUERIES):
            arguments: dict[str, Any] = {
                "MetricDataQueries": queries[offset : offset + MAX_METRIC_QUERIES],
                "StartTime": start,
                "EndTime": end,
                "ScanBy": "TimestampDescending",
            }
            while True:
                with _translated("CloudWatch", "GetMetricData"):
                    response = self.cloudwatch.get_metric_data(**arguments)
                for result in response.get("MetricDataResults", []):
                    points = zip(result.get("Timestamps", []), result.get("Values", []), strict=False)
                    results.setdefault(result["Id"], []).extend(points)
                if not response.get("NextToken"):
                    break
                arguments["NextToken"] = response["NextToken"]
        return results

    @staticmethod
    def _query(query_id: str, metric: str, dimensions: dict[str, str], period: int, stat: str) -> dict[str, Any]:
        return {
            "Id": query_id,
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/S3",
                    "MetricName": metric,
                    "Dimensions": [{"Name": name, "Value": value} for name, value in dimensions.items()],
                },
                "Period": period,
                "Stat": stat,
            },
            "ReturnData": True,
        }

    def bucket_metrics(self, bucket: str, start: datetime, end: datetime) -> BucketMetrics:
        return self.bucket_metrics_many([bucket], start, end)[bucket]

    def bucket_metrics_many(self, buckets: Sequence[str], start: datetime, end: datetime) -> dict[str, BucketMetrics]:
        """Storage: the latest daily values up to ``end`` (looking 2 days back); traffic: sums over [start, end)."""
        storage_types = self._storage_types()
        window_period = max(60, -(-int((end - start).total_seconds()) // 60) * 60)
        storage_queries: list[dict[str, Any]] = []
        traffic_queries: list[dict[str, Any]] = []
        for index, bucket in enumerate(buckets):
            for type_index, storage_type in enumerate(storage_types.get(bucket, [])):
                storage_queries.append(
                    self._query(
                        f"size{index}x{type_index}",
                        "BucketSizeBytes",
                        {"BucketName": bucket, "StorageType": storage_type},
                        DAY_SECONDS,
                        "Average",
                    )
                )
            storage_queries.append(
                self._query(
                    f"objects{index}",
                    "NumberOfObjects",
                    {"BucketName": bucket, "StorageType": "AllStorageTypes"},
                    DAY_SECONDS,
                    "Average",
                )
            )
            filter_dimensions = {"BucketName": bucket, "FilterId": self.request_metrics_filter_id}
            for name, metric in TRAFFIC_METRICS.items():
                traffic_queries.append(self._query(f"{name}{index}", metric, filter_dimensions, window_period, "Sum"))
        storage = self._metric_data(storage_queries, end - STORAGE_LOOKBACK, end) if storage_queries else {}
        traffic = self._metric_data(traffic_queries, start, end) if traffic_queries else {}

        metrics: dict[str, BucketMetrics] = {}
        for index, bucket in enumerate(buckets):
            latest = [
                storage[f"size{index}x{type_index}"][0]
                for type_index in range(len(storage_types.get(bucket, [])))
                if storage.get(f"size{index}x{type_index}")
            ]
            objects = storage.get(f"objects{index}")

            def window_sum(name: str, index: int = index) -> int | None:
                points = traffic.get(f"{name}{index}")
                return int(sum(value for _, value in points)) if points else None

            metrics[bucket] = BucketMetrics(
                bucket=bucket,
                storage_bytes=int(sum(value for _, value in latest)) if latest else None,
                object_count=int(objects[0][1]) if objects else None,
                storage_measured_at=max(stamp for stamp, _ in latest).astimezone(UTC) if latest else None,
                egress_bytes=window_sum("egress"),
                ingress_bytes=window_sum("ingress"),
                requests=window_sum("requests"),
                traffic_mode="window",
            )
        return metrics
