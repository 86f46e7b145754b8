"""SftpGo's REST API v2 (``reference/sftpgo-openapi-v2.yaml``): tenant SFTP users.

Authentication is an admin API key in ``X-SFTPGO-API-KEY`` (read per request from a callable,
so a rotated key in Secrets Manager is picked up without a cold start). HTTP goes through
urllib3, which boto3 already brings.

A user's files live either in an S3 bucket (``S3Home``: ``filesystem.provider`` 1 with an
``s3config`` holding a tenant access key limited to that bucket) or in a local directory
(``LocalHome``). SftpGo also wants an absolute ``home_dir`` for S3 users; it gets
``<home_base>/<username>``.

Updates follow SftpGo's rules: ``PUT /users/{username}`` replaces the whole user, so changes are
made on the user as ``GET`` returned it; secrets come back encrypted and are kept when sent
back that way, and an omitted password is kept. SftpGo answers a duplicate username with a
500, so a failed create checks whether the name exists to report a conflict.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote, urlencode

from primecloud.errors import Conflict, Invalid, NotFound, Unavailable
from primecloud.observability import logger

API_PREFIX = "/api/v2"
API_KEY_HEADER = "X-SFTPGO-API-KEY"
PROVIDER_LOCAL = 0
PROVIDER_S3 = 1
STATUS_DISABLED = 0
STATUS_ENABLED = 1
USERNAME_PATTERN = re.compile(r"^[a-zA-Z0-9\-_.~]{1,255}$")  # SftpGo's allowed characters
PUBLIC_KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    }
)


class SftpUserNotFound(NotFound):
    title = "SFTP user not found"


def validate_username(username: str) -> str:
    if not USERNAME_PATTERN.match(username):
        raise Invalid("SFTP usernames have 1-255 letters, digits or - _ . ~ characters.")
    return username


def parse_public_key(line: str) -> tuple[str, bytes]:
    """(key type, key blob) of an OpenSSH public key line; Invalid when it is not one."""
    parts = line.strip().split()
    if len(parts) < 2 or parts[0] not in PUBLIC_KEY_TYPES:
        raise Invalid("A public key is an OpenSSH line such as 'ssh-ed25519 AAAA... comment'.")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Invalid("The public key is not valid base64.") from exc
    name_length = int.from_bytes(blob[:4], "big") if len(blob) >= 4 else -1
    if name_length < 0 or blob[4 : 4 + name_length] != parts[0].encode():
        raise Invalid("The public key's content does not match its type.")
    return parts[0], blob


def normalize_key_prefix(prefix: str) -> str:
    """SftpGo's form: no leading '/', a trailing '/' when not empty."""
    cleaned = prefix.strip().lstrip("/")
    if cleaned and not cleaned.endswith("/"):
        cleaned += "/"
    return cleaned


@dataclass(frozen=True)
class S3Home:
    """The user's files in an S3 bucket, reached with a key limited to it."""

    bucket: str
    region: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    endpoint: str | None = None  # MinIO or another S3-compatible server
    key_prefix: str = ""  # the user sees only keys under this prefix
    force_path_style: bool = False


@dataclass(frozen=True)
class LocalHome:
    home_dir: str | None = None  # absolute; default <home_base>/<username>


@dataclass(frozen=True)
class SftpUserInfo:
    username: str
    enabled: bool
    home_dir: str
    storage: Literal["local", "s3", "other"]
    bucket: str | None
    key_prefix: str | None
    quota_bytes: int | None  # None: unlimited
    used_bytes: int
    used_files: int
    public_keys: list[str]
    has_password: bool
    created_at: datetime | None


@dataclass(frozen=True)
class SftpUsage:
    used_bytes: int
    used_files: int
    quota_bytes: int | None
    last_update: datetime | None


def _from_millis(value: Any) -> datetime | None:
    if not isinstance(value, int) or value <= 0:
        return None
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def user_info(user: Mapping[str, Any]) -> SftpUserInfo:
    filesystem = user.get("filesystem") or {}
    provider = filesystem.get("provider", PROVIDER_LOCAL)
    s3config = filesystem.get("s3config") or {}
    storage: Literal["local", "s3", "other"] = (
        "local" if provider == PROVIDER_LOCAL else "s3" if provider == PROVIDER_S3 else "other"
    )
    quota = int(user.get("quota_size") or 0)
    return SftpUserInfo(
        username=str(user["username"]),
        enabled=user.get("status") == STATUS_ENABLED,
        home_dir=str(user.get("home_dir", "")),
        storage=storage,
        bucket=s3config.get("bucket") if storage == "s3" else None,
        key_prefix=s3config.get("key_prefix", "") if storage == "s3" else None,
        quota_bytes=quota or None,
        used_bytes=int(user.get("used_quota_size") or 0),
        used_files=int(user.get("used_quota_files") or 0),
        public_keys=list(user.get("public_keys") or []),
        has_password=bool(user.get("has_password")),
        created_at=_from_millis(user.get("created_at")),
    )


