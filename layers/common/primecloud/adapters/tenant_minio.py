"""Tenant credentials, quotas and bucket metrics on MinIO: the minio package's MinioAdmin + Prometheus.

One MinIO user per tenant key (the user's access key *is* the key id) with one canned policy
``pc-<access key>`` attached, the same IAM-style document AWS gets. Users rather than service
accounts: a service account's rights are cut down to its parent's, so a parent per account would
have to list every bucket of the account and be updated whenever one is created.

Storage bytes and object counts come from the admin data-usage report (``datausageinfo``, filled
by MinIO's background scanner: minutes old, ``storage_measured_at`` says when). Traffic and
requests come from the v2 bucket metrics endpoint (``/minio/v2/metrics/bucket``) as cumulative
counters per server (``minio_bucket_traffic_sent_bytes``, ``..._received_bytes``,
``minio_bucket_requests_total``), scraped with a short-lived bearer token signed with the admin
secret (what ``mc admin prometheus generate`` makes).

The admin credentials are the platform's own S3 credentials for MinIO (the registry passes
boto3's); MinioAdmin encrypts some payloads with the admin secret, as MinIO expects.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import secrets
import string
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from primecloud.adapters.storage import (
    BucketMetrics,
    BucketNotFound,
    Capability,
    CredentialNotFound,
    NewCredential,
    bucket_access_policy,
)
from primecloud.errors import Invalid, PrimeCloudError, Unavailable
from primecloud.observability import logger

T = TypeVar("T")

ACCESS_KEY_PREFIX = "PC"
ACCESS_KEY_LENGTH = 20  # MinIO access keys: 3-20 characters for users
SECRET_KEY_LENGTH = 40
METRICS_PATH = "/minio/v2/metrics/bucket"
METRICS_TOKEN_SECONDS = 300
_USER_MISSING = {"XMinioAdminNoSuchUser", "XMinioAdminNoSuchUserOrGroup", "XMinioAdminNoSuchPolicy"}
_KEY_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits


def policy_name_for(access_key_id: str) -> str:
    return f"pc-{access_key_id.lower()}"


# --------------------------------------------------------------------------- Prometheus text format


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)(?:\s+\S+)?\s*$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
_ESCAPES = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


def _unescape(value: str) -> str:
    return re.sub(r'\\[\\"n]', lambda match: _ESCAPES[match.group(0)], value)


def parse_prometheus_text(text: str) -> list[Sample]:
    """Samples of the Prometheus text exposition format (0.0.4); comments and bad lines are skipped."""
    samples: list[Sample] = []
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            continue
        labels: dict[str, str] = {}
        label_text = match.group("labels") or ""
        position = 0
        while position < len(label_text):
            label = _LABEL.match(label_text, position)
            if label is None or label.end() == position:
                break
            labels[label.group(1)] = _unescape(label.group(2))
            position = label.end()
        try:
            value = float(match.group("value"))
        except ValueError:
            continue
        samples.append(Sample(match.group("name"), labels, value))
    return samples


@dataclass(frozen=True)
class BucketTraffic:
    sent_bytes: int
    received_bytes: int
    requests: int


def bucket_traffic(samples: Sequence[Sample]) -> dict[str, BucketTraffic]:
    """Per-bucket cumulative counters, summed over servers (and over APIs for requests)."""
    sums: dict[str, dict[str, float]] = {}
    fields = {
        "minio_bucket_traffic_sent_bytes": "sent",
        "minio_bucket_traffic_received_bytes": "received",
        "minio_bucket_requests_total": "requests",
    }
    for sample in samples:
        field_name = fields.get(sample.name)
        bucket = sample.labels.get("bucket")
        if field_name is None or bucket is None or not math.isfinite(sample.value):
            continue
        totals = sums.setdefault(bucket, {"sent": 0.0, "received": 0.0, "requests": 0.0})
        totals[field_name] += sample.value
    return {
        bucket: BucketTraffic(int(totals["sent"]), int(totals["received"]), int(totals["requests"]))
        for bucket, totals in sums.items()
    }


def prometheus_token(access_key: str, secret_key: str, *, lifetime_seconds: int = METRICS_TOKEN_SECONDS) -> str:
    """An HS512 JWT {sub: access key, iss: prometheus, exp} as MinIO's metrics endpoints accept."""

    def encode(part: bytes) -> str:
        return base64.urlsafe_b64encode(part).rstrip(b"=").decode()

    header = encode(json.dumps({"alg": "HS512", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = {"exp": int(time.time()) + lifetime_seconds, "sub": access_key, "iss": "prometheus"}
    payload = encode(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(secret_key.encode(), f"{header}.{payload}".encode(), hashlib.sha512).digest()
    return f"{header}.{payload}.{encode(signature)}"


# --------------------------------------------------------------------------- the adapter


def _error_code(exc: Any) -> tuple[str, str]:
    """(HTTP status, MinIO error code) of a MinioAdminException."""
    status = str(getattr(exc, "_code", ""))
    try:
        code = str(json.loads(getattr(exc, "_body", "") or "{}").get("Code", ""))
    except (ValueError, AttributeError):
        code = ""
    return status, code


class MinioTenantCredentials:
    """``TenantCredentials`` on MinIO (MinioAdmin for IAM, quotas and usage; Prometheus for traffic)."""

    capabilities = frozenset(
        {Capability.QUOTAS, Capability.USAGE_API, Capability.TRAFFIC_METRICS, Capability.REQUEST_METRICS}
    )

    def __init__(
        self,
        *,
        endpoint_url: str,
        access_key: str,
        secret_key: str,
        region: str = "",
        timeout_seconds: float = 5.0,
        cert_check: bool = True,
        admin: Any = None,
        http: Any = None,
    ) -> None:
        parts = urlsplit(endpoint_url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("the MinIO endpoint must be an http(s) URL")
        self.endpoint_url = endpoint_url.rstrip("/")
        self.secure = parts.scheme == "https"
        self.netloc = parts.netloc
        self.access_key = access_key
        self._secret_key = secret_key
        self.region = region
        self.timeout_seconds = timeout_seconds
        self.cert_check = cert_check
        self._admin = admin
        self._http = http

    @property
    def http(self) -> Any:
        if self._http is None:
            import certifi
            import urllib3

            self._http = urllib3.PoolManager(
                timeout=urllib3.Timeout(connect=self.timeout_seconds, read=self.timeout_seconds),
                retries=urllib3.Retry(total=2, connect=2, read=0, status=0, backoff_factor=0.2),
                cert_reqs="CERT_REQUIRED" if self.cert_check else "CERT_NONE",
                ca_certs=certifi.where(),
            )
        return self._http

    @property
    def admin(self) -> Any:
        if self._admin is None:
            from minio import MinioAdmin
            from minio.credentials.providers import StaticProvider

            self._admin = MinioAdmin(
                endpoint=self.netloc,
                credentials=StaticProvider(self.access_key, self._secret_key),
                region=self.region,
                secure=self.secure,
                cert_check=self.cert_check,
                http_client=self.http,
            )
        return self._admin

    @contextmanager
    def _translated(self, operation: str, *, missing: str | None = None) -> Iterator[None]:
        from minio.error import MinioAdminException
        from urllib3.exceptions import HTTPError

        try:
            yield
        except MinioAdminException as exc:
            status, code = _error_code(exc)
            if missing is not None and (code in _USER_MISSING or (status == "404" and code != "NoSuchBucket")):
                raise CredentialNotFound(missing) from exc
            if code == "NoSuchBucket":
                raise BucketNotFound("The bucket does not exist.") from exc
            logger.warning("minio admin call failed", extra={"operation": operation, "status": status, "code": code})
            raise Unavailable(f"MinIO failed {operation} ({code or status}).") from exc
        except (HTTPError, OSError) as exc:
            logger.warning("minio unreachable", extra={"operation": operation, "error": type(exc).__name__})
            raise Unavailable(f"MinIO is unreachable ({operation}).") from exc

    def _call(self, operation: str, call: Callable[[], T], *, missing: str | None = None) -> T:
        with self._translated(operation, missing=missing):
            return call()

    # ------------------------------------------------------------------ credentials

    def create_credential(self, account_id: str, name: str, bucket_names: Sequence[str]) -> NewCredential:
        """A MinIO user (the key) with a canned policy limited to ``bucket_names``; undone on failure.

        MinIO users carry no tags, so ``account_id`` and ``name`` stay in PrimeCloud's database.
        """
        access_key_id = ACCESS_KEY_PREFIX + "".join(
            secrets.choice(_KEY_ALPHABET) for _ in range(ACCESS_KEY_LENGTH - len(ACCESS_KEY_PREFIX))
        )
        secret_access_key = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(SECRET_KEY_LENGTH))
        policy = bucket_access_policy(bucket_names)
        policy_name = policy_name_for(access_key_id)
        self._call("AddUser", lambda: self.admin.user_add(access_key_id, secret_access_key))
        try:
            self._call("AddCannedPolicy", lambda: self.admin.policy_add(policy_name, policy=policy))
            self._call("AttachPolicy", lambda: self.admin.attach_policy([policy_name], user=access_key_id))
        except PrimeCloudError:  # any failure, not only an outage: no user may keep a half-made policy
            self._remove(access_key_id)
            raise
        return NewCredential(access_key_id=access_key_id, secret_access_key=secret_access_key)

    def _require_user(self, access_key_id: str) -> None:
        self._call("UserInfo", lambda: self.admin.user_info(access_key_id), missing="The access key does not exist.")

    def update_policy(self, access_key_id: str, bucket_names: Sequence[str]) -> None:
        """Overwrite the key's canned policy (it stays attached); a failure raises, never keeps stale grants.

        One PUT replaces the whole document (no versions, no size quota as in IAM), but two writers
        would still lose one's update: callers serialize per key (``services.access_keys``).
        """
        self._require_user(access_key_id)
        policy = bucket_access_policy(bucket_names)
        self._call("AddCannedPolicy", lambda: self.admin.policy_add(policy_name_for(access_key_id), policy=policy))

    def disable(self, access_key_id: str) -> None:
        self._call(
            "SetUserStatus", lambda: self.admin.user_disable(access_key_id), missing="The access key does not exist."
        )

    def enable(self, access_key_id: str) -> None:
        self._call(
            "SetUserStatus", lambda: self.admin.user_enable(access_key_id), missing="The access key does not exist."
        )

    def delete(self, access_key_id: str) -> None:
        """Remove the user and its policy; parts already gone are skipped."""
        self._remove(access_key_id)

    def _remove(self, access_key_id: str) -> None:
        for operation, call in (
            ("RemoveUser", lambda: self.admin.user_remove(access_key_id)),
            ("RemoveCannedPolicy", lambda: self.admin.policy_remove(policy_name_for(access_key_id))),
        ):
            try:
                self._call(operation, call, missing=access_key_id)
            except CredentialNotFound:
                continue

    # ------------------------------------------------------------------ quotas and metrics

    def set_bucket_quota(self, bucket: str, quota_bytes: int | None) -> None:
        """A hard quota (MinIO refuses writes beyond it); ``None`` or 0 removes it."""
        if quota_bytes is not None and quota_bytes < 0:
            raise Invalid("A quota is a positive number of bytes.")
        size = quota_bytes or 0
        self._call("SetBucketQuota", lambda: self.admin.bucket_quota_set(bucket, size))

    def data_usage(self) -> dict[str, Any]:
        """The admin data-usage report (``datausageinfo``) as MinIO sends it."""
        raw = self._call("DataUsageInfo", self.admin.get_data_usage_info)
        try:
            report: dict[str, Any] = json.loads(raw)
        except ValueError as exc:
            raise Unavailable("MinIO sent an unreadable data usage report.") from exc
        return report

    def scrape_bucket_metrics(self) -> list[Sample]:
        token = prometheus_token(self.access_key, self._secret_key)
        with self._translated("ScrapeBucketMetrics"):
            response = self.http.request(
                "GET",
                self.endpoint_url + METRICS_PATH,
                headers={"Authorization": f"Bearer {token}", "Accept": "text/plain"},
            )
        if response.status != 200:
            logger.warning("minio metrics refused", extra={"status": response.status})
            raise Unavailable(f"MinIO refused the metrics scrape ({response.status}).")
        return parse_prometheus_text(response.data.decode("utf-8", "replace"))

    def bucket_metrics(self, bucket: str, start: datetime, end: datetime) -> BucketMetrics:
        return self.bucket_metrics_many([bucket], start, end)[bucket]

    def bucket_metrics_many(self, buckets: Sequence[str], start: datetime, end: datetime) -> dict[str, BucketMetrics]:
        """One usage report and one scrape for all buckets; traffic counters are cumulative."""
        report = self.data_usage()
        usage = report.get("bucketsUsageInfo") or {}
        measured_at = _parse_time(report.get("lastUpdate"))
        traffic = bucket_traffic(self.scrape_bucket_metrics())
        metrics: dict[str, BucketMetrics] = {}
        for bucket in buckets:
            bucket_usage = usage.get(bucket)
            counters = traffic.get(bucket)
            metrics[bucket] = BucketMetrics(
                bucket=bucket,
                storage_bytes=int(bucket_usage.get("size", 0)) if bucket_usage is not None else None,
                object_count=int(bucket_usage.get("objectsCount", 0)) if bucket_usage is not None else None,
                storage_measured_at=measured_at if bucket_usage is not None else None,
                egress_bytes=counters.sent_bytes if counters else None,
                ingress_bytes=counters.received_bytes if counters else None,
                requests=counters.requests if counters else None,
                traffic_mode="cumulative",
            )
        return metrics


def _parse_time(value: Any) -> datetime | None:
    """MinIO's RFC 3339 times (nanoseconds trimmed to what Python parses)."""
    if not isinstance(value, str) or not value or value.startswith("0001-01-01"):
        return None
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00"))
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        return None
