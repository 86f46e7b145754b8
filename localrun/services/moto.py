"""moto in server mode inside this process, and the AWS resources the app expects to find there."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
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


_IN_PROCESS_URLS: set[str] = set()  # moto servers of this process: their backends can be read directly


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
    _stamp_sent_mail()

    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    url = f"http://{bound_host}:{bound_port}"
    _IN_PROCESS_URLS.add(url)
    return MotoServer(url=url, _server=server)


def _stamp_sent_mail() -> None:
    """moto's SES keeps a sent mail without its time: give each one a ``sent_at`` (``/__local/mail`` shows it)."""
    from moto.ses.models import Message

    if getattr(Message, "_primecloud_stamped", False):
        return
    original_init = Message.__init__

    def init_with_time(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.sent_at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

    Message.__init__ = init_with_time  # type: ignore[method-assign]
    Message._primecloud_stamped = True  # type: ignore[attr-defined]


def sent_mail(endpoint_url: str, region: str = LOCAL_REGION, timeout: float = 5.0) -> list[dict[str, Any]]:
    """What moto's SES has sent (SendEmail), newest first: ``to``, ``from``, ``subject``, ``text``, ``sent_at``.

    Read from moto's backend when ``start_moto`` runs it in this process (``make dev``), else from
    the server's ``/moto-api/data.json``; ``sent_at`` is None for mail moto did not stamp.
    """
    if endpoint_url.rstrip("/") in _IN_PROCESS_URLS:
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.ses.models import Message, ses_backends

        sent = ses_backends[DEFAULT_ACCOUNT_ID][region].sent_messages
        messages = [vars(message) for message in sent if isinstance(message, Message)]
    else:
        from urllib.request import urlopen

        with urlopen(f"{endpoint_url.rstrip('/')}/moto-api/data.json", timeout=timeout) as answer:  # noqa: S310
            messages = json.load(answer).get("ses", {}).get("Message", [])
    return [
        {
            "to": [address for addresses in (message.get("destinations") or {}).values() for address in addresses],
            "from": message.get("source"),
            "subject": message.get("subject"),
            "text": message.get("body"),
            "sent_at": message.get("sent_at"),
        }
        for message in reversed(messages)
    ]


def keep_kms_key(state_file: Path, region: str = LOCAL_REGION) -> str:
    """The local KMS key, kept across restarts: its id and material live in ``state_file``.

    moto keeps keys in memory, and the database keeps secrets (access keys', SFTP passwords)
    encrypted under this key: a new key on every start would make them undecryptable. moto has
    no API to choose a key's id or import its material, so this works on moto's in-process backend
    (``start_moto`` runs it in this process). Creates the key and ``KMS_ALIAS`` when missing; returns the id.
    """
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.kms.models import kms_backends

    backend = kms_backends[DEFAULT_ACCOUNT_ID][region]
    saved = json.loads(state_file.read_text(encoding="utf-8")) if state_file.is_file() else None
    if saved is None or saved["key_id"] not in backend.keys:
        key = backend.create_key(
            policy=None,
            key_usage="ENCRYPT_DECRYPT",
            key_spec="SYMMETRIC_DEFAULT",
            description="PrimeCloud local secrets at rest",
            tags=None,
        )
        if saved is not None:  # the same key as before: its id (named in every ciphertext) and material
            del backend.keys[key.id]
            key.id = saved["key_id"]
            key.arn = key.arn.rsplit("/", 1)[0] + "/" + key.id
            key.key_material = bytes.fromhex(saved["key_material"])
            backend.keys[key.id] = key
        else:
            state_file.parent.mkdir(parents=True, exist_ok=True)
            state_file.touch(mode=0o600)
            state_file.write_text(
                json.dumps({"key_id": key.id, "key_material": key.key_material.hex()}), encoding="utf-8"
            )
        saved = {"key_id": key.id}
    key_id = str(saved["key_id"])
    aliased = backend.get_key_id_from_alias(KMS_ALIAS)
    if aliased is None:
        backend.create_alias(key_id, KMS_ALIAS)
    elif aliased != key_id:
        backend.update_alias(key_id, KMS_ALIAS)
    return key_id


def adopt_access_key(created_id: str, wanted_id: str, secret: str | None, *, active: bool) -> None:
    """Give the IAM access key moto just made (``created_id``) the id, secret and status it had before.

    IAM cannot create a key with a chosen id or secret; a restart of ``make dev`` needs the keys the
    database names back as they were, so this edits moto's in-process IAM backend. ``secret`` None
    keeps the new random secret (the old one is lost: the key must be recreated to be used).
    """
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends

    backend = iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
    key = backend.access_keys.pop(created_id)
    key.access_key_id = wanted_id
    if secret is not None:
        key.secret_access_key = secret
    key.status = "Active" if active else "Inactive"
    backend.access_keys[wanted_id] = key


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
