"""MinioTenantCredentials against a recorded MinIO admin API: the real MinioAdmin client, a fake server.

The fake (stdlib HTTP on loopback) answers like MinIO does: it checks each request's Signature
V4 against the admin secret, decrypts the payloads MinioAdmin encrypts (minio.crypto, argon2id +
AES-GCM, as MinIO does), answers with MinIO's JSON and error shapes, encrypts what MinIO
encrypts, and serves a recorded Prometheus scrape behind a bearer JWT. Tests assert the
recorded paths, methods, query parameters and bodies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from minio.crypto import decrypt, encrypt

from primecloud.adapters.storage import (
    BucketNotFound,
    Capability,
    CredentialNotFound,
    NotSupported,
)
from primecloud.adapters.tenant_aws import AwsTenantCredentials
from primecloud.adapters.tenant_minio import (
    MinioTenantCredentials,
    bucket_traffic,
    parse_prometheus_text,
    policy_name_for,
    prometheus_token,
)
from primecloud.errors import Invalid, Unavailable
from tests.unit.test_adapter_sigv4 import header_signature_valid

ADMIN_KEY = "pcadmin"
ADMIN_SECRET = "pcadmin-secret-0123456789"
ADMIN_PREFIX = "/minio/admin/v3/"
ENCRYPTED_REQUESTS = {"add-user", "idp/builtin/policy/attach"}

# A scrape of /minio/v2/metrics/bucket from a two-node deployment (trimmed).
RECORDED_BUCKET_METRICS = """\
# HELP minio_bucket_objects_size_distribution Distribution of object sizes in the bucket
# TYPE minio_bucket_objects_size_distribution gauge
minio_bucket_objects_size_distribution{bucket="bkt-a",range="LESS_THAN_1024_B",server="minio-0:9000"} 2
# HELP minio_bucket_requests_total Total number of S3 requests on a bucket
# TYPE minio_bucket_requests_total counter
minio_bucket_requests_total{api="getobject",bucket="bkt-a",server="minio-0:9000"} 40
minio_bucket_requests_total{api="putobject",bucket="bkt-a",server="minio-0:9000"} 12
minio_bucket_requests_total{api="getobject",bucket="bkt-a",server="minio-1:9000"} 8
minio_bucket_requests_total{api="listobjectsv2",bucket="photos",server="minio-0:9000"} 3
# HELP minio_bucket_traffic_received_bytes Total number of S3 bytes received for this bucket
# TYPE minio_bucket_traffic_received_bytes gauge
minio_bucket_traffic_received_bytes{bucket="bkt-a",server="minio-0:9000"} 1.048576e+06
minio_bucket_traffic_received_bytes{bucket="bkt-a",server="minio-1:9000"} 2048
minio_bucket_traffic_received_bytes{bucket="photos",server="minio-0:9000"} 0
# HELP minio_bucket_traffic_sent_bytes Total number of S3 bytes sent for this bucket
# TYPE minio_bucket_traffic_sent_bytes gauge
minio_bucket_traffic_sent_bytes{bucket="bkt-a",server="minio-0:9000"} 5.24288e+06
minio_bucket_traffic_sent_bytes{bucket="bkt-a",server="minio-1:9000"} 4096
minio_bucket_traffic_sent_bytes{bucket="photos",server="minio-0:9000"} 512
# HELP minio_bucket_usage_total_bytes Total bucket size in bytes
# TYPE minio_bucket_usage_total_bytes gauge
minio_bucket_usage_total_bytes{bucket="bkt-a",server="minio-0:9000"} 3000
"""

# GET /minio/admin/v3/datausageinfo (trimmed; the scanner last ran at lastUpdate).
RECORDED_DATA_USAGE = {
    "lastUpdate": "2026-11-21T22:58:12.123456789Z",
    "objectsCount": 5,
    "versionsCount": 6,
    "deleteMarkersCount": 1,
    "objectsTotalSize": 3512,
    "objectsReplicationInfo": {},
    "bucketsCount": 3,
    "bucketsUsageInfo": {
        "bkt-a": {
            "size": 3000,
            "objectsPendingReplicationTotalSize": 0,
            "objectsFailedReplicationTotalSize": 0,
            "objectsReplicatedTotalSize": 0,
            "objectsPendingReplicationCount": 0,
            "objectsFailedReplicationCount": 0,
            "objectsCount": 4,
            "objectsSizesHistogram": {"LESS_THAN_1024_B": 2, "BETWEEN_1024_B_AND_1_MB": 2},
            "versionsCount": 5,
            "deleteMarkersCount": 1,
        },
        "photos": {"size": 512, "objectsCount": 1, "versionsCount": 1, "deleteMarkersCount": 0},
        "empty": {"size": 0, "objectsCount": 0, "versionsCount": 0, "deleteMarkersCount": 0},
    },
    "bucketsSizes": {"bkt-a": 3000, "photos": 512, "empty": 0},
    "tierStats": None,
}


class _Body(io.BytesIO):
    """What minio.crypto.decrypt reads from (it expects a urllib3 response)."""

    def release_conn(self) -> None:
        return


@dataclass
class Call:
    method: str
    command: str
    query: dict[str, str]
    body: Any
    signed_by: str | None


@dataclass
class FakeMinio:
    """MinIO's admin API, enough of it for users, canned policies, quotas, usage and bucket metrics."""

    calls: list[Call] = field(default_factory=list)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    quotas: dict[str, dict[str, Any]] = field(default_factory=dict)
    buckets: set[str] = field(default_factory=lambda: {"bkt-a", "bkt-b", "photos", "empty"})
    fail: dict[str, int] = field(default_factory=dict)  # command -> HTTP status to answer once

    def error(self, status: int, code: str, message: str, resource: str) -> tuple[int, bytes, str]:
        body = {"Code": code, "Message": message, "Resource": resource, "RequestId": "1879E5F1B2C3D4E5", "HostId": ""}
        return status, json.dumps(body).encode(), "application/json"

    def handle(
        self, method: str, raw_path: str, raw_query: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, bytes, str]:
        if raw_path == "/minio/v2/metrics/bucket":
            return self.metrics(headers)
        command = raw_path.removeprefix(ADMIN_PREFIX)
        query = {key: values[-1] for key, values in parse_qs(raw_query, keep_blank_values=True).items()}
        valid, access_key = header_signature_valid(method, raw_path, raw_query, headers, ADMIN_SECRET)
        body: Any = raw
        if raw and command in ENCRYPTED_REQUESTS:
            # minio reads a urllib3 response; _Body has the little of it that decrypt uses
            body = json.loads(decrypt(_Body(raw), ADMIN_SECRET)) if valid else None  # type: ignore[arg-type]
        elif raw:
            body = json.loads(raw)
        self.calls.append(Call(method, command, query, body, access_key if valid else None))
        if not valid or access_key != ADMIN_KEY:
            return self.error(
                403, "SignatureDoesNotMatch", "The request signature we calculated does not match.", raw_path
            )
        if hashlib.sha256(raw).hexdigest() != headers.get("x-amz-content-sha256"):
            return self.error(400, "XAmzContentSHA256Mismatch", "The content SHA256 does not match.", raw_path)
        if command in self.fail:
            return self.error(self.fail.pop(command), "XMinioAdminInternalError", "forced failure", raw_path)
        handler_name = "cmd_" + command.replace("-", "_").replace("/", "_")
        route: Callable[..., tuple[int, bytes, str]] | None = getattr(self, handler_name, None)
        if route is None:
            return self.error(400, "XMinioAdminAPINotImplemented", "not in the recording", raw_path)
        return route(method, query, body, raw_path)

    def ok(self, payload: Any = None, *, encrypted: bool = False) -> tuple[int, bytes, str]:
        if payload is None:
            return 200, b"", "application/json"
        data = json.dumps(payload).encode()
        return 200, (encrypt(data, ADMIN_SECRET) if encrypted else data), "application/json"

    def cmd_add_user(self, method: str, query: dict[str, str], body: Any, path: str) -> tuple[int, bytes, str]:
        assert method == "PUT"
        self.users[query["accessKey"]] = {"secretKey": body["secretKey"], "status": body["status"], "policies": []}
        return self.ok()

    def cmd_user_info(self, method: str, query: dict[str, str], body: Any, path: str) -> tuple[int, bytes, str]:
        user = self.users.get(query["accessKey"])
        if user is None:
            return self.error(404, "XMinioAdminNoSuchUser", "The specified user does not exist.", path)
        return self.ok({"policyName": ",".join(user["policies"]), "status": user["status"], "memberOf": None})

    def cmd_set_user_status(self, method: str, query: dict[str, str], body: Any, path: str) -> tuple[int, bytes, str]:
        if query["accessKey"] not in self.users:
            return self.error(404, "XMinioAdminNoSuchUser", "The specified user does not exist.", path)
        self.users[query["accessKey"]]["status"] = query["status"]
        return self.ok()

    def cmd_remove_user(self, method: str, query: dict[str, str], body: Any, path: str) -> tuple[int, bytes, str]:
        if self.users.pop(query["accessKey"], None) is None:
            return self.error(404, "XMinioAdminNoSuchUser", "The specified user does not exist.", path)
        return self.ok()

    def cmd_add_canned_policy(self, method: str, query: dict[str, str], body: Any, path: str) -> tuple[int, bytes, str]:
        if not isinstance(body, dict) or body.get("Version") != "2012-10-17" or not body.get("Statement"):
            return self.error(400, "XMinioMalformedJSON", "The policy is not valid.", path)
        self.policies[query["name"]] = body
        return self.ok()

    def cmd_remove_canned_policy(
        self, method: str, query: dict[str, str], body: Any, path: str
    ) -> tuple[int, bytes, str]:
        if self.policies.pop(query["name"], None) is None:
            return self.error(404, "XMinioAdminNoSuchPolicy", "The canned policy does not exist.", path)
        return self.ok()

    def cmd_idp_builtin_policy_attach(
        self, method: str, query: dict[str, str], body: Any, path: str
    ) -> tuple[int, bytes, str]:
        user = self.users.get(body["user"])
        if user is None:
            return self.error(404, "XMinioAdminNoSuchUser", "The specified user does not exist.", path)
        if any(name not in self.policies for name in body["policies"]):
            return self.error(404, "XMinioAdminNoSuchPolicy", "The canned policy does not exist.", path)
        user["policies"] += body["policies"]
        answer = {"updatedAt": "2026-11-21T23:00:00Z", "policiesAttached": body["policies"], "user": body["user"]}
        return self.ok(answer, encrypted=True)

    def cmd_set_bucket_quota(self, method: str, query: dict[str, str], body: Any, path: str) -> tuple[int, bytes, str]:
        if query["bucket"] not in self.buckets:
            return self.error(404, "NoSuchBucket", "The specified bucket does not exist", path)
        self.quotas[query["bucket"]] = body
        return self.ok()

    def cmd_datausageinfo(self, method: str, query: dict[str, str], body: Any, path: str) -> tuple[int, bytes, str]:
        return self.ok(RECORDED_DATA_USAGE)

    def metrics(self, headers: dict[str, str]) -> tuple[int, bytes, str]:
        token = headers.get("authorization", "").removeprefix("Bearer ")
        self.calls.append(Call("GET", "metrics/bucket", {}, None, _jwt_subject(token)))
        if _jwt_subject(token) != ADMIN_KEY:
            return 403, b"Access Denied", "text/plain"
        return 200, RECORDED_BUCKET_METRICS.encode(), "text/plain; version=0.0.4; charset=utf-8"


