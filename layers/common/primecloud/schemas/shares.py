"""Share links: a public, expiring (optionally password-protected, download-limited) link to one object."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import AwareDatetime, Field, StringConstraints, field_validator, model_validator

from primecloud.schemas.common import Schema

MAX_SHARE_SECONDS = 30 * 24 * 3600
MAX_DOWNLOADS = 2**31 - 1  # the column is an INTEGER

# Object keys are taken exactly as given: a leading or trailing space is part of the key.
ObjectKey = Annotated[str, StringConstraints(strip_whitespace=False, min_length=1, max_length=1024)]
SharePassword = Annotated[
    str,
    StringConstraints(strip_whitespace=False, min_length=8, max_length=256),
    Field(description="8 to 256 characters, not starting or ending with whitespace"),
]


class ShareCreate(Schema):
    """Give exactly one of ``expires_in_seconds`` and ``expires_at``; a link lives at most 30 days."""

    key: ObjectKey = Field(description="The object's key; it must exist")
    expires_in_seconds: int | None = Field(None, ge=1, le=MAX_SHARE_SECONDS, description="1 s to 30 days")
    expires_at: AwareDatetime | None = Field(None, description="In the future and at most 30 days away")
    password: SharePassword | None = Field(
        None, description="Downloads must then send it in the X-Share-Password header (stored only hashed)"
    )
    max_downloads: int | None = Field(None, ge=1, le=MAX_DOWNLOADS, description="Null: unlimited until expiry")

    @field_validator("password")
    @classmethod
    def _no_surrounding_whitespace(cls, password: str | None) -> str | None:
        # HTTP trims header values, so such a password could never be sent in X-Share-Password.
        if password is not None and password != password.strip():
            raise ValueError("must not start or end with whitespace")
        return password

    @model_validator(mode="after")
    def _one_expiry(self) -> ShareCreate:
        if (self.expires_in_seconds is None) == (self.expires_at is None):
            raise ValueError("give exactly one of expires_in_seconds and expires_at")
        return self


class ShareOut(Schema):
    """A link as listings show it: never its token or a hash."""

    id: UUID
    key: str
    expires_at: datetime
    max_downloads: int | None
    download_count: int
    password_protected: bool
    revoked_at: datetime | None
    created_by: UUID | None
    created_at: datetime


class ShareCreated(ShareOut):
    token: str = Field(description="The link's secret, shown only in this response")
    url: str = Field(description="The public link: GET it to download (302 to a URL valid 5 minutes)")
