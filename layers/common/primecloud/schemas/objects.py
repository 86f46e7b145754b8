"""Objects in a bucket: listings, presigned upload/download URLs, object tags and favorites.

Object keys and tags are taken and given back as they are: unlike other strings they are not
stripped, since `" report.pdf"` and `"report.pdf"` are two different objects in S3.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import ConfigDict, Field, StringConstraints, field_validator

from primecloud.rules import MAX_OBJECT_KEY_BYTES, MAX_OBJECT_TAGS, MAX_TAG_KEY_LENGTH, MAX_TAG_VALUE_LENGTH
from primecloud.schemas.common import Page, Schema

MAX_KEY_LENGTH = MAX_OBJECT_KEY_BYTES  # characters here; the service also holds S3's limit in UTF-8 bytes
# No control characters in keys, prefixes and delimiters: S3 lists keys in XML 1.0, which cannot carry
# them (a listing of such a key fails), and AWS advises against them in key names.
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]*$"

ObjectKey = Annotated[
    str,
    StringConstraints(strip_whitespace=False, min_length=1, max_length=MAX_KEY_LENGTH, pattern=NO_CONTROL_CHARACTERS),
]

# The ?key= every per-object route takes.
ObjectKeyQuery = Annotated[
    str,
    Query(
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        pattern=NO_CONTROL_CHARACTERS,
        description="The object's key (1-1024 bytes as UTF-8)",
    ),
]
PrefixQuery = Annotated[
    str, Query(max_length=MAX_KEY_LENGTH, pattern=NO_CONTROL_CHARACTERS, description="Only keys starting with this")
]
DelimiterQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=16,
        pattern=NO_CONTROL_CHARACTERS,
        description="Group keys up to this (e.g. '/') into common_prefixes",
    ),
]


class VerbatimSchema(Schema):
    """An output carrying object keys or tags: its strings are given back unstripped."""

    model_config = ConfigDict(str_strip_whitespace=False)


# --------------------------------------------------------------------------- listing


class ObjectOut(VerbatimSchema):
    key: str
    size: int = Field(description="Bytes")
    etag: str
    last_modified: datetime


class ObjectListing(Page[ObjectOut]):
    common_prefixes: list[str] = Field(
        default_factory=list, description="With a delimiter: the 'folders' at this level (each ends with it)"
    )


# --------------------------------------------------------------------------- presigned URLs


class UploadUrlRequest(Schema):
    key: ObjectKey
    content_type: str = Field(
        "application/octet-stream",
        min_length=3,
        max_length=255,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*(;[ -~]*)?$",
        description="The MIME type the object is stored with; the upload must send exactly this",
    )
    size: int = Field(gt=0, description="Bytes the upload will send; it must send exactly this many")


class PresignedUrlOut(VerbatimSchema):
    """A URL the client calls itself, before ``expires_at``, sending exactly ``headers``."""

    key: str
    url: str
    method: Literal["GET", "PUT"]
    headers: dict[str, str] = Field(description="Send exactly these (they are part of the signature)")
    expires_at: datetime


class DownloadUrlRequest(Schema):
    key: ObjectKey


class DownloadUrlOut(PresignedUrlOut):
    size: int = Field(description="Bytes")
    etag: str


# --------------------------------------------------------------------------- tags

RawText = Annotated[str, StringConstraints(strip_whitespace=False)]


class ObjectTagsIn(Schema):
    tags: dict[RawText, RawText] = Field(
        max_length=MAX_OBJECT_TAGS,
        description=(
            f"Replaces the object's tags: at most {MAX_OBJECT_TAGS}; keys 1-128 and values 0-256 characters"
            " (letters, digits, spaces and + - = . _ : / @); keys must not start with 'aws:'"
        ),
        # The limits validate_tags enforces, for the document (propertyNames/maxLength).
        json_schema_extra={
            "propertyNames": {"minLength": 1, "maxLength": MAX_TAG_KEY_LENGTH},
            "additionalProperties": {"type": "string", "maxLength": MAX_TAG_VALUE_LENGTH},
        },
    )

    @field_validator("tags", mode="before")
    @classmethod
    def _strings_only(cls, value: Any) -> Any:
        # Checked before the item types, so an error names body.tags and never echoes a tag.
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise ValueError("tags must be an object of string keys and string values")
        return value


class ObjectTagsOut(VerbatimSchema):
    key: str
    tags: dict[str, str]


# --------------------------------------------------------------------------- favorites


class FavoriteOut(VerbatimSchema):
    bucket_id: UUID
    bucket_name: str
    key: str
    created_at: datetime
