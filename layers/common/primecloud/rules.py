"""The domain's value rules, in one place: bucket names, object keys, tags, lifecycle-rule limits.

Schemas (the API's documents and 422s), models (check constraints), adapters (what they send the
backend) and services all check values against these, so a rule changes in one place. Plain
Python only (no pydantic, no SQLAlchemy): adapters import it, and it must stay cheap to load.
A broken rule raises ``Invalid`` with a message that explains the rule and never repeats the value.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

from primecloud.errors import Invalid

# --------------------------------------------------------------------------- bucket names

# S3's general-purpose bucket naming: 3-63 characters, lowercase letters, digits, dots and
# hyphens, starting and ending with a letter or digit (also the buckets table's check constraint).
BUCKET_NAME_PATTERN = "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
_BUCKET_NAME = re.compile(BUCKET_NAME_PATTERN)
_RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def validate_bucket_name(name: str) -> str:
    """S3's general-purpose bucket naming rules (DNS-safe, no dots next to each other, not an IP)."""
    if not _BUCKET_NAME.match(name) or ".." in name or ".-" in name or "-." in name:
        raise Invalid(
            "Bucket names have 3-63 lowercase letters, digits, dots or hyphens"
            " and start and end with a letter or digit."
        )
    if name.startswith(_RESERVED_BUCKET_PREFIXES) or name.endswith(_RESERVED_BUCKET_SUFFIXES):
        raise Invalid("This bucket name uses a reserved prefix or suffix.")
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return name
    raise Invalid("A bucket name must not look like an IP address.")


# --------------------------------------------------------------------------- object keys

MAX_OBJECT_KEY_BYTES = 1024  # S3's limit, in UTF-8 bytes


def validate_object_key(key: str) -> str:
    if not key or len(key.encode()) > MAX_OBJECT_KEY_BYTES:
        raise Invalid("An object key has 1 to 1024 bytes.")
    return key


# --------------------------------------------------------------------------- tags

MAX_OBJECT_TAGS = 10
MAX_BUCKET_TAGS = 50
MAX_TAG_KEY_LENGTH = 128
MAX_TAG_VALUE_LENGTH = 256
# What S3 accepts in object tag keys and values: letters, digits, spaces and + - = . _ : / @
_TAG_TEXT = re.compile(r"[\w +\-=.:/@]*")
_RESERVED_TAG_PREFIX = "aws:"


def validate_tags(tags: Mapping[str, str], *, limit: int) -> dict[str, str]:
    """S3 tag rules: at most ``limit`` tags, keys 1-128 and values 0-256 characters."""
    if len(tags) > limit:
        raise Invalid(f"At most {limit} tags are allowed.")
    for tag_key, tag_value in tags.items():
        if not isinstance(tag_key, str) or not 1 <= len(tag_key) <= MAX_TAG_KEY_LENGTH:
            raise Invalid("Tag keys have 1 to 128 characters.")
        if not isinstance(tag_value, str) or len(tag_value) > MAX_TAG_VALUE_LENGTH:
            raise Invalid("Tag values have at most 256 characters.")
    return dict(tags)


def validate_object_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """An object's tag set as the API takes it: S3's tag rules, its characters, no reserved keys."""
    checked = validate_tags(tags, limit=MAX_OBJECT_TAGS)
    for tag_key, tag_value in checked.items():
        if not _TAG_TEXT.fullmatch(tag_key) or not _TAG_TEXT.fullmatch(tag_value):
            raise Invalid("tag keys and values may hold letters, digits, spaces and + - = . _ : / @ only")
        if tag_key.lower().startswith(_RESERVED_TAG_PREFIX):
            raise Invalid("tag keys starting with 'aws:' are reserved")
    return checked


# --------------------------------------------------------------------------- lifecycle rules

# A rule's JSON form (see ``adapters.storage``): an id, a prefix, an enabled flag and these actions,
# at least one of them given.
MAX_LIFECYCLE_RULES = 1000
MAX_LIFECYCLE_RULE_ID_LENGTH = 255
MAX_LIFECYCLE_PREFIX_LENGTH = 1024  # the API counts characters, the stored form bytes
MAX_LIFECYCLE_DAYS = 36_500  # a hundred years: longer is a typo, not a retention policy
LIFECYCLE_ACTIONS = ("expire_days", "noncurrent_expire_days", "abort_multipart_days")