class SftpGoClient:
    def __init__(
        self,
        base_url: str,
        api_key: str | Callable[[], str],
        *,
        timeout_seconds: float = 5.0,
        home_base: str = "/srv/sftpgo/users",
        http: Any = None,
    ) -> None:
        root = base_url.rstrip("/")
        self.base_url = root[: -len(API_PREFIX)] if root.endswith(API_PREFIX) else root
        self._api_key = api_key
        self.timeout_seconds = timeout_seconds
        self.home_base = home_base.rstrip("/")
        self._http = http

    def __repr__(self) -> str:
        return f"SftpGoClient({self.base_url!r})"

    @property
    def http(self) -> Any:
        if self._http is None:
            import urllib3

            self._http = urllib3.PoolManager(
                timeout=urllib3.Timeout(connect=self.timeout_seconds, read=self.timeout_seconds),
                retries=urllib3.Retry(total=1, connect=1, read=0, status=0, redirect=0),
            )
        return self._http

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        operation: str,
    ) -> tuple[int, Any]:
        from urllib3.exceptions import HTTPError

        url = self.base_url + API_PREFIX + path + (f"?{urlencode(query)}" if query else "")
        api_key = self._api_key() if callable(self._api_key) else self._api_key
        headers = {API_KEY_HEADER: api_key, "Accept": "application/json"}
        payload = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            payload = json.dumps(body).encode()
        try:
            response = self.http.request(method, url, body=payload, headers=headers)
        except (HTTPError, OSError) as exc:
            logger.warning("sftpgo unreachable", extra={"operation": operation, "error": type(exc).__name__})
            raise Unavailable(f"SftpGo is unreachable ({operation}).") from exc
        try:
            data = json.loads(response.data) if response.data else None
        except ValueError:
            data = None
        return int(response.status), data

    def _check(self, status: int, data: Any, operation: str, *, expected: int = 200) -> Any:
        if status == expected:
            return data
        error = data.get("error", "") if isinstance(data, dict) else ""
        logger.warning("sftpgo refused", extra={"operation": operation, "status": status, "error": error[:300]})
        if status == 404:
            raise SftpUserNotFound("The SFTP user does not exist.")
        if status == 400:
            raise Invalid(f"SftpGo refused {operation}: the user definition is not valid.")
        if status == 409:
            raise Conflict(f"SftpGo reported a conflict ({operation}).")
        if status in {401, 403}:
            raise Unavailable(f"SftpGo refused the API key ({operation}).")
        raise Unavailable(f"SftpGo failed {operation} ({status}).")

    @staticmethod
    def _user_path(username: str) -> str:
        return "/users/" + quote(validate_username(username), safe="")

    # ------------------------------------------------------------------ users

    def create_user(
        self,
        username: str,
        *,
        home: S3Home | LocalHome,
        password: str | None = None,
        public_keys: Sequence[str] = (),
        quota_bytes: int | None = None,
        description: str | None = None,
    ) -> SftpUserInfo:
        """Create an enabled user with full rights in its home; a password, public keys or both."""
        validate_username(username)
        if not password and not public_keys:
            raise Invalid("An SFTP user needs a password or a public key.")
        for key in public_keys:
            parse_public_key(key)
        if quota_bytes is not None and quota_bytes < 0:
            raise Invalid("A quota is a positive number of bytes.")
        user: dict[str, Any] = {
            "status": STATUS_ENABLED,
            "username": username,
            "permissions": {"/": ["*"]},
            "quota_size": quota_bytes or 0,
        }
        if isinstance(home, S3Home):
            s3config: dict[str, Any] = {
                "bucket": home.bucket,
                "region": home.region,
                "access_key": home.access_key_id,
                "access_secret": {"status": "Plain", "payload": home.secret_access_key},
                "force_path_style": home.force_path_style,
            }
            if home.endpoint:
                s3config["endpoint"] = home.endpoint
            if home.key_prefix:
                s3config["key_prefix"] = normalize_key_prefix(home.key_prefix)
            user["home_dir"] = f"{self.home_base}/{username}"
            user["filesystem"] = {"provider": PROVIDER_S3, "s3config": s3config}
        else:
            home_dir = home.home_dir or f"{self.home_base}/{username}"
            if not home_dir.startswith("/"):
                raise Invalid("An SFTP home directory is an absolute path.")
            user["home_dir"] = home_dir
            user["filesystem"] = {"provider": PROVIDER_LOCAL}
        if password:
            user["password"] = password
        if public_keys:
            user["public_keys"] = [key.strip() for key in public_keys]
        if description:
            user["description"] = description
        status, data = self._request("POST", "/users", body=user, operation="AddUser")
        if status >= 500 and self._exists(username):
            raise Conflict("This SFTP username is already taken.")
        return user_info(self._check(status, data, "AddUser", expected=201))

    def _exists(self, username: str) -> bool:
        try:
            self.get_user(username)
        except (SftpUserNotFound, Unavailable):
            return False
        return True

    def _raw_user(self, username: str) -> dict[str, Any]:
        status, data = self._request("GET", self._user_path(username), operation="GetUser")
        user: dict[str, Any] = self._check(status, data, "GetUser")
        return user

    def get_user(self, username: str) -> SftpUserInfo:
        return user_info(self._raw_user(username))

    def list_users(self, *, limit: int = 100, offset: int = 0) -> list[SftpUserInfo]:
        if not 1 <= limit <= 500 or offset < 0:
            raise Invalid("limit is 1 to 500 and offset not negative.")
        query = {"limit": limit, "offset": offset, "order": "ASC"}
        status, data = self._request("GET", "/users", query=query, operation="GetUsers")
        return [user_info(user) for user in self._check(status, data, "GetUsers")]

    def _modify(self, username: str, operation: str, change: Callable[[dict[str, Any]], None]) -> None:
        user = self._raw_user(username)
        change(user)
        status, data = self._request("PUT", self._user_path(username), body=user, operation=operation)
        self._check(status, data, operation)

    def disable_user(self, username: str) -> None:
        """Refuse new logins (``status: 0``); the user and files stay."""
        self._modify(username, "DisableUser", lambda user: user.update(status=STATUS_DISABLED))

    def enable_user(self, username: str) -> None:
        self._modify(username, "EnableUser", lambda user: user.update(status=STATUS_ENABLED))

    def update_user(
        self,
        username: str,
        *,
        password: str | None = None,
        public_keys: Sequence[str] | None = None,
        quota_bytes: int | None = None,
    ) -> None:
        """Change the password, replace the public keys and/or set the quota (0: unlimited)."""
        for key in public_keys or ():
            parse_public_key(key)
        if quota_bytes is not None and quota_bytes < 0:
            raise Invalid("A quota is a positive number of bytes.")

        def change(user: dict[str, Any]) -> None:
            if password:
                user["password"] = password
            if public_keys is not None:
                user["public_keys"] = [key.strip() for key in public_keys]
            if quota_bytes is not None:
                user["quota_size"] = quota_bytes

        self._modify(username, "UpdateUser", change)

    def delete_user(self, username: str) -> None:
        """Delete the user (files stay in the bucket/home); an absent user is not an error."""
        status, data = self._request("DELETE", self._user_path(username), operation="DeleteUser")
        if status == 404:
            return
        self._check(status, data, "DeleteUser")

    # ------------------------------------------------------------------ quota

    def user_usage(self, username: str) -> SftpUsage:
        """What SftpGo has counted (uploads through SftpGo; a quota scan recounts the storage)."""
        user = self._raw_user(username)
        quota = int(user.get("quota_size") or 0)
        return SftpUsage(
            used_bytes=int(user.get("used_quota_size") or 0),
            used_files=int(user.get("used_quota_files") or 0),
            quota_bytes=quota or None,
            last_update=_from_millis(user.get("last_quota_update")),
        )

    def start_quota_scan(self, username: str) -> bool:
        """Ask SftpGo to recount the user's files; False when a scan is already running."""
        status, data = self._request(
            "POST", "/quotas" + self._user_path(username) + "/scan", operation="StartUserQuotaScan"
        )
        if status == 409:
            return False
        self._check(status, data, "StartUserQuotaScan", expected=202)
        return True