def _jwt_subject(token: str) -> str | None:
    """The subject of a valid, unexpired HS512 JWT issued for prometheus, else None."""
    try:
        header, payload, signature = token.split(".")
    except ValueError:
        return None
    expected = hmac.new(ADMIN_SECRET.encode(), f"{header}.{payload}".encode(), hashlib.sha512).digest()
    if base64.urlsafe_b64encode(expected).rstrip(b"=").decode() != signature:
        return None
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    if claims.get("iss") != "prometheus" or claims.get("exp", 0) <= time.time():
        return None
    return str(claims.get("sub"))


@pytest.fixture
def fake_minio() -> Iterator[tuple[FakeMinio, str]]:
    fake = FakeMinio()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, body, content_type = fake.handle(self.command, parts.path, parts.query, headers, raw)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_PUT = do_POST = do_DELETE = _serve

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def minio(fake_minio: tuple[FakeMinio, str]) -> MinioTenantCredentials:
    _, url = fake_minio
    return MinioTenantCredentials(endpoint_url=url, access_key=ADMIN_KEY, secret_key=ADMIN_SECRET, region="us-east-1")


def _resources(policy: dict[str, Any]) -> list[str]:
    return sorted(resource for statement in policy["Statement"] for resource in statement["Resource"])


# --------------------------------------------------------------------------- credentials


