"""SftpGoClient against the spec-enforcing SftpGo stub (localrun/services/sftpgo_stub.py) on a loopback port."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3

from localrun.services.sftpgo_stub import SftpGoStub
from primecloud.adapters.sftpgo import LocalHome, S3Home, SftpGoClient, SftpUserNotFound
from primecloud.errors import Conflict, Invalid, Unavailable

API_KEY = "test-admin-key.sftpgo"
PUBLIC_KEY = (
    "ssh-ed25519 " + base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519" + b"\x00\x00\x00\x20" + b"k" * 32).decode()
)
S3_HOME = S3Home(
    bucket="acme-files",
    region="us-east-1",
    access_key_id="PCSFTPKEY00000000001",
    secret_access_key="s3-secret-for-sftpgo",
    endpoint="http://minio.internal:9000",
    key_prefix="/team/docs",
    force_path_style=True,
)


@pytest.fixture
def stub() -> Iterator[SftpGoStub]:
    with SftpGoStub(api_key=API_KEY) as running:
        yield running
    assert running.errors == [], "the stub answered outside the spec"


@pytest.fixture
def sftpgo(stub: SftpGoStub) -> SftpGoClient:
    return SftpGoClient(stub.url, API_KEY, home_base="/srv/sftpgo/users")


def _raw(stub: SftpGoStub, method: str, path: str, body: Any = None, *, api_key: str | None = API_KEY) -> Any:
    headers = {"Content-Type": "application/json"}
    if api_key is not None:
        headers["X-SFTPGO-API-KEY"] = api_key
    payload = json.dumps(body).encode() if body is not None else None
    response = urllib3.PoolManager().request(method, stub.url + path, body=payload, headers=headers)
    return response.status, json.loads(response.data) if response.data else None


# --------------------------------------------------------------------------- the adapter


def test_create_s3_user_sends_the_documented_shape(stub: SftpGoStub, sftpgo: SftpGoClient) -> None:
    user = sftpgo.create_user("acme.alice", home=S3_HOME, password="pw-1234567890", public_keys=[PUBLIC_KEY])

    (request,) = stub.requests
    assert (request.method, request.path) == ("POST", "/api/v2/users")
    assert request.headers["X-SFTPGO-API-KEY"] == API_KEY
    assert request.body == {
        "status": 1,
        "username": "acme.alice",
        "home_dir": "/srv/sftpgo/users/acme.alice",
        "permissions": {"/": ["*"]},
        "quota_size": 0,
        "password": "pw-1234567890",
        "public_keys": [PUBLIC_KEY],
        "filesystem": {
            "provider": 1,
            "s3config": {
                "bucket": "acme-files",
                "region": "us-east-1",
                "access_key": "PCSFTPKEY00000000001",
                "access_secret": {"status": "Plain", "payload": "s3-secret-for-sftpgo"},
                "endpoint": "http://minio.internal:9000",
                "key_prefix": "team/docs/",
                "force_path_style": True,
            },
        },
    }
    assert (user.username, user.enabled, user.storage, user.bucket, user.key_prefix) == (
        "acme.alice",
        True,
        "s3",
        "acme-files",
        "team/docs/",
    )
    assert user.has_password and user.public_keys == [PUBLIC_KEY] and user.quota_bytes is None
    assert user.created_at is not None
    assert stub.password_matches("acme.alice", "pw-1234567890")
    assert stub.secret_matches("acme.alice", "s3-secret-for-sftpgo")
    assert "s3-secret-for-sftpgo" not in repr(S3_HOME)


def test_create_local_user_with_a_public_key_only(stub: SftpGoStub, sftpgo: SftpGoClient) -> None:
    user = sftpgo.create_user("bob", home=LocalHome(), public_keys=[PUBLIC_KEY], quota_bytes=5 * 1024**3)
    assert (user.storage, user.home_dir, user.has_password, user.quota_bytes) == (
        "local",
        "/srv/sftpgo/users/bob",
        False,
        5 * 1024**3,
    )
    assert stub.requests[0].body["filesystem"] == {"provider": 0}


def test_get_user_and_unknown_users(sftpgo: SftpGoClient) -> None:
    sftpgo.create_user("carol", home=S3_HOME, password="pw-1234567890")
    assert sftpgo.get_user("carol").bucket == "acme-files"
    with pytest.raises(SftpUserNotFound) as raised:
        sftpgo.get_user("nobody")
    assert raised.value.status == 404


def test_disable_puts_back_the_whole_user_with_status_0_and_keeps_secrets(
    stub: SftpGoStub, sftpgo: SftpGoClient
) -> None:
    sftpgo.create_user("dave", home=S3_HOME, password="pw-1234567890", public_keys=[PUBLIC_KEY])

    sftpgo.disable_user("dave")

    put = stub.requests[-1]
    assert (put.method, put.path) == ("PUT", "/api/v2/users/dave")
    assert put.body["status"] == 0
    assert "password" not in put.body  # omitted: SftpGo keeps the current one
    assert put.body["filesystem"]["s3config"]["access_secret"]["status"] != "Plain"  # sent back encrypted
    user = sftpgo.get_user("dave")
    assert not user.enabled and user.public_keys == [PUBLIC_KEY] and user.bucket == "acme-files"
    assert stub.password_matches("dave", "pw-1234567890")
    assert stub.secret_matches("dave", "s3-secret-for-sftpgo")

    sftpgo.enable_user("dave")
    assert sftpgo.get_user("dave").enabled


def test_update_user_changes_password_keys_and_quota(stub: SftpGoStub, sftpgo: SftpGoClient) -> None:
    sftpgo.create_user("erin", home=LocalHome("/data/erin"), password="old-password-1")
    sftpgo.update_user("erin", password="new-password-2", public_keys=[PUBLIC_KEY], quota_bytes=1024)
    user = sftpgo.get_user("erin")
    assert (user.public_keys, user.quota_bytes, user.home_dir) == ([PUBLIC_KEY], 1024, "/data/erin")
    assert stub.password_matches("erin", "new-password-2")


def test_delete_user_is_idempotent(stub: SftpGoStub, sftpgo: SftpGoClient) -> None:
    sftpgo.create_user("frank", home=LocalHome(), password="pw-1234567890")
    sftpgo.delete_user("frank")
    sftpgo.delete_user("frank")
    assert "frank" not in stub.users
    assert [(r.method, r.path) for r in stub.requests[-2:]] == [("DELETE", "/api/v2/users/frank")] * 2


def test_usage_is_what_sftpgo_counted_and_a_scan_can_be_started(stub: SftpGoStub, sftpgo: SftpGoClient) -> None:
    sftpgo.create_user("gina", home=S3_HOME, password="pw-1234567890", quota_bytes=10_000)
    status, _ = _raw(stub, "PUT", "/api/v2/quotas/users/gina/usage", {"used_quota_size": 4321, "used_quota_files": 3})
    assert status == 200

    usage = sftpgo.user_usage("gina")
    assert (usage.used_bytes, usage.used_files, usage.quota_bytes) == (4321, 3, 10_000)
    assert usage.last_update is not None

    assert sftpgo.start_quota_scan("gina") is True
    assert (stub.requests[-1].method, stub.requests[-1].path) == ("POST", "/api/v2/quotas/users/gina/scan")


def test_list_users_pages_in_username_order(sftpgo: SftpGoClient) -> None:
    for name in ("zed", "amy", "kim"):
        sftpgo.create_user(name, home=LocalHome(), password="pw-1234567890")
    assert [user.username for user in sftpgo.list_users(limit=2)] == ["amy", "kim"]
    assert [user.username for user in sftpgo.list_users(limit=2, offset=2)] == ["zed"]


def test_a_taken_username_is_a_conflict(sftpgo: SftpGoClient) -> None:
    sftpgo.create_user("hank", home=LocalHome(), password="pw-1234567890")
    with pytest.raises(Conflict):
        sftpgo.create_user("hank", home=LocalHome(), password="pw-1234567890")


def test_input_sftpgo_would_refuse_is_refused_before_any_request(stub: SftpGoStub, sftpgo: SftpGoClient) -> None:
    with pytest.raises(Invalid):
        sftpgo.create_user("bad name!", home=LocalHome(), password="pw-1234567890")
    with pytest.raises(Invalid):
        sftpgo.create_user("ivy", home=LocalHome())  # neither password nor key
    with pytest.raises(Invalid):
        sftpgo.create_user("ivy", home=LocalHome(), public_keys=["ssh-ed25519 not-base64!"])
    with pytest.raises(Invalid):
        sftpgo.create_user("ivy", home=LocalHome("relative/home"), password="pw-1234567890")
    assert stub.requests == []


def test_a_wrong_api_key_and_an_unreachable_server_are_unavailable(stub: SftpGoStub) -> None:
    with pytest.raises(Unavailable) as raised:
        SftpGoClient(stub.url, "wrong-key").get_user("anyone")
    assert raised.value.detail == "SftpGo refused the API key (GetUser)."

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(Unavailable) as raised:
        SftpGoClient(f"http://127.0.0.1:{port}", API_KEY, timeout_seconds=1).get_user("anyone")
    assert raised.value.detail == "SftpGo is unreachable (GetUser)."


def test_the_api_key_is_read_for_every_request(stub: SftpGoStub) -> None:
    keys = iter(["wrong-key", API_KEY])
    client = SftpGoClient(stub.url + "/api/v2", lambda: next(keys))
    with pytest.raises(Unavailable):
        client.list_users()
    assert client.list_users() == []


# --------------------------------------------------------------------------- the stub is strict

VALID_USER = {
    "status": 1,
    "username": "strict",
    "home_dir": "/srv/sftpgo/users/strict",
    "permissions": {"/": ["*"]},
    "password": "pw-1234567890",
}


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"username": None}, "username is mandatory"),
        ({"username": "has space"}, "is not valid"),
        ({"home_dir": None}, "home_dir is mandatory"),
        ({"home_dir": "relative"}, "home_dir must be an absolute path"),
        ({"permissions": {"/sub": ["*"]}}, "permissions for the root dir '/'"),
        ({"permissions": {"/": ["fly"]}}, "is not one of"),
        ({"status": "1"}, "is not of type 'integer'"),
        ({"status": 2}, "is not one of"),
        ({"s3_config": {"bucket": "b"}}, "Additional properties are not allowed"),
        ({"public_keys": ["ssh-ed25519 AAAA"]}, "could not parse key"),
        ({"filesystem": {"provider": 1, "s3config": {"region": "r"}}}, "bucket cannot be empty"),
        ({"filesystem": {"provider": 1, "s3config": {"bucket": "b"}}}, "region cannot be empty"),
        (
            {"filesystem": {"provider": 1, "s3config": {"bucket": "b", "region": "r", "access_key": "k"}}},
            "access_secret cannot be empty",
        ),
        (
            {
                "filesystem": {
                    "provider": 1,
                    "s3config": {
                        "bucket": "b",
                        "region": "r",
                        "access_key": "k",
                        "access_secret": {"status": "Redacted"},
                    },
                }
            },
            "redacted secret",
        ),
        (
            {"filesystem": {"provider": 1, "s3config": {"bucket": "b", "region": "r", "key_prefix": "/./"}}},
            "key_prefix resolves to the storage root",
        ),
    ],
)
def test_the_stub_refuses_users_the_spec_or_sftpgo_refuse(stub: SftpGoStub, change: dict[str, Any], error: str) -> None:
    body = {**VALID_USER, **change}
    body = {key: value for key, value in body.items() if value is not None}
    status, answer = _raw(stub, "POST", "/api/v2/users", body)
    assert status == 400, answer
    assert error in answer["error"]
    assert stub.users == {}


def test_the_stub_accepts_the_valid_user_and_answers_with_the_spec_shape(stub: SftpGoStub) -> None:
    status, answer = _raw(stub, "POST", "/api/v2/users", VALID_USER)
    assert status == 201
    assert answer["username"] == "strict" and answer["has_password"] is True and "password" not in answer


def test_the_stub_models_put_as_a_full_replacement(stub: SftpGoStub) -> None:
    _raw(stub, "POST", "/api/v2/users", VALID_USER)
    status, answer = _raw(stub, "PUT", "/api/v2/users/strict", {"status": 0})
    assert status == 400 and "home_dir is mandatory" in answer["error"]
    status, answer = _raw(stub, "PUT", "/api/v2/users/strict", {**VALID_USER, "username": "other"})
    assert status == 400


def test_the_stub_requires_the_api_key_and_knows_only_documented_routes(stub: SftpGoStub) -> None:
    assert _raw(stub, "GET", "/api/v2/users", api_key=None)[0] == 401
    assert _raw(stub, "GET", "/api/v2/users", api_key="nope")[0] == 401
    assert _raw(stub, "GET", "/api/v2/no-such-thing")[0] == 404
    assert _raw(stub, "GET", "/users")[0] == 404  # the API lives under /api/v2
    assert _raw(stub, "PATCH", "/api/v2/users")[0] == 405
    assert _raw(stub, "GET", "/api/v2/users?limit=0")[0] == 400
    assert _raw(stub, "GET", "/api/v2/users?page=2")[0] == 400  # not a documented parameter
    assert _raw(stub, "GET", "/api/v2/admins")[0] == 501  # documented, not modelled here
    assert _raw(stub, "POST", "/api/v2/users", None)[0] == 400  # the body is required
    status, answer = _raw(stub, "GET", "/api/v2/users/ghost")
    assert status == 404 and set(answer) == {"error", "message"}
