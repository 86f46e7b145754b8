"""The storage backend behind small interfaces: object storage (S3 API) and tenant credentials/usage.

Two protocols, so services depend on what they use and tests can hand in fakes:

- ``ObjectStorage`` (``storage_s3.S3ObjectStorage``, boto3; AWS S3 and MinIO alike): buckets,
  versioning, lifecycle, tags, listings, presigned URLs, usage by listing.
- ``TenantCredentials`` (``tenant_aws.AwsTenantCredentials``: IAM + CloudWatch;
  ``tenant_minio.MinioTenantCredentials``: MinioAdmin + Prometheus): S3 keys for tenants with a
  policy limited to their buckets, quotas and bucket metrics. Each says what it supports in
  ``capabilities``; a call to something unsupported raises ``NotSupported``.

Errors: a missing bucket/object/credential raises a ``NotFound`` subclass, a taken bucket name or
a non-empty bucket a ``Conflict`` subclass, input the backend refuses ``Invalid``, and anything
else the backend or the network does ``Unavailable`` (503). Messages name the operation and the
backend's error code, never credentials or request signatures.

Lifecycle rules are kept in the database as a small JSON form (``LifecycleRule``)::

    {"id": "expire-tmp", "prefix": "tmp/", "enabled": true,
     "expire_days": 30, "noncurrent_expire_days": 7, "abort_multipart_days": 3}

``id`` is required (1-255 characters, unique in the bucket); ``prefix`` defaults to the whole
bucket; at least one of the three ``*_days`` actions must be given (each a positive integer).
``storage_s3`` translates it to an S3 ``LifecycleConfiguration`` rule. The limits, and the rules for
bucket names, object keys and tags, are in ``primecloud.rules``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal, Protocol

from primecloud.errors import Conflict, Invalid, NotFound, PrimeCloudError
from primecloud.rules import (
    LIFECYCLE_ACTIONS,
    MAX_LIFECYCLE_PREFIX_LENGTH,
    MAX_LIFECYCLE_RULE_ID_LENGTH,
    MAX_LIFECYCLE_RULES,
)

# --------------------------------------------------------------------------- errors


class BucketNotFound(NotFound):
    title = "Bucket not found"


class ObjectNotFound(NotFound):
    title = "Object not found"


class CredentialNotFound(NotFound):
    title = "Access key not found"


class BucketAlreadyExists(Conflict):
    title = "Bucket name taken"


class BucketNotEmpty(Conflict):
    title = "Bucket not empty"


class NotSupported(PrimeCloudError):
    """The configured backend cannot do this (check ``capabilities`` before calling)."""

    status, slug, title = 501, "not-supported", "Not supported by the storage backend"


# --------------------------------------------------------------------------- capabilities


class Capability(StrEnum):
    QUOTAS = "quotas"  # hard per-bucket quotas enforced by the backend (set_bucket_quota)
    USAGE_API = "usage_api"  # storage bytes/object counts from the backend without listing
    TRAFFIC_METRICS = "traffic_metrics"  # egress/ingress bytes per bucket
    REQUEST_METRICS = "request_metrics"  # request counts per bucket


# --------------------------------------------------------------------------- value types

ARN_PREFIX = "arn:aws:s3:::"


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str  # without the surrounding quotes
    last_modified: datetime  # timezone-aware UTC
    storage_class: str | None = None


@dataclass(frozen=True)
class ObjectPage:
    objects: list[ObjectInfo]
    common_prefixes: list[str]  # "folders" when a delimiter was given
    next_token: str | None  # pass as continuation_token for the next page; None on the last page


@dataclass(frozen=True)
class PresignedRequest:
    """A URL the client calls itself; ``headers`` are signed, so it must send exactly these."""

    url: str
    method: Literal["GET", "PUT"]
    headers: dict[str, str]
    expires_at: datetime


@dataclass(frozen=True)
class BucketUsage:
    bytes: int  # every stored version, as billed
    objects: int  # current (latest, not deleted) objects
    versions: int  # every stored version (equals objects without versioning)


@dataclass(frozen=True)
class NewCredential:
    """A freshly created key pair: show the secret once, store it only encrypted."""

    access_key_id: str
    secret_access_key: str = field(repr=False)


@dataclass(frozen=True)
class BucketMetrics:
    """What the backend reports for one bucket; ``None`` means the backend does not know.

    Storage values are the latest measurement at or before the window's end
    (``storage_measured_at``). Traffic and requests depend on ``traffic_mode``:
    ``"window"`` (AWS CloudWatch): sums over [start, end);
    ``"cumulative"`` (MinIO Prometheus): totals since the servers' counters started, summed
    over servers; the caller diffs two samples and treats a decrease as a counter reset.
    """

    bucket: str
    storage_bytes: int | None
    object_count: int | None
    storage_measured_at: datetime | None
    egress_bytes: int | None
    ingress_bytes: int | None
    requests: int | None
    traffic_mode: Literal["window", "cumulative"]


# --------------------------------------------------------------------------- lifecycle rules


@dataclass(frozen=True)
class LifecycleRule:
    id: str
    prefix: str = ""
    enabled: bool = True
    expire_days: int | None = None
    noncurrent_expire_days: int | None = None
    abort_multipart_days: int | None = None

    _FIELDS: ClassVar[tuple[str, ...]] = ("id", "prefix", "enabled", *LIFECYCLE_ACTIONS)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LifecycleRule:
        unknown = set(data) - set(cls._FIELDS)
        if unknown:
            raise Invalid(f"Unknown lifecycle rule field(s): {', '.join(sorted(unknown))}.")
        rule_id = data.get("id")
        if not isinstance(rule_id, str) or not 1 <= len(rule_id) <= MAX_LIFECYCLE_RULE_ID_LENGTH:
            raise Invalid("A lifecycle rule needs an id of 1 to 255 characters.")
        prefix = data.get("prefix", "")
        if not isinstance(prefix, str) or len(prefix.encode()) > MAX_LIFECYCLE_PREFIX_LENGTH:
            raise Invalid("A lifecycle rule prefix must be a string of at most 1024 bytes.")
        enabled = data.get("enabled", True)
        if not isinstance(enabled, bool):
            raise Invalid("A lifecycle rule's enabled flag must be true or false.")
        days = {name: data.get(name) for name in LIFECYCLE_ACTIONS}
        for name, value in days.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise Invalid(f"Lifecycle rule {name} must be a positive number of days.")
        if all(value is None for value in days.values()):
            raise Invalid("A lifecycle rule needs at least one action (expire, noncurrent expire, abort multipart).")
        return cls(id=rule_id, prefix=prefix, enabled=enabled, **days)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "prefix": self.prefix, "enabled": self.enabled}
        for name in LIFECYCLE_ACTIONS:
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        return data

    def to_s3(self) -> dict[str, Any]:
        """The rule as S3's PutBucketLifecycleConfiguration expects it."""
        rule: dict[str, Any] = {
            "ID": self.id,
            "Filter": {"Prefix": self.prefix},
            "Status": "Enabled" if self.enabled else "Disabled",
        }
        if self.expire_days is not None:
            rule["Expiration"] = {"Days": self.expire_days}
        if self.noncurrent_expire_days is not None:
            rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": self.noncurrent_expire_days}
        if self.abort_multipart_days is not None:
            rule["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": self.abort_multipart_days}
        return rule


