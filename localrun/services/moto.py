"""moto in server mode inside this process, and the AWS resources the app expects to find there."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

LOCAL_REGION = "us-east-1"
TEST_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
USAGE_QUEUE_NAME = "primecloud-usage"
USAGE_DLQ_NAME = "primecloud-usage-dlq"
PASSWORD_RESET_QUEUE_NAME = "primecloud-password-reset"  # noqa: S105 - a queue name
PASSWORD_RESET_DLQ_NAME = "primecloud-password-reset-dlq"  # noqa: S105 - a queue name
KMS_ALIAS = "alias/primecloud-local"
# A message that fails this many receives moves to the DLQ (what the template's RedrivePolicy says too).
MAX_RECEIVE_COUNT = 5
# Six times the worker's timeout, AWS's advice for queues feeding Lambda.
USAGE_VISIBILITY_TIMEOUT_SECONDS = 6 * 60
PASSWORD_RESET_VISIBILITY_TIMEOUT_SECONDS = 6 * 30  # SendPasswordResetFunction's Timeout is 30 s


@dataclass
class MotoServer:
    """A running moto server; every AWS service answers at ``url``."""

    url: str
    _server: Any = None

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


def start_moto(port: int = 0, host: str = "127.0.0.1", log_requests: bool = False) -> MotoServer:
    """Start moto's threaded server (``port=0``: any free port) and return its URL.

    moto's werkzeug server logs every AWS call at INFO; unless ``log_requests``, only warnings show.
    """
    import logging

    from moto.server import ThreadedMotoServer

    if not log_requests:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    return MotoServer(url=f"http://{bound_host}:{bound_port}", _server=server)


def _setting(settings_like: Any, name: str, default: str) -> str:
    """Read a setting from a Settings object, a mapping of field names or of env-var names."""
    if isinstance(settings_like, Mapping):
        value = settings_like.get(name, settings_like.get(name.upper()))
    else:
        value = getattr(settings_like, name, None)
    return str(value) if value else default


def bootstrap_aws(endpoint_url: str, settings_like: Any = None) -> dict[str, str]:
    """Create the queues, documents bucket, KMS key and SES sender at ``endpoint_url``; idempotent.

    ``settings_like`` is ``primecloud.config.Settings`` or a mapping (``documents_bucket``,
    ``sender_email``, ``storage_region``); returns the environment variables that point the app there.
    """
    import boto3

    region = _setting(settings_like, "storage_region", LOCAL_REGION)
    session = boto3.session.Session(
        aws_access_key_id=TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=region,
    )
    documents_bucket = _setting(settings_like, "documents_bucket", "primecloud-documents")
    sender_email = _setting(settings_like, "sender_email", "no-reply@primecloud.example")

    sqs = session.client("sqs", endpoint_url=endpoint_url)
    dlq_url = sqs.create_queue(QueueName=USAGE_DLQ_NAME)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    usage_queue_url = sqs.create_queue(
        QueueName=USAGE_QUEUE_NAME,
        Attributes={
            "VisibilityTimeout": str(USAGE_VISIBILITY_TIMEOUT_SECONDS),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}),
        },
    )["QueueUrl"]
    reset_dlq_url = sqs.create_queue(QueueName=PASSWORD_RESET_DLQ_NAME)["QueueUrl"]
    reset_dlq_arn = sqs.get_queue_attributes(QueueUrl=reset_dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    reset_queue_url = sqs.create_queue(
        QueueName=PASSWORD_RESET_QUEUE_NAME,
        Attributes={
            "VisibilityTimeout": str(PASSWORD_RESET_VISIBILITY_TIMEOUT_SECONDS),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": reset_dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}),
        },
    )["QueueUrl"]

    s3 = session.client("s3", endpoint_url=endpoint_url)
    existing = {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}
    if documents_bucket not in existing:
        if region == LOCAL_REGION:
            s3.create_bucket(Bucket=documents_bucket)
        else:
            s3.create_bucket(Bucket=documents_bucket, CreateBucketConfiguration={"LocationConstraint": region})

    kms = session.client("kms", endpoint_url=endpoint_url)
    aliases = {alias["AliasName"]: alias.get("TargetKeyId") for alias in kms.list_aliases()["Aliases"]}
    kms_key_id = aliases.get(KMS_ALIAS)
    if not kms_key_id:
        kms_key_id = kms.create_key(Description="PrimeCloud local secrets at rest")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=KMS_ALIAS, TargetKeyId=kms_key_id)

    session.client("ses", endpoint_url=endpoint_url).verify_email_identity(EmailAddress=sender_email)

    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        **TEST_CREDENTIALS,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "USAGE_QUEUE_URL": usage_queue_url,
        "USAGE_DLQ_URL": dlq_url,
        "PASSWORD_RESET_QUEUE_URL": reset_queue_url,
        "PASSWORD_RESET_DLQ_URL": reset_dlq_url,
        "KMS_KEY_ID": kms_key_id,
        "DOCUMENTS_BUCKET": documents_bucket,
        "SENDER_EMAIL": sender_email,
        "STORAGE_ENDPOINT_URL": endpoint_url,
    }
