"""Access keys: a tenant's S3 credentials in the storage backend, limited to some or all of its buckets."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import Field, field_validator

from primecloud.enums import AccessKeyStatus
from primecloud.schemas.common import Schema

# Bounds the request only: the backend's own limit (AWS: 10 policies of 6,144 characters, about
# 350 long names) is a 409 from the adapter, also for "every bucket" keys (docs/storage-access.md).
MAX_BUCKETS_PER_KEY = 100

KeyName = Annotated[str, Field(min_length=1, max_length=100, description="A label for people, e.g. 'CI deploy'")]
BucketIds = Annotated[
    list[UUID],
    Field(
        max_length=MAX_BUCKETS_PER_KEY,
        description="Live buckets of the account the key may use; empty means every bucket of the account,"
        " including buckets created later",
    ),
]


def _unique(bucket_ids: list[UUID]) -> list[UUID]:
    return list(dict.fromkeys(bucket_ids))


class AccessKeyCreate(Schema):
    name: KeyName
    bucket_ids: BucketIds = Field(default_factory=list)

    _unique_buckets = field_validator("bucket_ids")(_unique)


class AccessKeyUpdate(Schema):
    """Only the fields sent change; none of them may be null."""

    name: KeyName | None = None
    status: Literal["active", "disabled"] | None = Field(
        None, description="'disabled' keeps the key but the backend refuses it until it is 'active' again"
    )
    bucket_ids: BucketIds | None = None

    @field_validator("name", "status", "bucket_ids")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be left out, not null")
        return value

    _unique_buckets = field_validator("bucket_ids")(_unique)


class AccessKeyOut(Schema):
    """A key as listings show it: its id in the backend, never its secret."""

    id: UUID
    name: str
    access_key_id: str = Field(description="The S3 access key id (public half of the credential)")
    status: AccessKeyStatus
    bucket_ids: list[UUID] = Field(description="The buckets it may use; empty: every bucket of the account")
    created_by: UUID | None = Field(
        description="The member who created the key (null once that user is deleted); the key belongs to the"
        " account and keeps working when that member is removed"
    )
    last_used_at: datetime | None
    created_at: datetime


class AccessKeyCreated(AccessKeyOut):
    secret_access_key: str = Field(description="The S3 secret key, shown only in this response")
