"""Invoice documents (PDF, CSV) in the platform's documents bucket: put, get, delete, presigned GET.

The documents bucket is the platform's own (never a tenant's): AWS S3 in a deployment, moto
locally (boto3 finds it through ``AWS_ENDPOINT_URL``). boto3 is imported on first use, and
backend errors become ``primecloud.errors`` errors the way ``storage_s3`` translates them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from primecloud import clock
from primecloud.adapters.storage import PresignedRequest
from primecloud.adapters.storage_s3 import _translated, content_disposition
from primecloud.rules import validate_object_key

if TYPE_CHECKING:
    from primecloud.adapters.storage_s3 import S3ObjectStorage

DOCUMENT_URL_SECONDS = 300  # presigned document links live five minutes


@dataclass(frozen=True)
class StoredDocument:
    """Where a document went; ``version_id`` is set when the bucket keeps versions."""

    bucket: str
    key: str
    version_id: str | None = None


@runtime_checkable
class DocumentStore(Protocol):
    def put_document(self, bucket: str, key: str, body: bytes, *, content_type: str) -> StoredDocument: ...

    def get_document(self, bucket: str, key: str) -> bytes: ...

    def delete_document(self, document: StoredDocument) -> None: ...

    def presign_document(
        self, bucket: str, key: str, *, filename: str, expires_in: int = DOCUMENT_URL_SECONDS
    ) -> PresignedRequest: ...


class S3Documents:
    """``DocumentStore`` over the S3 API (boto3 client built on first use unless one is given)."""

    def __init__(self, *, region: str | None = None, timeout_seconds: float = 5.0, client: Any = None) -> None:
        self.region = region
        self.timeout_seconds = timeout_seconds
        self._client = client

    @classmethod
    def sharing(cls, storage: S3ObjectStorage) -> S3Documents:
        """Documents through the client of an existing ``S3ObjectStorage`` (same endpoint, same pool)."""
        return cls(region=storage.region, timeout_seconds=storage.timeout_seconds, client=storage.client)

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            config = Config(
                connect_timeout=self.timeout_seconds,
                read_timeout=self.timeout_seconds,
                retries={"max_attempts": 3, "mode": "standard"},
                signature_version="s3v4",
            )
            self._client = boto3.client("s3", region_name=self.region, config=config)
        return self._client

    def put_document(self, bucket: str, key: str, body: bytes, *, content_type: str) -> StoredDocument:
        validate_object_key(key)
        with _translated("PutObject", bucket, key):
            response = self.client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
        return StoredDocument(bucket=bucket, key=key, version_id=response.get("VersionId"))

    def get_document(self, bucket: str, key: str) -> bytes:
        with _translated("GetObject", bucket, key):
            response = self.client.get_object(Bucket=bucket, Key=validate_object_key(key))
            body: bytes = response["Body"].read()
        return body

    def delete_document(self, document: StoredDocument) -> None:
        """Remove exactly the version that was written (or the key, without versioning)."""
        arguments: dict[str, Any] = {"Bucket": document.bucket, "Key": document.key}
        if document.version_id:
            arguments["VersionId"] = document.version_id
        with _translated("DeleteObject", document.bucket, document.key):
            self.client.delete_object(**arguments)

    def presign_document(
        self, bucket: str, key: str, *, filename: str, expires_in: int = DOCUMENT_URL_SECONDS
    ) -> PresignedRequest:
        params = {
            "Bucket": bucket,
            "Key": validate_object_key(key),
            "ResponseContentDisposition": content_disposition(filename),
        }
        with _translated("PresignGetObject", bucket, key):
            url = self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)
        return PresignedRequest(
            url=url, method="GET", headers={}, expires_at=clock.now() + timedelta(seconds=expires_in)
        )


@lru_cache(maxsize=1)
def default_documents() -> DocumentStore:
    """The container's document store, from Settings."""
    from primecloud.config import get_settings

    settings = get_settings()
    return S3Documents(region=settings.storage_region, timeout_seconds=settings.outbound_timeout_seconds)
