"""Types every schema shares: money as strings, pages, problem details."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

# Money and quantities travel as decimal strings ("12.34"), never as JSON floats.
DecimalString = Annotated[Decimal, PlainSerializer(str, return_type=str, when_used="json")]

ItemT = TypeVar("ItemT")


class Schema(BaseModel):
    """Base for API models: reads ORM objects, rejects unknown fields on input."""

    model_config = ConfigDict(from_attributes=True, extra="forbid", str_strip_whitespace=True)


class Page(BaseModel, Generic[ItemT]):
    items: list[ItemT]
    next_cursor: str | None = Field(None, description="Pass as ?cursor= to get the next page; null at the end")


class Problem(BaseModel):
    """RFC 9457 problem details, as every error is answered."""

    type: str
    title: str
    status: int
    detail: str
    request_id: str | None = None
    errors: list[dict[str, Any]] | None = None