def test_create_credential_adds_a_user_a_bucket_policy_and_attaches_it(
    fake_minio: tuple[FakeMinio, str], minio: MinioTenantCredentials
) -> None:
    fake, _ = fake_minio

    credential = minio.create_credential("acct-1", "backup key", ["bkt-a", "photos"])

    assert [(call.method, call.command) for call in fake.calls] == [
        ("PUT", "add-user"),
        ("PUT", "add-canned-policy"),
        ("POST", "idp/builtin/policy/attach"),
    ]
    assert all(call.signed_by == ADMIN_KEY for call in fake.calls)
    add_user, add_policy, attach = fake.calls
    # the user is the key: MinIO received exactly the secret handed back, encrypted in transit
    assert add_user.query == {"accessKey": credential.access_key_id}
    assert add_user.body == {"status": "enabled", "secretKey": credential.secret_access_key}
    assert credential.access_key_id.startswith("PC") and len(credential.access_key_id) == 20
    assert credential.access_key_id.isalnum() and credential.access_key_id.isupper()
    assert len(credential.secret_access_key) == 40
    assert credential.secret_access_key not in repr(credential)
    # the canned policy names the key and allows the two buckets and their objects, nothing else
    assert add_policy.query == {"name": policy_name_for(credential.access_key_id)}
    statement = add_policy.body["Statement"][0]
    assert statement["Effect"] == "Allow"
    assert _resources(add_policy.body) == [
        "arn:aws:s3:::bkt-a",
        "arn:aws:s3:::bkt-a/*",
        "arn:aws:s3:::photos",
        "arn:aws:s3:::photos/*",
    ]
    assert "s3:PutObject" in statement["Action"] and "s3:ListAllMyBuckets" not in statement["Action"]
    assert attach.body == {"policies": [policy_name_for(credential.access_key_id)], "user": credential.access_key_id}
    assert fake.users[credential.access_key_id]["policies"] == [policy_name_for(credential.access_key_id)]


