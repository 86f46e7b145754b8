"""The storage interface's value rules: lifecycle JSON, bucket names, tags, tenant policies, error mapping."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from primecloud.adapters.storage import (
    BucketAlreadyExists,
    BucketNotEmpty,
    BucketNotFound,
    LifecycleRule,
    ObjectNotFound,
    bucket_access_policy,
    compact_json,
    parse_lifecycle_rules,
)
from primecloud.adapters.storage_s3 import _client_error, content_disposition
from primecloud.adapters.tenant_aws import MAX_MANAGED_POLICY_CHARS, AwsTenantCredentials
from primecloud.errors import Invalid, Unavailable
from primecloud.rules import validate_bucket_name, validate_tags

# --------------------------------------------------------------------------- lifecycle rules


def test_lifecycle_rule_json_round_trips_and_translates_to_s3() -> None:
    data = {"id": "logs", "prefix": "logs/", "expire_days": 30, "noncurrent_expire_days": 7, "abort_multipart_days": 1}
    rule = LifecycleRule.from_dict(data)
    assert rule.to_dict() == {**data, "enabled": True}
    assert rule.to_s3() == {
        "ID": "logs",
        "Filter": {"Prefix": "logs/"},
        "Status": "Enabled",
        "Expiration": {"Days": 30},
        "NoncurrentVersionExpiration": {"NoncurrentDays": 7},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
    }


def test_a_minimal_rule_covers_the_whole_bucket() -> None:
    rule = LifecycleRule.from_dict({"id": "all", "expire_days": 1})
    assert rule.to_s3() == {"ID": "all", "Filter": {"Prefix": ""}, "Status": "Enabled", "Expiration": {"Days": 1}}
    assert rule.to_dict() == {"id": "all", "prefix": "", "enabled": True, "expire_days": 1}


@pytest.mark.parametrize(
    "data",
    [
        {"prefix": "x/", "expire_days": 1},  # no id
        {"id": "", "expire_days": 1},
        {"id": "x" * 256, "expire_days": 1},
        {"id": "x"},  # no action
        {"id": "x", "expire_days": 0},
        {"id": "x", "expire_days": -3},
        {"id": "x", "expire_days": 1.5},
        {"id": "x", "expire_days": True},
        {"id": "x", "expire_days": "7"},
        {"id": "x", "expire_days": 1, "enabled": "yes"},
        {"id": "x", "expire_days": 1, "prefix": 5},
        {"id": "x", "expire_days": 1, "storage_class": "GLACIER"},  # unknown field
    ],
)
def test_invalid_lifecycle_rules_are_refused(data: dict[str, Any]) -> None:
    with pytest.raises(Invalid):
        LifecycleRule.from_dict(data)


def test_rule_ids_must_be_unique_and_parsed_rules_pass_through() -> None:
    with pytest.raises(Invalid):
        parse_lifecycle_rules([{"id": "a", "expire_days": 1}, {"id": "a", "expire_days": 2}])
    rule = LifecycleRule(id="kept", expire_days=3)
    assert parse_lifecycle_rules([rule, {"id": "b", "expire_days": 1}])[0] is rule


# --------------------------------------------------------------------------- names and tags


@pytest.mark.parametrize("name", ["abc", "my-bucket.logs", "a" * 63, "0-numbers-1"])
def test_valid_bucket_names(name: str) -> None:
    assert validate_bucket_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["ab", "a" * 64, "Caps", "under_score", "-dash", "dash-", "dot.", "a..b", "a.-b", "10.0.0.1", "xn--x", "x-s3alias"],
)
def test_invalid_bucket_names(name: str) -> None:
    with pytest.raises(Invalid):
        validate_bucket_name(name)


def test_tag_limits() -> None:
    assert validate_tags({"k": ""}, limit=10) == {"k": ""}
    with pytest.raises(Invalid):
        validate_tags({str(i): "v" for i in range(11)}, limit=10)
    with pytest.raises(Invalid):
        validate_tags({"": "v"}, limit=10)
    with pytest.raises(Invalid):
        validate_tags({"k": "v" * 257}, limit=10)


def test_content_disposition_keeps_no_quotes_paths_or_control_characters() -> None:
    assert content_disposition("report.pdf") == "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
    header = content_disposition('../../etc/"passwd"\r\nX-Evil: 1')
    assert "\r" not in header and "\n" not in header and "/" not in header.split("filename*=")[0]
    assert content_disposition("   ").startswith('attachment; filename="download"')
    assert content_disposition("Ünïcödé.txt") == (
        "attachment; filename=\"_n_c_d_.txt\"; filename*=UTF-8''%C3%9Cn%C3%AFc%C3%B6d%C3%A9.txt"
    )


# --------------------------------------------------------------------------- tenant policies


def test_bucket_policy_lists_each_bucket_and_its_objects_once() -> None:
    policy = bucket_access_policy(["b", "a", "b"])
    (statement,) = policy["Statement"]
    assert statement["Resource"] == ["arn:aws:s3:::a", "arn:aws:s3:::a/*", "arn:aws:s3:::b", "arn:aws:s3:::b/*"]
    assert statement["Effect"] == "Allow" and "s3:ListAllMyBuckets" not in statement["Action"]
    assert all(action.startswith("s3:") and "*" not in action for action in statement["Action"])


def test_an_empty_bucket_list_gives_a_deny_all_policy() -> None:
    (statement,) = bucket_access_policy([])["Statement"]
    assert (statement["Effect"], statement["Action"], statement["Resource"]) == ("Deny", ["s3:*"], ["arn:aws:s3:::*"])


def test_aws_policy_size_limit_fits_dozens_of_long_bucket_names() -> None:
    names = [f"{index:02d}-" + "x" * 60 for index in range(30)]
    assert len(AwsTenantCredentials.policy_document(names)) <= MAX_MANAGED_POLICY_CHARS
    assert " " not in compact_json(bucket_access_policy(names))
    with pytest.raises(Invalid):
        AwsTenantCredentials.policy_document([f"{index:03d}-" + "x" * 59 for index in range(60)])


# --------------------------------------------------------------------------- S3 error mapping


def _error(code: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


@pytest.mark.parametrize(
    ("code", "key", "expected"),
    [
        ("NoSuchBucket", None, BucketNotFound),
        ("NoSuchBucket", "k", BucketNotFound),
        ("404", None, BucketNotFound),
        ("404", "k", ObjectNotFound),
        ("NoSuchKey", "k", ObjectNotFound),
        ("NoSuchVersion", "k", ObjectNotFound),
        ("BucketAlreadyExists", None, BucketAlreadyExists),
        ("BucketAlreadyOwnedByYou", None, BucketAlreadyExists),
        ("BucketNotEmpty", None, BucketNotEmpty),
        ("InvalidBucketName", None, Invalid),
        ("InvalidTag", "k", Invalid),
        ("AccessDenied", None, Unavailable),
        ("SlowDown", None, Unavailable),
        ("InternalError", "k", Unavailable),
    ],
)
def test_s3_error_codes_map_to_domain_errors(code: str, key: str | None, expected: type[Exception]) -> None:
    error = _client_error(_error(code), "GetThing", "bkt", key)
    assert type(error) is expected
    if expected is Unavailable:
        assert error.detail == f"The storage backend failed GetThing ({code})."
