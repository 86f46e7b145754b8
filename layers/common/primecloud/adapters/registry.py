"""The container's adapters, built once from Settings (warm invocations reuse them).

Importing this module imports no SDK: each factory builds its adapter on first call, and the
adapters load boto3/minio/urllib3 on first use. ``reset()`` forgets them (tests change the
environment between cases).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING

from primecloud.config import Settings, get_settings
from primecloud.errors import Unavailable

if TYPE_CHECKING:
    from primecloud.adapters.crypto import EnvelopeCipher
    from primecloud.adapters.job_invoker import JobInvoker
    from primecloud.adapters.queue import MessageQueue
    from primecloud.adapters.sftpgo import SftpGoClient
    from primecloud.adapters.storage import ObjectStorage, TenantCredentials

SECRET_MAX_AGE_SECONDS = 300  # Powertools caches the SftpGo key this long, so a rotation lands within it


@lru_cache(maxsize=1)
def storage() -> ObjectStorage:
    from primecloud.adapters.storage_s3 import S3ObjectStorage

    settings = get_settings()
    return S3ObjectStorage(
        endpoint_url=settings.storage_endpoint_url,
        public_endpoint_url=settings.storage_public_endpoint_url,
        region=settings.storage_region,
        timeout_seconds=settings.outbound_timeout_seconds,
    )


def _minio_credentials(settings: Settings) -> TenantCredentials:
    """MinioAdmin speaks with the platform's own S3 credentials (boto3's chain), MinIO's admin user."""
    import boto3

    from primecloud.adapters.tenant_minio import MinioTenantCredentials

    if not settings.storage_endpoint_url:
        raise Unavailable("STORAGE_ENDPOINT_URL must point at MinIO when STORAGE_BACKEND is minio.")
    credentials = boto3.session.Session().get_credentials()
    if credentials is None:
        raise Unavailable("No credentials for the MinIO admin API.")
    frozen = credentials.get_frozen_credentials()
    return MinioTenantCredentials(
        endpoint_url=settings.storage_endpoint_url,
        access_key=frozen.access_key,
        secret_key=frozen.secret_key,
        region=settings.storage_region,
        timeout_seconds=settings.outbound_timeout_seconds,
    )


@lru_cache(maxsize=1)
def tenant_credentials() -> TenantCredentials:
    settings = get_settings()
    if settings.storage_backend == "minio":
        return _minio_credentials(settings)
    from primecloud.adapters.tenant_aws import AwsTenantCredentials

    return AwsTenantCredentials(region=settings.storage_region, timeout_seconds=settings.outbound_timeout_seconds)


@lru_cache(maxsize=1)
def crypto() -> EnvelopeCipher:
    from primecloud.adapters.crypto import EnvelopeCipher

    settings = get_settings()
    if not settings.kms_key_id:
        raise Unavailable("KMS_KEY_ID is not configured.")
    return EnvelopeCipher(settings.kms_key_id, timeout_seconds=settings.outbound_timeout_seconds)


@lru_cache(maxsize=1)
def sftpgo() -> SftpGoClient:
    """The SftpGo client; its API key comes from Secrets Manager when an ARN is set, else the setting."""
    from primecloud.adapters.sftpgo import SftpGoClient

    settings = get_settings()
    if not settings.sftpgo_url:
        raise Unavailable("SFTPGO_URL is not configured.")
    secret_arn = settings.sftpgo_api_key_secret_arn
    if secret_arn:

        def api_key() -> str:
            from aws_lambda_powertools.utilities import parameters

            return str(parameters.get_secret(secret_arn, max_age=SECRET_MAX_AGE_SECONDS))

        return SftpGoClient(settings.sftpgo_url, api_key, timeout_seconds=settings.outbound_timeout_seconds)
    if not settings.sftpgo_api_key:
        raise Unavailable("Neither SFTPGO_API_KEY_SECRET_ARN nor SFTPGO_API_KEY is configured.")
    return SftpGoClient(settings.sftpgo_url, settings.sftpgo_api_key, timeout_seconds=settings.outbound_timeout_seconds)


@lru_cache(maxsize=1)
def password_reset_queue() -> MessageQueue:
    """PasswordResetQueue: reset mails are sent by its worker, off the request path."""
    from primecloud.adapters.queue import Queue

    url = get_settings().password_reset_queue_url
    if not url:
        raise Unavailable("PASSWORD_RESET_QUEUE_URL is not configured.")
    return Queue(url)


# Installed by the local runtime (localrun): there is no Lambda service to start a job's function on.
_local_job_invoker: Callable[[], JobInvoker] | None = None


def install_local_job_invoker(factory: Callable[[], JobInvoker] | None) -> None:
    """The invoker ``job_invoker()`` builds for JOB_INVOKER=local (``None`` removes it). The local
    runtime installs its own here, so the layer never imports development code."""
    global _local_job_invoker
    _local_job_invoker = factory


def job_invoker() -> JobInvoker:
    """How a job's function is started (JOB_INVOKER; unset: local for local/test, else Lambda).
    Built on each call, from the current settings; the Lambda client underneath is cached."""
    from primecloud.adapters.job_invoker import LambdaJobInvoker, parse_function_names

    settings = get_settings()
    kind = settings.job_invoker or ("local" if settings.environment in ("local", "test") else "lambda")
    if kind == "local":
        if _local_job_invoker is None:
            raise Unavailable("The local job runner is not available here; set JOB_INVOKER=lambda.")
        return _local_job_invoker()
    return LambdaJobInvoker(
        parse_function_names(settings.job_functions),
        region=None,
        timeout_seconds=settings.outbound_timeout_seconds,
    )


def reset() -> None:
    """Forget every built adapter (after the environment changed); an installed local job invoker stays."""
    for factory in (storage, tenant_credentials, crypto, sftpgo, password_reset_queue):
        factory.cache_clear()
