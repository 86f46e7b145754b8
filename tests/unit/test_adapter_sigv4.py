"""An independent AWS Signature V4 checker (what S3 and MinIO do on their side), and its own tests.

The adapter tests use it to prove what a backend would accept: that a presigned PUT binds its
Content-Length and Content-Type, and that MinioAdmin requests are signed with the admin key.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest

ALGORITHM = "AWS4-HMAC-SHA256"


def _uri_encode(value: str) -> str:
    return quote(value, safe="-_.~")


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _signature(
    secret: str,
    *,
    method: str,
    path: str,
    query: list[tuple[str, str]],
    headers: Mapping[str, str],
    signed_headers: list[str],
    payload_hash: str,
    amz_date: str,
    scope: str,
) -> str:
    canonical_query = "&".join(f"{_uri_encode(k)}={_uri_encode(v)}" for k, v in sorted(query))
    lowered = {name.lower(): " ".join(str(value).split()) for name, value in headers.items()}
    canonical_headers = "".join(f"{name}:{lowered.get(name, '')}\n" for name in signed_headers)
    canonical_request = "\n".join(
        [
            method,
            path,  # as sent: already URI-encoded once, S3 does not encode it again
            canonical_query,
            canonical_headers,
            ";".join(signed_headers),
            payload_hash,
        ]
    )
    date, region, service, _ = scope.split("/", 3)
    string_to_sign = "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()])
    return hmac.new(_signing_key(secret, date, region, service), string_to_sign.encode(), hashlib.sha256).hexdigest()


def presigned_url_accepts(url: str, method: str, headers: Mapping[str, str], secret: str) -> bool:
    """Would S3 accept ``method url`` sent with ``headers`` (names as sent; Host is added from the URL)?"""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    params = dict(query)
    signed_headers = params["X-Amz-SignedHeaders"].split(";")
    scope = params["X-Amz-Credential"].split("/", 1)[1]
    sent = {"host": parts.netloc, **{name.lower(): value for name, value in headers.items()}}
    if any(name not in sent for name in signed_headers):
        return False
    expected = _signature(
        secret,
        method=method,
        path=parts.path,
        query=[(k, v) for k, v in query if k != "X-Amz-Signature"],
        headers=sent,
        signed_headers=signed_headers,
        payload_hash="UNSIGNED-PAYLOAD",
        amz_date=params["X-Amz-Date"],
        scope=scope,
    )
    return hmac.compare_digest(expected, params["X-Amz-Signature"])


def header_signature_valid(
    method: str, path: str, raw_query: str, headers: Mapping[str, str], secret: str
) -> tuple[bool, str]:
    """(signature valid?, access key) for a request signed in its Authorization header."""
    lowered = {name.lower(): value for name, value in headers.items()}
    algorithm, _, fields_text = lowered["authorization"].partition(" ")
    fields = dict(part.strip().split("=", 1) for part in fields_text.split(","))
    access_key, scope = fields["Credential"].split("/", 1)
    expected = _signature(
        secret,
        method=method,
        path=path,
        query=parse_qsl(raw_query, keep_blank_values=True),
        headers=lowered,
        signed_headers=fields["SignedHeaders"].split(";"),
        payload_hash=lowered["x-amz-content-sha256"],
        amz_date=lowered["x-amz-date"],
        scope=scope,
    )
    return algorithm == ALGORITHM and hmac.compare_digest(expected, fields["Signature"]), access_key


# --------------------------------------------------------------------------- the checker's own tests


@pytest.fixture
def s3_client() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:9000",
        region_name="eu-central-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def test_checker_accepts_what_botocore_presigns_and_nothing_else(s3_client: Any) -> None:
    url = s3_client.generate_presigned_url(
        "put_object", Params={"Bucket": "bkt", "Key": "dir/a file+ü.txt", "ContentType": "text/plain"}
    )
    secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    assert presigned_url_accepts(url, "PUT", {"Content-Type": "text/plain"}, secret)
    assert not presigned_url_accepts(url, "PUT", {"Content-Type": "text/html"}, secret)
    assert not presigned_url_accepts(url, "GET", {"Content-Type": "text/plain"}, secret)
    assert not presigned_url_accepts(url, "PUT", {"Content-Type": "text/plain"}, "another-secret")
    assert not presigned_url_accepts(url.replace("a%20file", "b%20file"), "PUT", {"Content-Type": "text/plain"}, secret)


def test_checker_verifies_a_header_signed_request() -> None:
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    body = b'{"quota":5}'
    request = AWSRequest(
        method="PUT",
        url="http://127.0.0.1:9000/minio/admin/v3/set-bucket-quota?bucket=bkt-a",
        data=body,
        headers={"x-amz-content-sha256": hashlib.sha256(body).hexdigest()},
    )
    S3SigV4Auth(Credentials("ADMINKEY", "admin-secret"), "s3", "us-east-1").add_auth(request)
    headers = {**dict(request.headers), "Host": "127.0.0.1:9000"}
    valid, access_key = header_signature_valid(
        "PUT", "/minio/admin/v3/set-bucket-quota", "bucket=bkt-a", headers, "admin-secret"
    )
    assert valid and access_key == "ADMINKEY"
    assert not header_signature_valid(
        "PUT", "/minio/admin/v3/set-bucket-quota", "bucket=bkt-b", headers, "admin-secret"
    )[0]
