"""Settings read once per container from the environment (pydantic-settings)."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    environment: str = Field("local", alias="ENVIRONMENT")

    # Database: a URL locally; a Secrets Manager ARN (RDS secret JSON) in AWS.
    database_url: str | None = Field(None, alias="DATABASE_URL")
    database_secret_arn: str | None = Field(None, alias="DATABASE_SECRET_ARN")
    database_name: str = Field("primecloud", alias="DATABASE_NAME")
    database_ssl: bool = Field(False, alias="DATABASE_SSL")
    database_ssl_ca_file: str | None = Field(None, alias="DATABASE_SSL_CA_FILE")
    database_pool_size: int = Field(2, alias="DATABASE_POOL_SIZE")  # a job holds its lock on one
    database_connect_timeout: int = Field(5, alias="DATABASE_CONNECT_TIMEOUT")
    database_statement_timeout_ms: int = Field(25_000, alias="DATABASE_STATEMENT_TIMEOUT_MS")
    # A pooled connection idle longer than this is pinged before use (a frozen container may wake up to
    # one the server or RDS Proxy closed); one used more recently goes straight to work.
    database_ping_after_idle_seconds: float = Field(30.0, alias="DATABASE_PING_AFTER_IDLE_SECONDS")

    # Storage backend (S3-compatible) and its tenant-credential/usage flavour.
    storage_backend: Literal["aws", "minio"] = Field("aws", alias="STORAGE_BACKEND")
    storage_endpoint_url: str | None = Field(None, alias="STORAGE_ENDPOINT_URL")
    storage_region: str = Field("us-east-1", alias="STORAGE_REGION")
    storage_public_endpoint_url: str | None = Field(None, alias="STORAGE_PUBLIC_ENDPOINT_URL")
    outbound_timeout_seconds: float = Field(5.0, alias="OUTBOUND_TIMEOUT_SECONDS")

    # SFTP (SftpGo REST v2 for provisioning, SSH for file access).
    sftpgo_url: str | None = Field(None, alias="SFTPGO_URL")
    sftpgo_api_key_secret_arn: str | None = Field(None, alias="SFTPGO_API_KEY_SECRET_ARN")
    sftpgo_api_key: str | None = Field(None, alias="SFTPGO_API_KEY")
    sftp_host: str | None = Field(None, alias="SFTP_HOST")
    sftp_port: int = Field(22, alias="SFTP_PORT")

    # Secrets at rest, mail, queues, documents.
    kms_key_id: str | None = Field(None, alias="KMS_KEY_ID")
    sender_email: str = Field("no-reply@primecloud.example", alias="SENDER_EMAIL")
    usage_queue_url: str | None = Field(None, alias="USAGE_QUEUE_URL")
    password_reset_queue_url: str | None = Field(None, alias="PASSWORD_RESET_QUEUE_URL")
    # Count a bucket's bytes by listing it when the backend reports no storage figure (CloudWatch's
    # daily metrics not there yet, moto); off for large deployments where listing is too slow.
    usage_listing_fallback: bool = Field(True, alias="USAGE_LISTING_FALLBACK")
    documents_bucket: str = Field("primecloud-documents", alias="DOCUMENTS_BUCKET")
    public_base_url: str = Field("http://127.0.0.1:3000", alias="PUBLIC_BASE_URL")

    # Sessions and tokens.
    access_token_ttl_seconds: int = Field(900, alias="ACCESS_TOKEN_TTL_SECONDS")
    refresh_token_ttl_days: int = Field(30, alias="REFRESH_TOKEN_TTL_DAYS")

    # Billing and dunning.
    invoice_net_days: int = Field(14, alias="INVOICE_NET_DAYS")
    dunning_reminder_days: str = Field("1,7,14", alias="DUNNING_REMINDER_DAYS")
    dunning_suspend_days: int = Field(30, alias="DUNNING_SUSPEND_DAYS")
    default_currency: str = Field("EUR", alias="DEFAULT_CURRENCY")
    default_tax_rate: Decimal = Field(Decimal("0"), alias="DEFAULT_TAX_RATE")

    # Retention (days).
    retention_deleted_bucket_days: int = Field(7, alias="RETENTION_DELETED_BUCKET_DAYS")
    retention_deleted_account_days: int = Field(30, alias="RETENTION_DELETED_ACCOUNT_DAYS")
    retention_notification_days: int = Field(90, alias="RETENTION_NOTIFICATION_DAYS")
    retention_audit_days: int = Field(365, alias="RETENTION_AUDIT_DAYS")
    retention_audit_critical_days: int = Field(2555, alias="RETENTION_AUDIT_CRITICAL_DAYS")
    retention_usage_months: int = Field(24, alias="RETENTION_USAGE_MONTHS")
    retention_job_run_days: int = Field(90, alias="RETENTION_JOB_RUN_DAYS")
    # Spent credentials (expired/revoked sessions, used reset tokens, settled invitations, dead share
    # links, expired idempotency keys, old rate-limit windows) stay this long for support questions.
    retention_spent_token_days: int = Field(1, alias="RETENTION_SPENT_TOKEN_DAYS")

    # Starting jobs on demand: "lambda" (async invoke of the job's function, named in JOB_FUNCTIONS as
    # "job=function-name,...") or "local" (a thread of this process); unset: local for the local/test
    # environments, lambda elsewhere.
    job_invoker: Literal["lambda", "local"] | None = Field(None, alias="JOB_INVOKER")
    job_functions: str = Field("", alias="JOB_FUNCTIONS")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The container's settings; cached because the environment does not change while warm."""
    return Settings()