def parse_lifecycle_rules(rules: Iterable[LifecycleRule | Mapping[str, Any]]) -> list[LifecycleRule]:
    """Validate rules in their JSON form (or already parsed); ids must be unique."""
    parsed = [rule if isinstance(rule, LifecycleRule) else LifecycleRule.from_dict(rule) for rule in rules]
    if len(parsed) > MAX_LIFECYCLE_RULES:
        raise Invalid(f"At most {MAX_LIFECYCLE_RULES} lifecycle rules are allowed.")
    ids = [rule.id for rule in parsed]
    if len(set(ids)) != len(ids):
        raise Invalid("Lifecycle rule ids must be unique within a bucket.")
    return parsed


# --------------------------------------------------------------------------- tenant policies

# What a tenant key may do inside its buckets; bucket-level and object-level actions share one
# statement (each action only matches its own resource type) to stay far below IAM's size limits.
TENANT_S3_ACTIONS = (
    "s3:GetBucketLocation",
    "s3:ListBucket",
    "s3:ListBucketVersions",
    "s3:ListBucketMultipartUploads",
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
    "s3:GetObjectTagging",
    "s3:PutObjectTagging",
    "s3:DeleteObjectTagging",
)


def bucket_access_policy(bucket_names: Sequence[str], *, arn_prefix: str = ARN_PREFIX) -> dict[str, Any]:
    """An IAM-style policy allowing object work in exactly these buckets (AWS and MinIO read the same form).

    No ``s3:ListAllMyBuckets``: it would list every tenant's bucket names. An empty list gives a
    policy that allows nothing (IAM refuses a statement without resources).
    """
    names = sorted(set(bucket_names))
    if not names:
        return {
            "Version": "2012-10-17",
            "Statement": [{"Sid": "NoBuckets", "Effect": "Deny", "Action": ["s3:*"], "Resource": [arn_prefix + "*"]}],
        }
    resources: list[str] = []
    for name in names:
        resources += [arn_prefix + name, f"{arn_prefix}{name}/*"]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "TenantBuckets", "Effect": "Allow", "Action": list(TENANT_S3_ACTIONS), "Resource": resources}
        ],
    }