def test_a_key_without_buckets_gets_a_policy_that_allows_nothing(
    fake_minio: tuple[FakeMinio, str], minio: MinioTenantCredentials
) -> None:
    fake, _ = fake_minio
    credential = minio.create_credential("acct-1", "no buckets yet", [])
    policy = fake.policies[policy_name_for(credential.access_key_id)]
    assert [statement["Effect"] for statement in policy["Statement"]] == ["Deny"]


def test_a_failed_attach_removes_the_user_and_policy_again(
    fake_minio: tuple[FakeMinio, str], minio: MinioTenantCredentials
) -> None:
    fake, _ = fake_minio
    fake.fail["idp/builtin/policy/attach"] = 500

    with pytest.raises(Unavailable) as raised:
        minio.create_credential("acct-1", "doomed", ["bkt-a"])

    assert "AttachPolicy" in raised.value.detail
    assert fake.users == {} and fake.policies == {}
    assert [call.command for call in fake.calls][-2:] == ["remove-user", "remove-canned-policy"]


def test_wrong_admin_secret_is_refused_and_reported_as_unavailable(fake_minio: tuple[FakeMinio, str]) -> None:
    fake, url = fake_minio
    wrong = MinioTenantCredentials(endpoint_url=url, access_key=ADMIN_KEY, secret_key="not-the-secret")
    with pytest.raises(Unavailable) as raised:
        wrong.create_credential("acct-1", "key", ["bkt-a"])
    assert "SignatureDoesNotMatch" in raised.value.detail
    assert "not-the-secret" not in raised.value.detail
    assert fake.users == {}


