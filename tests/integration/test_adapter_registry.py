"""The adapter registry: implementations chosen from Settings, cached per container, secrets from Secrets Manager."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from localrun.services.sftpgo_stub import SftpGoStub
from primecloud.adapters import registry
from primecloud.adapters.crypto import EnvelopeCipher
from primecloud.adapters.sftpgo import LocalHome
from primecloud.adapters.storage_s3 import S3ObjectStorage
from primecloud.adapters.tenant_aws import AwsTenantCredentials
from primecloud.adapters.tenant_minio import MinioTenantCredentials
from primecloud.config import get_settings
from primecloud.errors import Unavailable

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch, aws_server: dict[str, str]) -> Iterator[pytest.MonkeyPatch]:
    """Settings and adapters rebuilt from the environment this test sets."""
    for name in ("STORAGE_BACKEND", "SFTPGO_URL", "SFTPGO_API_KEY", "SFTPGO_API_KEY_SECRET_ARN"):
        monkeypatch.delenv(name, raising=False)

    def rebuild() -> None:
        get_settings.cache_clear()
        registry.reset()

    rebuild()
    yield monkeypatch
    monkeypatch.undo()
    rebuild()


def test_aws_backend_builds_s3_and_iam_adapters_once_per_container(
    fresh: pytest.MonkeyPatch, aws_server: dict[str, str]
) -> None:
    fresh.setenv("STORAGE_BACKEND", "aws")
    fresh.setenv("STORAGE_PUBLIC_ENDPOINT_URL", "https://files.primecloud.example")
    registry.reset()
    get_settings.cache_clear()

    storage = registry.storage()
    assert isinstance(storage, S3ObjectStorage)
    assert storage.endpoint_url == aws_server["STORAGE_ENDPOINT_URL"]
    assert storage.public_endpoint_url == "https://files.primecloud.example"
    assert registry.storage() is storage
    credentials = registry.tenant_credentials()
    assert isinstance(credentials, AwsTenantCredentials)
    assert registry.tenant_credentials() is credentials

    registry.reset()
    assert registry.storage() is not storage


def test_minio_backend_uses_minio_admin_with_the_platform_credentials(
    fresh: pytest.MonkeyPatch, aws_server: dict[str, str]
) -> None:
    fresh.setenv("STORAGE_BACKEND", "minio")
    fresh.setenv("STORAGE_ENDPOINT_URL", "https://minio.internal:9000")
    get_settings.cache_clear()

    credentials = registry.tenant_credentials()
    assert isinstance(credentials, MinioTenantCredentials)
    assert (credentials.netloc, credentials.secure, credentials.access_key) == (
        "minio.internal:9000",
        True,
        aws_server["AWS_ACCESS_KEY_ID"],
    )


def test_crypto_uses_the_configured_kms_key(fresh: pytest.MonkeyPatch, aws_server: dict[str, str]) -> None:
    cipher = registry.crypto()
    assert isinstance(cipher, EnvelopeCipher) and cipher.key_id == aws_server["KMS_KEY_ID"]
    assert cipher.decrypt(cipher.encrypt(b"round trip")) == b"round trip"


def test_sftpgo_key_from_the_setting(fresh: pytest.MonkeyPatch) -> None:
    with SftpGoStub(api_key="plain-setting-key") as stub:
        fresh.setenv("SFTPGO_URL", stub.url)
        fresh.setenv("SFTPGO_API_KEY", "plain-setting-key")
        get_settings.cache_clear()
        registry.sftpgo().create_user("from-setting", home=LocalHome(), password="pw-1234567890")
        assert "from-setting" in stub.users


def test_sftpgo_key_from_secrets_manager_wins_and_follows_rotation(
    fresh: pytest.MonkeyPatch, aws_server: dict[str, str]
) -> None:
    from aws_lambda_powertools.utilities import parameters

    secrets = boto3.client("secretsmanager", endpoint_url=aws_server["AWS_ENDPOINT_URL"])
    arn = secrets.create_secret(Name=f"primecloud/sftpgo-{uuid.uuid4().hex[:8]}", SecretString="from-secrets-1")["ARN"]
    with SftpGoStub(api_key="from-secrets-1") as stub:
        fresh.setenv("SFTPGO_URL", stub.url)
        fresh.setenv("SFTPGO_API_KEY", "ignored-when-an-arn-is-set")
        fresh.setenv("SFTPGO_API_KEY_SECRET_ARN", arn)
        get_settings.cache_clear()
        parameters.clear_caches()  # type: ignore[no-untyped-call]  # Powertools leaves it unannotated
        client = registry.sftpgo()
        assert client.list_users() == []
        assert stub.requests[-1].headers["X-SFTPGO-API-KEY"] == "from-secrets-1"

        secrets.put_secret_value(SecretId=arn, SecretString="from-secrets-2")
        stub.api_key = "from-secrets-2"
        parameters.clear_caches()  # type: ignore[no-untyped-call]  # what max_age expiring does in a warm container
        assert registry.sftpgo() is client
        assert client.list_users() == []
        assert stub.requests[-1].headers["X-SFTPGO-API-KEY"] == "from-secrets-2"


def test_missing_configuration_is_unavailable(fresh: pytest.MonkeyPatch) -> None:
    fresh.delenv("KMS_KEY_ID", raising=False)
    get_settings.cache_clear()
    with pytest.raises(Unavailable):
        registry.crypto()
    with pytest.raises(Unavailable):
        registry.sftpgo()
    fresh.setenv("SFTPGO_URL", "http://sftpgo.internal:8080")
    get_settings.cache_clear()
    with pytest.raises(Unavailable):
        registry.sftpgo()  # a URL but no key


def test_importing_the_registry_loads_no_sdk() -> None:
    code = (
        "import sys, json; import primecloud.adapters.registry; "
        "print(json.dumps(sorted(m for m in ('boto3', 'botocore', 'minio', 'paramiko', 'urllib3', "
        "'cryptography', 'jsonschema') if m in sys.modules)))"
    )
    environment = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "common")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=True)
    assert json.loads(result.stdout) == []
