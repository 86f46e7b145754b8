"""API keys of an account: scoped bearer credentials that act for the user who made them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import AwareDatetime, Field, field_validator

from primecloud.access import SCOPES
from primecloud.schemas.common import Schema


class ApiKeyCreate(Schema):
    name: str = Field(min_length=1, max_length=100)
    # The enum documents the names in openapi.json; the validator below checks them (its 422 names them too).
    scopes: list[Annotated[str, Field(max_length=64, json_schema_extra={"enum": sorted(SCOPES)})]] = Field(
        min_length=1, max_length=2 * len(SCOPES)
    )
    expires_at: AwareDatetime | None = Field(None, description="Optional; in the future and at most one year away")

    @field_validator("scopes")
    @classmethod
    def _known_scopes(cls, scopes: list[str]) -> list[str]:
        # The message names the valid set, never the rejected value.
        if not set(scopes) <= SCOPES:
            raise ValueError(f"every scope must be one of: {', '.join(sorted(SCOPES))}")
        return sorted(set(scopes))


class ApiKeyOut(Schema):
    """A key as listings show it: its display prefix, never the secret or its hash."""

    id: UUID
    name: str
    prefix: str
    scopes: list[str]
    created_by: UUID | None
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


class ApiKeyCreated(ApiKeyOut):
    secret: str = Field(description="The key itself, shown only in this response: send it as 'Bearer <secret>'")