def test_update_policy_rewrites_the_canned_policy_of_an_existing_key(
    fake_minio: tuple[FakeMinio, str], minio: MinioTenantCredentials
) -> None:
    fake, _ = fake_minio
    credential = minio.create_credential("acct-1", "key", ["bkt-a"])
    fake.calls.clear()

    minio.update_policy(credential.access_key_id, ["bkt-b"])

    assert [(call.method, call.command, call.query) for call in fake.calls] == [
        ("GET", "user-info", {"accessKey": credential.access_key_id}),
        ("PUT", "add-canned-policy", {"name": policy_name_for(credential.access_key_id)}),
    ]
    assert _resources(fake.policies[policy_name_for(credential.access_key_id)]) == [
        "arn:aws:s3:::bkt-b",
        "arn:aws:s3:::bkt-b/*",
    ]


def test_update_policy_of_an_unknown_key_is_not_found_and_creates_no_policy(
    fake_minio: tuple[FakeMinio, str], minio: MinioTenantCredentials
) -> None:
    fake, _ = fake_minio
    with pytest.raises(CredentialNotFound):
        minio.update_policy("PCNOSUCHKEY000000000", ["bkt-a"])
    assert fake.policies == {}


def test_disable_and_enable_set_the_user_status(
    fake_minio: tuple[FakeMinio, str], minio: MinioTenantCredentials
) -> None:
    fake, _ = fake_minio
    credential = minio.create_credential("acct-1", "key", ["bkt-a"])
    fake.calls.clear()

    minio.disable(credential.access_key_id)
    assert fake.users[credential.access_key_id]["status"] == "disabled"
    minio.enable(credential.access_key_id)
    assert fake.users[credential.access_key_id]["status"] == "enabled"

    assert [(call.method, call.command, call.query["status"]) for call in fake.calls] == [
        ("PUT", "set-user-status", "disabled"),
        ("PUT", "set-user-status", "enabled"),
    ]
    with pytest.raises(CredentialNotFound):
        minio.disable("PCNOSUCHKEY000000000")


def test_delete_removes_user_and_policy_and_is_idempotent(
    fake_minio: tuple[FakeMinio, str], minio: MinioTenantCredentials
) -> None:
    fake, _ = fake_minio
    credential = minio.create_credential("acct-1", "key", ["bkt-a"])
    fake.calls.clear()

    minio.delete(credential.access_key_id)
    minio.delete(credential.access_key_id)

    assert fake.users == {} and fake.policies == {}
    assert [(call.method, call.command) for call in fake.calls] == [
        ("DELETE", "remove-user"),
        ("DELETE", "remove-canned-policy"),
        ("DELETE", "remove-user"),
        ("DELETE", "remove-canned-policy"),
    ]


# --------------------------------------------------------------------------- quotas


def test_bucket_quota_is_a_hard_quota_and_none_clears_it(
    fake_minio: tuple[FakeMinio, str], minio: MinioTenantCredentials
) -> None:
    fake, _ = fake_minio
    minio.set_bucket_quota("bkt-a", 10 * 1024**3)
    assert fake.calls[-1].method == "PUT" and fake.calls[-1].query == {"bucket": "bkt-a"}
    assert fake.quotas["bkt-a"] == {"quota": 10 * 1024**3, "quotatype": "hard"}

    minio.set_bucket_quota("bkt-a", None)
    assert fake.quotas["bkt-a"] == {"quota": 0, "quotatype": "hard"}

    with pytest.raises(BucketNotFound):
        minio.set_bucket_quota("no-such-bucket", 1)
    with pytest.raises(Invalid):
        minio.set_bucket_quota("bkt-a", -1)


def test_capabilities_say_minio_has_quotas_and_aws_does_not() -> None:
    assert Capability.QUOTAS in MinioTenantCredentials.capabilities
    assert Capability.QUOTAS not in AwsTenantCredentials.capabilities
    with pytest.raises(NotSupported) as raised:
        AwsTenantCredentials().set_bucket_quota("bkt-a", 1)
    assert raised.value.status == 501


