"""SFTP users of an account: logins on the SftpGo server, homed in one of the account's buckets or a folder."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import Field, StrictBool, StringConstraints, field_validator, model_validator

from primecloud.adapters.sftpgo import parse_public_key
from primecloud.errors import Invalid
from primecloud.schemas.common import Schema

SftpName = Annotated[
    str,
    StringConstraints(min_length=3, max_length=32, pattern=r"^[a-z0-9_-]+$"),
    Field(description="3-32 lowercase letters, digits, '_' or '-'; the login is '<account prefix>.<username>'"),
]
# A folder below the account's own SFTP storage: relative, no '.' or '..' segments.
HomeFolder = Annotated[
    str,
    StringConstraints(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$"),
    Field(description="A folder (e.g. 'projects/alpha') in the account's SFTP storage; default: the username"),
]


class SftpUserCreate(Schema):
    """Files live in ``bucket_id`` (an S3 home) or, without it, in ``home_dir``; not both.

    A password is generated (and shown once) unless a ``public_key`` is given; with a key,
    ``generate_password: true`` gives both.
    """

    username: SftpName
    bucket_id: UUID | None = Field(None, description="One of the account's buckets as the user's home")
    home_dir: HomeFolder | None = None
    quota_bytes: int | None = Field(None, ge=1, le=2**63 - 1, description="Null: unlimited")
    public_key: str | None = Field(None, min_length=1, max_length=8192, description="An OpenSSH public key line")
    generate_password: StrictBool | None = Field(None, description="Default: true without a public key, else false")

    @field_validator("home_dir")
    @classmethod
    def _no_dot_segments(cls, home_dir: str | None) -> str | None:
        if home_dir is not None and any(part in {".", ".."} for part in home_dir.split("/")):
            raise ValueError("must not contain '.' or '..' segments")
        return home_dir

    @field_validator("public_key")
    @classmethod
    def _openssh_key(cls, public_key: str | None) -> str | None:
        if public_key is None:
            return None
        try:
            parse_public_key(public_key)
        except Invalid as exc:
            raise ValueError(exc.detail) from None
        return public_key

    @model_validator(mode="after")
    def _home_and_credentials(self) -> SftpUserCreate:
        if self.bucket_id is not None and self.home_dir is not None:
            raise ValueError("give bucket_id or home_dir, not both")
        if self.public_key is None and self.generate_password is False:
            raise ValueError("an SFTP user needs a password or a public_key")
        return self

    @property
    def wants_password(self) -> bool:
        return self.generate_password if self.generate_password is not None else self.public_key is None


class SftpUserOut(Schema):
    id: UUID
    username: str = Field(
        description="The SFTP login: '<account prefix>.<username>'; the prefix is the account's own (its slug,"
        " cut to 31 characters, or shorter with a random suffix when another account has that)"
    )
    bucket_id: UUID | None
    home_dir: str | None = Field(description="The folder in the account's SFTP storage (null for bucket homes)")
    quota_bytes: int | None
    status: str = Field(description="active, or disabled (while the account is suspended)")
    created_at: datetime


class SftpUserCreated(SftpUserOut):
    password: str | None = Field(description="The generated password, shown only in this response (null: key only)")
