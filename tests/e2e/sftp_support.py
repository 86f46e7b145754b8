"""The SftpGo stub for HTTP tests: a running stub the app is pointed at (SFTPGO_URL + SFTPGO_API_KEY).

The gateway runs the handlers in this process, so switching the environment and forgetting the
cached settings and adapters is enough; both are restored afterwards.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest

from localrun.services.sftpgo_stub import SftpGoStub

SFTPGO_API_KEY = "e2e-sftpgo-admin-key"
# A syntactically valid OpenSSH ed25519 public key line (the blob names its type, as parse_public_key checks).
PUBLIC_KEY = (
    "ssh-ed25519 "
    + base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519" + b"\x00\x00\x00\x20" + b"p" * 32).decode()
    + " alice@laptop"
)


def _reset_app_config() -> None:
    from primecloud.adapters import registry
    from primecloud.config import get_settings

    get_settings.cache_clear()
    registry.reset()


@contextmanager
def pointed_stub(api_key: str = SFTPGO_API_KEY) -> Iterator[SftpGoStub]:
    """A running stub the layer's registry.sftpgo() points at; the environment is restored after."""
    with SftpGoStub(api_key=api_key) as stub:
        env = {"SFTPGO_URL": stub.url, "SFTPGO_API_KEY": api_key}
        previous = {name: os.environ.get(name) for name in env}
        os.environ.update(env)
        _reset_app_config()
        try:
            yield stub
        finally:
            for name, value in previous.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            _reset_app_config()
    assert stub.errors == [], "the stub answered outside the SftpGo spec"


@pytest.fixture
def sftpgo_stub(gateway_url: str) -> Iterator[SftpGoStub]:
    """A fresh stub for one test, with the app's SftpGo client pointed at it."""
    with pointed_stub() as stub:
        yield stub


def iam_client() -> Any:
    """IAM in the session's moto server (AWS_ENDPOINT_URL is set by the aws_server fixture)."""
    return boto3.client("iam")


def tenant_iam_users(account_id: object) -> list[str]:
    """IAM users the tenant-credential adapter made for an account (path /primecloud/<account id>/)."""
    pages = iam_client().get_paginator("list_users").paginate(PathPrefix=f"/primecloud/{account_id}/")
    return [user["UserName"] for page in pages for user in page.get("Users", [])]
