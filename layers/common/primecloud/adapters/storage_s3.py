"""The S3 data plane with boto3 (AWS S3 and MinIO): buckets, objects, tags, presigned URLs, usage.

boto3 is imported on first use. Every backend error becomes a ``primecloud.errors`` error
(see ``adapters.storage``) naming the operation and the S3 error code, never a credential.

Uploads are presigned **PUT** URLs with ``Content-Type`` and ``Content-Length`` among the
signed headers: the client declares the size first, the service checks it against the limit
and the quota, and S3/MinIO refuse a body of any other length or type (the signature would
not match). A presigned POST with ``content-length-range`` would allow any size up to a limit,
but it is a multipart form upload, not the PUT the API promises, and its policy document is
not checked by every S3-compatible server the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, timedelta
from typing import Any
from urllib.parse import quote

from primecloud import clock
from primecloud.adapters.storage import (
    BucketAlreadyExists,
    BucketNotEmpty,
    BucketNotFound,
    BucketUsage,
    LifecycleRule,
    ObjectInfo,
    ObjectNotFound,
    ObjectPage,
    PresignedRequest,
    parse_lifecycle_rules,
)
from primecloud.errors import Invalid, PrimeCloudError, Unavailable
from primecloud.observability import logger
from primecloud.rules import MAX_BUCKET_TAGS, MAX_OBJECT_TAGS, validate_bucket_name, validate_object_key, validate_tags

DEFAULT_UPLOAD_URL_SECONDS = 900
DEFAULT_DOWNLOAD_URL_SECONDS = 300
MAX_PRESIGNED_URL_SECONDS = 3600  # presigned URLs are short-lived by design
MAX_SINGLE_PUT_BYTES = 5 * 1024**3  # S3's limit for one PUT
DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys
AWS_DEFAULT_REGION = "us-east-1"  # the one region where CreateBucket takes no LocationConstraint

_BUCKET_MISSING = {"NoSuchBucket"}
_OBJECT_MISSING = {"NoSuchKey", "NoSuchVersion"}
_NAME_TAKEN = {"BucketAlreadyExists", "BucketAlreadyOwnedByYou"}
_REFUSED_INPUT = {"InvalidBucketName", "InvalidTag", "InvalidArgument", "MalformedXML", "KeyTooLongError"}


def _client_error(exc: Any, operation: str, bucket: str, key: str | None) -> PrimeCloudError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or "Unknown")
    if code in _BUCKET_MISSING or (code in {"404", "NotFound"} and key is None):
        return BucketNotFound(f"Bucket {bucket} does not exist.")
    if code in _OBJECT_MISSING or code in {"404", "NotFound"}:
        return ObjectNotFound("The object does not exist.")
    if code in _NAME_TAKEN:
        return BucketAlreadyExists(f"The bucket name {bucket} is already taken.")
    if code == "BucketNotEmpty":
        return BucketNotEmpty(f"Bucket {bucket} is not empty.")
    if code in _REFUSED_INPUT:
        return Invalid(f"The storage backend refused {operation} ({code}).")
    logger.warning("storage call failed", extra={"operation": operation, "code": code})
    return Unavailable(f"The storage backend failed {operation} ({code}).")


@contextmanager
def _translated(operation: str, bucket: str, key: str | None = None) -> Iterator[None]:
    from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

    try:
        yield
    except ClientError as exc:
        raise _client_error(exc, operation, bucket, key) from exc
    except ParamValidationError as exc:
        raise Invalid(f"The storage request is not valid ({operation}).") from exc
    except BotoCoreError as exc:
        raise _unreachable(exc, operation) from exc


def _unreachable(exc: Exception, operation: str) -> Unavailable:
    logger.warning("storage unreachable", extra={"operation": operation, "error": type(exc).__name__})
    return Unavailable(f"The storage backend is unreachable ({operation}).")


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback and the UTF-8 name (RFC 6266); no quotes or paths survive."""
    cleaned = "".join(ch for ch in filename if ch.isprintable() and ch not in '"\\/').strip() or "download"
    fallback = "".join(ch if ch.isascii() else "_" for ch in cleaned)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(cleaned, safe='')}"


def _expiry(expires_in: int) -> int:
    if not 1 <= expires_in <= MAX_PRESIGNED_URL_SECONDS:
        raise Invalid(f"A presigned URL lives 1 to {MAX_PRESIGNED_URL_SECONDS} seconds.")
    return expires_in


