"""The local stack's embedded services: moto in server mode, bootstrapped; a real sshd for SFTP."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import boto3
import paramiko
import pytest
import requests
from botocore.config import Config

from localrun.services.moto import MotoServer, bootstrap_aws, start_moto
from localrun.services.sshd import SshServer
from tests.conftest import drain_queue

SETTINGS = {"documents_bucket": "primecloud-documents-test", "sender_email": "billing@primecloud.example"}


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoServer]:
    server = start_moto(port=0)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def aws_env(moto_server: MotoServer) -> dict[str, str]:
    return bootstrap_aws(moto_server.url, SETTINGS)


def client(env: dict[str, str], service: str, **kwargs: Any) -> Any:
    return boto3.client(
        service,
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        **kwargs,
    )


def test_bootstrap_creates_the_usage_queue_with_its_dead_letter_queue(aws_env: dict[str, str]) -> None:
    sqs = client(aws_env, "sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=aws_env["USAGE_QUEUE_URL"], AttributeNames=["All"])["Attributes"]
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith(":primecloud-usage-dlq")
    assert int(redrive["maxReceiveCount"]) == 5
    drain_queue(sqs, aws_env["USAGE_QUEUE_URL"])  # moto's state is shared by the whole test process
    sqs.send_message(QueueUrl=aws_env["USAGE_QUEUE_URL"], MessageBody='{"account_ids": []}')
    (message,) = sqs.receive_message(QueueUrl=aws_env["USAGE_QUEUE_URL"])["Messages"]
    assert message["Body"] == '{"account_ids": []}'


def test_bootstrap_creates_bucket_key_and_sender(aws_env: dict[str, str]) -> None:
    assert aws_env["DOCUMENTS_BUCKET"] == "primecloud-documents-test"
    assert aws_env["STORAGE_ENDPOINT_URL"] == aws_env["AWS_ENDPOINT_URL"]
    client(aws_env, "s3").head_bucket(Bucket=aws_env["DOCUMENTS_BUCKET"])

    kms = client(aws_env, "kms")
    assert kms.describe_key(KeyId=aws_env["KMS_KEY_ID"])["KeyMetadata"]["Enabled"] is True
    blob = kms.encrypt(KeyId=aws_env["KMS_KEY_ID"], Plaintext=b"sftp-password")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"sftp-password"

    assert "billing@primecloud.example" in client(aws_env, "ses").list_identities()["Identities"]


def test_bootstrap_is_idempotent(moto_server: MotoServer, aws_env: dict[str, str]) -> None:
    again = bootstrap_aws(moto_server.url, SETTINGS)
    assert again == aws_env


def test_exported_environment_points_default_clients_at_moto(
    aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in aws_env.items():
        monkeypatch.setenv(name, value)
    queue_urls = boto3.client("sqs").list_queues()["QueueUrls"]
    assert aws_env["USAGE_QUEUE_URL"] in queue_urls


def test_presigned_put_then_get_round_trip_over_http(aws_env: dict[str, str]) -> None:
    s3 = client(aws_env, "s3", config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    location = {"Bucket": aws_env["DOCUMENTS_BUCKET"], "Key": "invoices/2024-01/INV-0001.txt"}
    content = b"Invoice INV-0001: 12.34 EUR\n"

    put_url = s3.generate_presigned_url("put_object", Params={**location, "ContentType": "text/plain"}, ExpiresIn=300)
    uploaded = requests.put(put_url, data=content, headers={"Content-Type": "text/plain"}, timeout=10)
    assert uploaded.status_code == 200

    get_url = s3.generate_presigned_url("get_object", Params=location, ExpiresIn=300)
    downloaded = requests.get(get_url, timeout=10)
    assert downloaded.status_code == 200
    assert downloaded.content == content
    assert downloaded.headers["Content-Type"] == "text/plain"


# --- SFTP against a real sshd -----------------------------------------------------------------------


def connect(server: SshServer, key: paramiko.PKey) -> paramiko.SSHClient:
    """Connect trusting only the server's own host key."""
    key_type, key_data = server.host_public_key_path.read_text().split()[:2]
    ssh = paramiko.SSHClient()
    ssh.get_host_keys().add(
        f"[{server.host}]:{server.port}", key_type, paramiko.Ed25519Key(data=base64.b64decode(key_data))
    )
    ssh.set_missing_host_key_policy(paramiko.RejectPolicy())
    ssh.connect(
        server.host,
        port=server.port,
        username=server.username,
        pkey=key,
        look_for_keys=False,
        allow_agent=False,
    )
    return ssh


@pytest.mark.sftp
def test_sftp_write_list_and_read_back(sshd: SshServer) -> None:
    ssh = connect(sshd, paramiko.Ed25519Key.from_private_key_file(str(sshd.private_key_path)))
    try:
        sftp = ssh.open_sftp()
        sftp.mkdir("reports")
        with sftp.open("reports/usage.csv", "wb") as remote:
            remote.write(b"bucket,bytes\nphotos,1024\n")
        assert sftp.listdir("reports") == ["usage.csv"]
        with sftp.open("reports/usage.csv", "rb") as remote:
            assert remote.read() == b"bucket,bytes\nphotos,1024\n"
        assert sftp.stat("reports/usage.csv").st_size == 25
        sftp.close()
    finally:
        ssh.close()
    # relative SFTP paths start in the server's root folder
    assert (sshd.root / "reports" / "usage.csv").read_bytes() == b"bucket,bytes\nphotos,1024\n"


@pytest.mark.sftp
def test_sftp_refuses_a_key_that_is_not_authorised(sshd: SshServer) -> None:
    stranger = paramiko.RSAKey.generate(2048)
    with pytest.raises(paramiko.AuthenticationException):
        connect(sshd, stranger)
