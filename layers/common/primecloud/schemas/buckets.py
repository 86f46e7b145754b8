"""Buckets and their per-user permissions: what admins send and what members see."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import Field, Strict, StrictBool, StringConstraints, field_validator, model_validator

from primecloud.enums import PermissionLevel
from primecloud.errors import Invalid
from primecloud.rules import (
    LIFECYCLE_ACTIONS,
    MAX_LIFECYCLE_DAYS,
    MAX_LIFECYCLE_PREFIX_LENGTH,
    MAX_LIFECYCLE_RULE_ID_LENGTH,
    MAX_LIFECYCLE_RULES,
    validate_bucket_name,
)
from primecloud.schemas.common import Schema

BucketName = Annotated[
    str,
    StringConstraints(min_length=3, max_length=63),
    Field(
        description="S3 bucket naming rules: 3-63 lowercase letters, digits, dots and hyphens, starting and ending"
        " with a letter or digit; not an IP address. Unique across the platform.",
        examples=["acme-invoices-2026"],
    ),
]
Region = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$", max_length=32),
    Field(description="Storage region (defaults to the platform's region)", examples=["eu-central-1"]),
]
LifecycleDays = Annotated[int, Strict(), Field(ge=1, le=MAX_LIFECYCLE_DAYS, description="Days (1-36500)")]
QuotaBytes = Annotated[int, Strict(), Field(gt=0, le=2**63 - 1, description="Hard limit in bytes")]


class LifecycleRule(Schema):
    """One lifecycle rule (the storage adapter's JSON form); at least one of the ``*_days`` actions."""

    id: str = Field(min_length=1, max_length=MAX_LIFECYCLE_RULE_ID_LENGTH, description="Unique within the bucket")
    prefix: Annotated[str, StringConstraints(strip_whitespace=False, max_length=MAX_LIFECYCLE_PREFIX_LENGTH)] = Field(
        "", description="Objects the rule applies to; empty for the whole bucket"
    )
    enabled: StrictBool = True
    expire_days: LifecycleDays | None = Field(None, description="Delete current objects this many days after upload")
    noncurrent_expire_days: LifecycleDays | None = Field(
        None, description="Delete older versions this many days after they were replaced (versioned buckets)"
    )
    abort_multipart_days: LifecycleDays | None = Field(
        None, description="Abort unfinished multipart uploads after this many days"
    )

    @model_validator(mode="after")
    def _has_an_action(self) -> LifecycleRule:
        if all(getattr(self, action) is None for action in LIFECYCLE_ACTIONS):
            raise ValueError("a rule needs at least one of expire_days, noncurrent_expire_days, abort_multipart_days")
        return self

    def to_dict(self) -> dict[str, Any]:
        """The stored form: unset actions left out (as ``adapters.storage.LifecycleRule.to_dict``)."""
        return self.model_dump(exclude_none=True)


LifecycleRules = Annotated[
    list[LifecycleRule],
    Field(max_length=MAX_LIFECYCLE_RULES, description="Replaces all rules; ids unique within the bucket"),
]


def _unique_rule_ids(rules: list[LifecycleRule] | None) -> list[LifecycleRule] | None:
    if rules is not None and len({rule.id for rule in rules}) != len(rules):
        raise ValueError("lifecycle rule ids must be unique within a bucket")
    return rules


class BucketCreate(Schema):
    name: BucketName
    region: Region | None = None
    versioning: StrictBool = Field(False, description="Keep every version of every object")
    lifecycle_rules: LifecycleRules = Field(default_factory=list)
    quota_bytes: QuotaBytes | None = Field(None, description="Optional hard limit; none means unlimited")

    @field_validator("name")
    @classmethod
    def _s3_name(cls, name: str) -> str:
        try:
            return validate_bucket_name(name)
        except Invalid as exc:  # the message explains the rule, never repeats the name
            raise ValueError(exc.detail) from None

    @field_validator("lifecycle_rules")
    @classmethod
    def _unique_ids(cls, rules: list[LifecycleRule]) -> list[LifecycleRule] | None:
        return _unique_rule_ids(rules)


class BucketUpdate(Schema):
    """Only the fields sent change. ``quota_bytes: null`` removes the quota; the others can't be null."""

    versioning: StrictBool | None = Field(
        None, description="false suspends versioning: S3 keeps the versions already stored and cannot turn it off"
    )
    lifecycle_rules: LifecycleRules | None = Field(None, description="Replaces all rules; [] removes them")
    quota_bytes: QuotaBytes | None = None

    @field_validator("versioning", "lifecycle_rules")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be left out, not null")
        return value

    @field_validator("lifecycle_rules")
    @classmethod
    def _unique_ids(cls, rules: list[LifecycleRule] | None) -> list[LifecycleRule] | None:
        return _unique_rule_ids(rules)


class BucketOut(Schema):
    id: UUID
    name: str
    region: str
    versioning: bool
    lifecycle_rules: list[LifecycleRule]
    quota_bytes: int | None = Field(description="Hard limit in bytes; null is unlimited")
    status: str = Field(description="active, suspended (by the platform) or deleting")
    created_at: datetime
    updated_at: datetime
    my_level: PermissionLevel = Field(
        description="What the caller may do in the bucket: owners and admins admin, members their grant,"
        " viewers read at most"
    )


# --------------------------------------------------------------------------- permissions


class BucketPermissionSet(Schema):
    level: PermissionLevel = Field(description="read < write < admin (admin shares objects and grants permissions)")


class BucketPermissionOut(Schema):
    user_id: UUID
    email: str
    name: str
    role: str = Field(description="The user's role in the account")
    level: PermissionLevel = Field(description="The level granted")
    effective_level: PermissionLevel = Field(
        description="What the grant allows with the user's role: owners and admins have admin anyway,"
        " viewers read at most"
    )
    granted_at: datetime
    updated_at: datetime