def _object_info(key: str, item: Mapping[str, Any]) -> ObjectInfo:
    return ObjectInfo(
        key=key,
        size=int(item.get("Size", item.get("ContentLength", 0))),
        etag=str(item.get("ETag", "")).strip('"'),
        last_modified=item["LastModified"].astimezone(UTC),
        storage_class=item.get("StorageClass"),
    )


class S3ObjectStorage:
    """``ObjectStorage`` over the S3 API; ``endpoint_url`` set means MinIO (path-style addressing).

    ``public_endpoint_url`` is the address clients reach the backend at, when it differs from
    the one this code uses (a private MinIO endpoint inside the VPC, say): presigned URLs are
    signed for that host, since the Host header is part of the signature.
    """

    def __init__(
        self,
        *,
        endpoint_url: str | None = None,
        public_endpoint_url: str | None = None,
        region: str = AWS_DEFAULT_REGION,
        timeout_seconds: float = 5.0,
        client: Any = None,
        presign_client: Any = None,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.public_endpoint_url = public_endpoint_url
        self.region = region
        self.timeout_seconds = timeout_seconds
        self._client = client
        self._presign_client = presign_client

    def _new_client(self, endpoint_url: str | None) -> Any:
        import boto3
        from botocore.config import Config

        config = Config(
            connect_timeout=self.timeout_seconds,
            read_timeout=self.timeout_seconds,
            retries={"max_attempts": 3, "mode": "standard"},
            signature_version="s3v4",
            s3={"addressing_style": "path" if endpoint_url else "auto"},
        )
        return boto3.client("s3", endpoint_url=endpoint_url, region_name=self.region, config=config)

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._new_client(self.endpoint_url)
        return self._client

    @property
    def presign_client(self) -> Any:
        if self._presign_client is None:
            if self.public_endpoint_url and self.public_endpoint_url != self.endpoint_url:
                self._presign_client = self._new_client(self.public_endpoint_url)
            else:
                self._presign_client = self.client
        return self._presign_client

    # ------------------------------------------------------------------ buckets

    def bucket_exists(self, name: str) -> bool:
        """True when the name is taken, by us or (403 on AWS's global namespace) by anyone else."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=name)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code"))
            if code in {"404", "NoSuchBucket", "NotFound"}:
                return False
            if code in {"403", "AccessDenied", "Forbidden"}:
                return True
            raise _client_error(exc, "HeadBucket", name, None) from exc
        except BotoCoreError as exc:
            raise _unreachable(exc, "HeadBucket") from exc
        return True

    def create_bucket(
        self,
        name: str,
        *,
        region: str | None = None,
        versioning: bool = False,
        lifecycle_rules: Sequence[LifecycleRule | Mapping[str, Any]] = (),
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Create and configure a bucket; if configuring fails the new bucket is removed again.

        An existing name is a conflict even when this backend owns it: on AWS us-east-1 a second
        CreateBucket by the owner succeeds silently, which would hand a soft-deleted bucket (and
        its objects) to whoever asks for the name next.
        """
        validate_bucket_name(name)
        rules = parse_lifecycle_rules(lifecycle_rules)
        bucket_tags = validate_tags(tags or {}, limit=MAX_BUCKET_TAGS)
        if self.bucket_exists(name):
            raise BucketAlreadyExists(f"The bucket name {name} is already taken.")
        target_region = region or self.region
        arguments: dict[str, Any] = {"Bucket": name}
        if target_region != AWS_DEFAULT_REGION:
            arguments["CreateBucketConfiguration"] = {"LocationConstraint": target_region}
        with _translated("CreateBucket", name):
            self.client.create_bucket(**arguments)
        try:
            if versioning:
                self.set_versioning(name, True)
            if rules:
                self.set_lifecycle(name, rules)
            if bucket_tags:
                with _translated("PutBucketTagging", name):
                    self.client.put_bucket_tagging(
                        Bucket=name,
                        Tagging={"TagSet": [{"Key": key, "Value": value} for key, value in bucket_tags.items()]},
                    )
        except PrimeCloudError:
            self._discard_new_bucket(name)
            raise

    def _discard_new_bucket(self, name: str) -> None:
        try:
            with _translated("DeleteBucket", name):
                self.client.delete_bucket(Bucket=name)
        except PrimeCloudError:
            logger.warning("could not remove a half-configured bucket", extra={"bucket": name})

    def set_versioning(self, name: str, enabled: bool) -> None:
        """Enable, or suspend (S3 cannot turn versioning off once it was on)."""
        with _translated("PutBucketVersioning", name):
            self.client.put_bucket_versioning(
                Bucket=name, VersioningConfiguration={"Status": "Enabled" if enabled else "Suspended"}
            )

    def set_lifecycle(self, name: str, rules: Sequence[LifecycleRule | Mapping[str, Any]]) -> None:
        """Replace the bucket's lifecycle rules; an empty list removes them."""
        parsed = parse_lifecycle_rules(rules)
        if not parsed:
            with _translated("DeleteBucketLifecycle", name):
                self.client.delete_bucket_lifecycle(Bucket=name)
            return
        with _translated("PutBucketLifecycleConfiguration", name):
            self.client.put_bucket_lifecycle_configuration(
                Bucket=name, LifecycleConfiguration={"Rules": [rule.to_s3() for rule in parsed]}
            )

    def empty_bucket(self, name: str, *, max_versions: int | None = None) -> int:
        """Delete object versions and delete markers in batches of 1000; return how many went.

        With ``max_versions`` it stops after about that many, so a purge job can work through a
        large bucket over several runs (a re-run continues where the last one stopped).
        Unfinished multipart uploads are aborted once every version is gone.
        """
        deleted = 0
        previous: list[dict[str, str]] = []
        while max_versions is None or deleted < max_versions:
            # Always the first page: listing on from a marker that was just deleted is not portable.
            with _translated("ListObjectVersions", name):
                page = self.client.list_object_versions(Bucket=name, MaxKeys=DELETE_BATCH)
            entries = [
                {"Key": item["Key"], "VersionId": item["VersionId"]}
                for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            ]
            if not entries:
                self._abort_multipart_uploads(name)
                break
            if entries == previous:  # "deleted" but still listed: object lock or a backend fault
                raise Unavailable(f"The storage backend kept object versions in {name} after deleting them.")
            previous = entries
            for start in range(0, len(entries), DELETE_BATCH):
                deleted += self._delete_batch(name, entries[start : start + DELETE_BATCH])
        return deleted

    def _delete_batch(self, name: str, entries: list[dict[str, str]]) -> int:
        with _translated("DeleteObjects", name):
            response = self.client.delete_objects(Bucket=name, Delete={"Objects": entries, "Quiet": True})
        errors = response.get("Errors", [])
        if errors:
            codes = sorted({str(error.get("Code")) for error in errors})
            logger.warning("objects not deleted", extra={"bucket": name, "count": len(errors), "codes": codes})
            raise Unavailable(f"The storage backend refused to delete {len(errors)} object version(s).")
        return len(entries)

    def _abort_multipart_uploads(self, name: str) -> None:
        paginator = self.client.get_paginator("list_multipart_uploads")
        with _translated("ListMultipartUploads", name):
            for page in paginator.paginate(Bucket=name):
                for upload in page.get("Uploads", []):
                    self.client.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])

    def delete_bucket(self, name: str, *, force: bool = False) -> int:
        """Delete a bucket; with ``force`` every object version goes first. Returns versions deleted.

        Without ``force`` a bucket with objects raises ``BucketNotEmpty``; a missing one ``BucketNotFound``.
        """
        deleted = self.empty_bucket(name) if force else 0
        with _translated("DeleteBucket", name):
            self.client.delete_bucket(Bucket=name)
        return deleted

    # ------------------------------------------------------------------ objects

    def list_objects(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str | None = None,
        continuation_token: str | None = None,
        max_keys: int = 1000,
    ) -> ObjectPage:
        if not 1 <= max_keys <= 1000:
            raise Invalid("max_keys is 1 to 1000.")
        arguments: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": max_keys}
        if delimiter:
            arguments["Delimiter"] = delimiter
        if continuation_token:
            arguments["ContinuationToken"] = continuation_token
        with _translated("ListObjectsV2", bucket):
            response = self.client.list_objects_v2(**arguments)
        return ObjectPage(
            objects=[_object_info(item["Key"], item) for item in response.get("Contents", [])],
            common_prefixes=[item["Prefix"] for item in response.get("CommonPrefixes", [])],
            next_token=response.get("NextContinuationToken") if response.get("IsTruncated") else None,
        )

    def head_object(self, bucket: str, key: str) -> ObjectInfo:
        with _translated("HeadObject", bucket, key):
            response = self.client.head_object(Bucket=bucket, Key=validate_object_key(key))
        return _object_info(key, response)

    def delete_object(self, bucket: str, key: str, *, version_id: str | None = None) -> None:
        """Delete an object (a delete marker when versioned) or one version; absent keys are fine."""
        arguments: dict[str, Any] = {"Bucket": bucket, "Key": validate_object_key(key)}
        if version_id:
            arguments["VersionId"] = version_id
        with _translated("DeleteObject", bucket, key):
            self.client.delete_object(**arguments)

    def get_object_tags(self, bucket: str, key: str) -> dict[str, str]:
        with _translated("GetObjectTagging", bucket, key):
            response = self.client.get_object_tagging(Bucket=bucket, Key=validate_object_key(key))
        return {tag["Key"]: tag["Value"] for tag in response.get("TagSet", [])}

    def put_object_tags(self, bucket: str, key: str, tags: Mapping[str, str]) -> None:
        """Replace the object's tags (S3 keeps at most 10); an empty mapping removes them."""
        tag_set = validate_tags(tags, limit=MAX_OBJECT_TAGS)
        validate_object_key(key)
        with _translated("PutObjectTagging", bucket, key):
            if tag_set:
                self.client.put_object_tagging(
                    Bucket=bucket,
                    Key=key,
                    Tagging={"TagSet": [{"Key": name, "Value": value} for name, value in tag_set.items()]},
                )
            else:
                self.client.delete_object_tagging(Bucket=bucket, Key=key)

    # ------------------------------------------------------------------ presigned URLs

    def presign_put(
        self,
        bucket: str,
        key: str,
        *,
        content_type: str,
        content_length: int,
        expires_in: int = DEFAULT_UPLOAD_URL_SECONDS,
    ) -> PresignedRequest:
        """A PUT URL for exactly ``content_length`` bytes of ``content_type`` (both signed)."""
        validate_object_key(key)
        if not 0 <= content_length <= MAX_SINGLE_PUT_BYTES:
            raise Invalid(f"A single upload has 0 to {MAX_SINGLE_PUT_BYTES} bytes.")
        if not content_type or len(content_type) > 255 or not content_type.isprintable():
            raise Invalid("A content type is required (at most 255 printable characters).")
        seconds = _expiry(expires_in)
        with _translated("PresignPutObject", bucket, key):
            url = self.presign_client.generate_presigned_url(
                "put_object",
                Params={"Bucket": bucket, "Key": key, "ContentType": content_type, "ContentLength": content_length},
                ExpiresIn=seconds,
                HttpMethod="PUT",
            )
        return PresignedRequest(
            url=url,
            method="PUT",
            headers={"Content-Type": content_type, "Content-Length": str(content_length)},
            expires_at=clock.now() + timedelta(seconds=seconds),
        )

    def presign_get(
        self,
        bucket: str,
        key: str,
        *,
        expires_in: int = DEFAULT_DOWNLOAD_URL_SECONDS,
        filename: str | None = None,
    ) -> PresignedRequest:
        """A short-lived GET URL; with ``filename`` the download is served as an attachment of that name."""
        validate_object_key(key)
        seconds = _expiry(expires_in)
        params: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if filename:
            params["ResponseContentDisposition"] = content_disposition(filename)
        with _translated("PresignGetObject", bucket, key):
            url = self.presign_client.generate_presigned_url("get_object", Params=params, ExpiresIn=seconds)
        return PresignedRequest(url=url, method="GET", headers={}, expires_at=clock.now() + timedelta(seconds=seconds))

    # ------------------------------------------------------------------ usage

    def bucket_usage(self, bucket: str) -> BucketUsage:
        """Bytes and object counts by listing: exact, but one request per 1000 keys (small deployments)."""
        with _translated("GetBucketVersioning", bucket):
            versioned = bool(self.client.get_bucket_versioning(Bucket=bucket).get("Status"))
        total_bytes = objects = versions = 0
        if versioned:
            paginator = self.client.get_paginator("list_object_versions")
            with _translated("ListObjectVersions", bucket):
                for page in paginator.paginate(Bucket=bucket):
                    for version in page.get("Versions", []):
                        total_bytes += int(version.get("Size", 0))
                        versions += 1
                        objects += 1 if version.get("IsLatest") else 0
            return BucketUsage(bytes=total_bytes, objects=objects, versions=versions)
        paginator = self.client.get_paginator("list_objects_v2")
        with _translated("ListObjectsV2", bucket):
            for page in paginator.paginate(Bucket=bucket):
                for item in page.get("Contents", []):
                    total_bytes += int(item.get("Size", 0))
                    objects += 1
        return BucketUsage(bytes=total_bytes, objects=objects, versions=objects)
