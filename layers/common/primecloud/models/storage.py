"""Storage metadata: buckets, tenant access keys, per-bucket permissions, object extras, SFTP users.

Objects themselves live in the storage backend; these tables hold what the backend does not.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
    Uuid,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

import primecloud.models.iam  # noqa: F401 - loads the tables its foreign keys name
from primecloud.models.base import Base, SoftDelete, Timestamps, UUIDPrimaryKey
from primecloud.models.enums import AccessKeyStatus, BucketStatus, PermissionLevel, SftpUserStatus, one_of
from primecloud.rules import BUCKET_NAME_PATTERN


class Bucket(Base, UUIDPrimaryKey, Timestamps, SoftDelete):
    __tablename__ = "buckets"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    region: Mapped[str] = mapped_column(String(32))
    versioning: Mapped[bool] = mapped_column(server_default=false())
    lifecycle_rules: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    quota_bytes: Mapped[int | None] = mapped_column(BigInteger)  # None: unlimited
    status: Mapped[str] = mapped_column(String(16), server_default=BucketStatus.ACTIVE.value)

    __table_args__ = (
        # Names are global in the backend; a deleted bucket's name is free again.
        Index("uq_buckets_live_name", "name", unique=True, postgresql_where=text("deleted_at IS NULL")),
        CheckConstraint(f"name ~ '{BUCKET_NAME_PATTERN}'", name="name_dns_safe"),
        one_of("status", BucketStatus),
    )


class AccessKey(Base, UUIDPrimaryKey, Timestamps):
    """S3-style credentials for a tenant; the secret is kept only encrypted (KMS)."""

    __tablename__ = "access_keys"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    access_key_id: Mapped[str] = mapped_column(String(128), unique=True)
    secret_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), server_default=AccessKeyStatus.ACTIVE.value)
    # Empty: every bucket of the account.
    allowed_bucket_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid), server_default=text("'{}'::uuid[]"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    last_used_at: Mapped[datetime | None]

    __table_args__ = (one_of("status", AccessKeyStatus),)


class BucketPermission(Base, UUIDPrimaryKey, Timestamps):
    __tablename__ = "bucket_permissions"

    bucket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("buckets.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    level: Mapped[str] = mapped_column(String(16))

    __table_args__ = (UniqueConstraint("bucket_id", "user_id"), one_of("level", PermissionLevel))


class ObjectFavorite(Base, UUIDPrimaryKey, Timestamps):
    __tablename__ = "object_favorites"

    bucket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("buckets.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    object_key: Mapped[str] = mapped_column(String(1024))

    __table_args__ = (UniqueConstraint("bucket_id", "user_id", "object_key"),)


class ObjectTag(Base, UUIDPrimaryKey, Timestamps):
    __tablename__ = "object_tags"

    bucket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("buckets.id", ondelete="CASCADE"))
    object_key: Mapped[str] = mapped_column(String(1024))
    # S3 limits: 128-character keys, 256-character values.
    tag_key: Mapped[str] = mapped_column(String(128))
    tag_value: Mapped[str] = mapped_column(String(256))

    __table_args__ = (UniqueConstraint("bucket_id", "object_key", "tag_key"),)


class ObjectShare(Base, UUIDPrimaryKey, Timestamps):
    """A public link to one object; the token is stored hashed, the optional password too."""

    __tablename__ = "object_shares"

    bucket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("buckets.id", ondelete="CASCADE"), index=True)
    object_key: Mapped[str] = mapped_column(String(1024))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    expires_at: Mapped[datetime | None]
    password_hash: Mapped[str | None] = mapped_column(String(255))
    max_downloads: Mapped[int | None]
    download_count: Mapped[int] = mapped_column(server_default=text("0"))
    revoked_at: Mapped[datetime | None]


class SftpUser(Base, UUIDPrimaryKey, Timestamps, SoftDelete):
    __tablename__ = "sftp_users"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    username: Mapped[str] = mapped_column(String(64))
    # Either a bucket or a home directory; a purged bucket leaves the user for deprovisioning.
    bucket_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("buckets.id", ondelete="SET NULL"), index=True)
    home_dir: Mapped[str | None] = mapped_column(String(1024))
    quota_bytes: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), server_default=SftpUserStatus.ACTIVE.value)

    __table_args__ = (
        Index(
            "uq_sftp_users_live_username",
            "username",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
        ),
        one_of("status", SftpUserStatus),
    )


__all__ = [
    "AccessKey",
    "Bucket",
    "BucketPermission",
    "ObjectFavorite",
    "ObjectShare",
    "ObjectTag",
    "SftpUser",
]