# --------------------------------------------------------------------------- metrics


def test_bucket_metrics_combine_data_usage_and_prometheus_counters(
    fake_minio: tuple[FakeMinio, str], minio: MinioTenantCredentials
) -> None:
    fake, _ = fake_minio
    start, end = datetime(2026, 11, 21, 22, tzinfo=UTC), datetime(2026, 11, 21, 23, tzinfo=UTC)

    metrics = minio.bucket_metrics_many(["bkt-a", "photos", "empty", "bkt-b"], start, end)

    bkt_a = metrics["bkt-a"]
    assert (bkt_a.storage_bytes, bkt_a.object_count) == (3000, 4)
    assert bkt_a.storage_measured_at == datetime(2026, 11, 21, 22, 58, 12, 123456, tzinfo=UTC)
    assert bkt_a.egress_bytes == 5_242_880 + 4096  # summed over both servers
    assert bkt_a.ingress_bytes == 1_048_576 + 2048
    assert bkt_a.requests == 40 + 12 + 8  # every API, every server
    assert bkt_a.traffic_mode == "cumulative"
    assert (metrics["photos"].storage_bytes, metrics["photos"].egress_bytes, metrics["photos"].requests) == (
        512,
        512,
        3,
    )
    assert (metrics["empty"].storage_bytes, metrics["empty"].egress_bytes) == (0, None)  # no traffic recorded yet
    assert metrics["bkt-b"].storage_bytes is None and metrics["bkt-b"].storage_measured_at is None
    # one usage report and one scrape for all buckets, the scrape with an admin-signed token
    assert [call.command for call in fake.calls] == ["datausageinfo", "metrics/bucket"]
    assert fake.calls[1].signed_by == ADMIN_KEY


def test_a_refused_scrape_is_unavailable(fake_minio: tuple[FakeMinio, str]) -> None:
    _, url = fake_minio
    other = MinioTenantCredentials(endpoint_url=url, access_key="someone-else", secret_key=ADMIN_SECRET)
    with pytest.raises(Unavailable):
        other.scrape_bucket_metrics()


def test_an_unreachable_minio_is_unavailable() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = MinioTenantCredentials(
        endpoint_url=f"http://127.0.0.1:{port}", access_key=ADMIN_KEY, secret_key=ADMIN_SECRET, timeout_seconds=1
    )
    with pytest.raises(Unavailable) as raised:
        down.disable("PCANYKEY000000000000")
    assert "unreachable" in raised.value.detail


def test_prometheus_text_parser_reads_labels_values_and_skips_the_rest() -> None:
    text = (
        "# HELP x_total A counter\n"
        "# TYPE x_total counter\n"
        'x_total{bucket="a\\"b",path="c:\\\\d",note="line\\nbreak"} 1.5e+03 1700000000000\n'
        "x_total 7\n"
        'weird{bucket="n"} NaN\n'
        "not a metric line\n"
        'y{le="+Inf"} +Inf\n'
    )
    samples = parse_prometheus_text(text)
    assert samples[0].labels == {"bucket": 'a"b', "path": "c:\\d", "note": "line\nbreak"}
    assert samples[0].value == 1500.0
    assert (samples[1].name, samples[1].labels, samples[1].value) == ("x_total", {}, 7.0)
    assert [sample.name for sample in samples] == ["x_total", "x_total", "weird", "y"]


def test_traffic_ignores_non_finite_values_and_other_metrics() -> None:
    samples = parse_prometheus_text(RECORDED_BUCKET_METRICS + 'minio_bucket_traffic_sent_bytes{bucket="bkt-a"} NaN\n')
    traffic = bucket_traffic(samples)
    assert set(traffic) == {"bkt-a", "photos"}
    assert traffic["bkt-a"].sent_bytes == 5_246_976


def test_prometheus_token_is_an_hs512_jwt_for_the_admin_key() -> None:
    token = prometheus_token(ADMIN_KEY, ADMIN_SECRET, lifetime_seconds=60)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "HS512", "typ": "JWT"}
    assert _jwt_subject(token) == ADMIN_KEY
    assert _jwt_subject(prometheus_token(ADMIN_KEY, "other-secret")) is None