def compact_json(document: Mapping[str, Any]) -> str:
    """Policies are sent without whitespace: IAM counts their size that way."""
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


# --------------------------------------------------------------------------- protocols


class ObjectStorage(Protocol):
    def create_bucket(
        self,
        name: str,
        *,
        region: str | None = None,
        versioning: bool = False,
        lifecycle_rules: Sequence[LifecycleRule | Mapping[str, Any]] = (),
        tags: Mapping[str, str] | None = None,
    ) -> None: ...

    def delete_bucket(self, name: str, *, force: bool = False) -> int: ...

    def empty_bucket(self, name: str, *, max_versions: int | None = None) -> int: ...

    def bucket_exists(self, name: str) -> bool: ...

    def set_versioning(self, name: str, enabled: bool) -> None: ...

    def set_lifecycle(self, name: str, rules: Sequence[LifecycleRule | Mapping[str, Any]]) -> None: ...

    def list_objects(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str | None = None,
        continuation_token: str | None = None,
        max_keys: int = 1000,
    ) -> ObjectPage: ...

    def head_object(self, bucket: str, key: str) -> ObjectInfo: ...

    def presign_put(
        self, bucket: str, key: str, *, content_type: str, content_length: int, expires_in: int = ...
    ) -> PresignedRequest: ...

    def presign_get(
        self, bucket: str, key: str, *, expires_in: int = ..., filename: str | None = None
    ) -> PresignedRequest: ...

    def delete_object(self, bucket: str, key: str, *, version_id: str | None = None) -> None: ...

    def get_object_tags(self, bucket: str, key: str) -> dict[str, str]: ...

    def put_object_tags(self, bucket: str, key: str, tags: Mapping[str, str]) -> None: ...

    def bucket_usage(self, bucket: str) -> BucketUsage: ...


class TenantCredentials(Protocol):
    """Tenant S3 keys and per-bucket metrics on one backend."""

    capabilities: frozenset[Capability]

    def create_credential(self, account_id: str, name: str, bucket_names: Sequence[str]) -> NewCredential: ...

    def update_policy(self, access_key_id: str, bucket_names: Sequence[str]) -> None: ...

    def disable(self, access_key_id: str) -> None: ...

    def enable(self, access_key_id: str) -> None: ...

    def delete(self, access_key_id: str) -> None: ...

    def set_bucket_quota(self, bucket: str, quota_bytes: int | None) -> None: ...

    def bucket_metrics(self, bucket: str, start: datetime, end: datetime) -> BucketMetrics: ...

    def bucket_metrics_many(
        self, buckets: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, BucketMetrics]: ...
