"""An in-process test double of SftpGo's REST API v2, strict about the documented shapes.

SftpGo cannot run here, so tests and the local stack talk to this instead. It serves the user
and quota endpoints PrimeCloud uses and holds users in memory. What it enforces comes from
``reference/sftpgo-openapi-v2.yaml`` (v2.7.0) and SftpGo's own validation:

- authentication: ``X-SFTPGO-API-KEY`` must be the configured key (401 otherwise);
- routing: a path the spec does not define is 404, a method it does not define for the path
  405, an operation the stub does not model 501;
- query parameters: only the documented ones, with their types, enums and bounds (400);
- bodies: JSON validated against the operation's schema (``jsonschema``, draft 4 as OpenAPI
  3.0 uses it). Stricter than SftpGo in one way: a property the schema does not define is
  refused rather than silently ignored, so a misspelled field (``s3_config``) fails here
  instead of creating a user with the wrong filesystem;
- users: SftpGo's rules (username mandatory and made of ``a-zA-Z0-9-_.~``, ``home_dir``
  mandatory and absolute, permissions for ``/``, S3 bucket/region/credentials pairing, secrets
  in ``Plain`` status to set, redacted secrets refused, key_prefix normalised, public keys
  parseable, a PUT replaces the whole user but keeps an omitted password and secrets sent
  back encrypted, a duplicate username is a 500 as in SftpGo);
- answers: every response body is checked against the spec before it is sent; a mismatch is
  recorded in ``errors`` (tests assert it stays empty) and answered with 500.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

SPEC_NAME = "sftpgo-openapi-v2.yaml"
API_PREFIX = "/api/v2"
API_KEY_HEADER = "X-SFTPGO-API-KEY"
USERNAME = re.compile(r"^[a-zA-Z0-9\-_.~]+$")
SECRET_STATUS_ENCRYPTED = "Secretbox"  # noqa: S105 - a status: how SftpGo's local KMS stores secrets
PUBLIC_KEY_TYPES = {
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
}


def find_spec() -> Path:
    """``$SFTPGO_OPENAPI_SPEC``, else ``reference/`` in this repository or beside it (``../shared``)."""
    configured = os.environ.get("SFTPGO_OPENAPI_SPEC")
    root = Path(__file__).resolve().parents[2]  # the repository
    candidates = [Path(configured)] if configured else []
    candidates += [root / "reference" / SPEC_NAME, root.parent / "shared" / "reference" / SPEC_NAME]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{SPEC_NAME} not found (set SFTPGO_OPENAPI_SPEC); looked in {candidates}")


class StubError(Exception):
    """An answer with an SftpGo ApiResponse body."""

    def __init__(self, status: int, error: str, message: str = "") -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.message = message


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class Operation:
    method: str
    template: str  # as in the spec, e.g. /users/{username}
    pattern: re.Pattern[str]
    spec: dict[str, Any]
    parameters: list[dict[str, Any]]


Answer = tuple[int, Any, dict[str, str]]  # status, body, extra headers


def _now_ms() -> int:
    return int(time.time() * 1000)


# --------------------------------------------------------------------------- schema handling


def _strict_copy(spec: dict[str, Any]) -> dict[str, Any]:  # noqa: C901 - two small recursive walkers, as closures
    """The spec with ``additionalProperties: false`` on object schemas and OpenAPI's ``nullable`` mapped.

    Schemas combined through a multi-member ``allOf`` stay open (each member sees only its own
    properties, so closing them would refuse the other members' fields).
    """
    document = copy.deepcopy(spec)
    open_names: set[str] = set()

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            members = node.get("allOf")
            if isinstance(members, list) and len(members) > 1:
                open_names.update(str(m["$ref"]).rsplit("/", 1)[-1] for m in members if "$ref" in m)
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    def close(node: Any, *, open_object: bool = False) -> None:
        if isinstance(node, dict):
            if node.get("nullable") is True and isinstance(node.get("type"), str):
                node["type"] = [node["type"], "null"]
            if (
                not open_object
                and node.get("type") == "object"
                and "properties" in node
                and "additionalProperties" not in node
            ):
                node["additionalProperties"] = False
            for key, value in node.items():
                if key == "allOf" and isinstance(value, list) and len(value) > 1:
                    for member in value:
                        close(member, open_object=True)
                else:
                    close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    collect(document)
    schemas = document.get("components", {}).get("schemas", {})
    for name, schema in schemas.items():
        close(schema, open_object=name in open_names)
    return document


class SpecValidator:
    def __init__(self, spec: dict[str, Any]) -> None:
        from jsonschema import Draft4Validator
        from referencing import Registry
        from referencing.jsonschema import DRAFT4

        self.base = "urn:sftpgo-openapi"
        self.document = _strict_copy(spec)
        self.registry: Any = Registry().with_resource(self.base, DRAFT4.create_resource(self.document))
        self._validator_class = Draft4Validator

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        """Follow a local ``$ref`` (responses, request bodies) in the strict document."""
        while "$ref" in node:
            target: Any = self.document
            for part in str(node["$ref"]).lstrip("#/").split("/"):
                target = target[part]
            node = target
        return node

    def errors(self, schema: dict[str, Any], instance: Any) -> list[str]:
        validator = self._validator_class(
            self._anchor(schema), registry=self.registry, format_checker=self._validator_class.FORMAT_CHECKER
        )
        found = sorted(validator.iter_errors(instance), key=lambda error: list(error.absolute_path))
        return [
            f"{'/'.join(str(part) for part in error.absolute_path) or '(body)'}: {error.message}" for error in found
        ]

    def _anchor(self, schema: dict[str, Any]) -> dict[str, Any]:
        """Local refs (``#/components/...``) inside ``schema`` resolve against the spec."""
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            return {"$ref": self.base + ref}
        return {"allOf": [_rebase(schema, self.base)]}


def _rebase(node: Any, base: str) -> Any:
    if isinstance(node, dict):
        return {
            key: (
                base + value
                if key == "$ref" and isinstance(value, str) and value.startswith("#/")
                else _rebase(value, base)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rebase(value, base) for value in node]
    return node


@functools.lru_cache(maxsize=4)
def _load(spec_path: str) -> tuple[dict[str, Any], SpecValidator]:
    """The parsed spec and its validator, once per process (the YAML is 7,000 lines)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    spec = yaml.load(Path(spec_path).read_text(), Loader=loader)  # noqa: S506 - a safe loader
    return spec, SpecValidator(spec)


# --------------------------------------------------------------------------- the stub


@dataclass
class SftpGoStub:
    """Serve with ``start()`` (or ``with SftpGoStub(...) as stub``); ``url`` is the server root."""

    api_key: str = "stub-admin-api-key"
    spec_path: Path | None = None
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.spec, self.validator = _load(str(self.spec_path or find_spec()))
        self.operations = self._operations()
        self._passwords: dict[str, str] = {}
        self._secrets: dict[str, str] = {}
        self._next_id = 1
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.handlers = {
            ("get", "/healthz"): self._healthz,
            ("get", "/users"): self._list_users,
            ("post", "/users"): self._add_user,
            ("get", "/users/{username}"): self._get_user,
            ("put", "/users/{username}"): self._update_user,
            ("delete", "/users/{username}"): self._delete_user,
            ("put", "/quotas/users/{username}/usage"): self._update_usage,
            ("post", "/quotas/users/{username}/scan"): self._start_scan,
        }
        missing = [key for key in self.handlers if key[1] not in self.spec["paths"]]
        if missing:
            raise RuntimeError(f"the stub serves paths the spec does not define: {missing}")

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the stub is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _serve(self) -> None:
                stub._serve(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="sftpgo-stub", daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> SftpGoStub:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ routing

    def _operations(self) -> list[Operation]:
        operations: list[Operation] = []
        for template, item in self.spec["paths"].items():
            pieces = re.split(r"\{([^}]+)\}", template)  # literal, name, literal, name, ...
            regex = "".join(
                re.escape(piece) if index % 2 == 0 else f"(?P<{piece}>[^/]+)" for index, piece in enumerate(pieces)
            )
            pattern = re.compile(f"^{regex}$")
            for method, spec in item.items():
                if method == "parameters":
                    continue
                parameters = list(item.get("parameters", [])) + list(spec.get("parameters", []))
                operations.append(Operation(method, template, pattern, spec, parameters))
        return operations

    def _route(self, method: str, path: str) -> tuple[Operation, dict[str, str]]:
        if path == "/healthz":
            relative = path
        elif path.startswith(API_PREFIX + "/"):
            relative = path[len(API_PREFIX) :]
        else:
            raise StubError(404, "Not Found", f"no such path: {path}")
        matches = [(op, op.pattern.match(relative)) for op in self.operations]
        found = [(op, match) for op, match in matches if match]
        if not found:
            raise StubError(404, "Not Found", f"no such path: {path}")
        for op, match in found:
            if op.method == method:
                return op, {name: unquote(value) for name, value in match.groupdict().items()}
        raise StubError(405, "Method Not Allowed", f"{method.upper()} is not defined for {found[0][0].template}")

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        method = request.command.lower()
        length = int(request.headers.get("Content-Length") or 0)
        raw_body = request.rfile.read(length) if length else b""
        query = parse_qs(parts.query, keep_blank_values=True)
        status: int = 500
        body: Any = None
        extra_headers: dict[str, str] = {}
        operation: Operation | None = None
        try:
            try:
                body = json.loads(raw_body) if raw_body else None
            except ValueError:
                body = raw_body.decode("utf-8", "replace")
            self.requests.append(RecordedRequest(method.upper(), parts.path, query, dict(request.headers), body))
            operation, path_params = self._route(method, parts.path)
            self._authenticate(operation, request.headers.get(API_KEY_HEADER))
            params = self._query_params(operation, query)
            request_body = self._request_body(operation, raw_body, request.headers.get("Content-Type", ""))
            handler = self.handlers.get((operation.method, operation.template))
            if handler is None:
                raise StubError(
                    501, "Not Implemented", f"the stub does not model {method.upper()} {operation.template}"
                )
            with self._lock:
                status, body, extra_headers = handler(path_params, params, request_body)
        except StubError as error:
            status, body, extra_headers = error.status, {"error": error.error, "message": error.message}, {}
        if operation is not None:
            self._check_response(operation, status, body)
        self._send(request, status, body, extra_headers)

    def _send(self, request: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str]) -> None:
        if isinstance(body, str):
            payload, content_type = body.encode(), "text/plain; charset=utf-8"
        else:
            payload, content_type = json.dumps(body).encode(), "application/json"
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            request.send_header(name, value)
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(payload)

    # ------------------------------------------------------------------ checks

    def _authenticate(self, operation: Operation, api_key: str | None) -> None:
        security = operation.spec.get("security", self.spec.get("security", []))
        if not security:
            return
        if api_key != self.api_key:
            raise StubError(401, "invalid API key" if api_key else "no credentials provided")

    def _query_params(self, operation: Operation, query: dict[str, list[str]]) -> dict[str, Any]:
        documented = {p["name"]: p for p in operation.parameters if p.get("in") == "query"}
        unknown = sorted(set(query) - set(documented))
        if unknown:
            raise StubError(400, f"undocumented query parameter(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, parameter in documented.items():
            if name not in query:
                if parameter.get("required"):
                    raise StubError(400, f"query parameter {name} is required")
                continue
            schema = self.validator.resolve(parameter.get("schema", {}))
            raw = query[name][-1]
            value: Any = raw
            if schema.get("type") == "integer":
                try:
                    value = int(raw)
                except ValueError as exc:
                    raise StubError(400, f"query parameter {name} must be an integer") from exc
            problems = self.validator.errors(schema, value)
            if problems:
                raise StubError(400, f"query parameter {name}: {problems[0]}")
            values[name] = value
        return values

    def _request_body(self, operation: Operation, raw: bytes, content_type: str) -> Any:
        spec = operation.spec.get("requestBody")
        if spec is None:
            if raw:
                raise StubError(400, "this operation takes no request body")
            return None
        spec = self.validator.resolve(spec)
        if not raw:
            if spec.get("required"):
                raise StubError(400, "a request body is required")
            return None
        if content_type.split(";", maxsplit=1)[0].strip() != "application/json":
            raise StubError(400, "the request body must be application/json")
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise StubError(400, "the request body is not valid JSON") from exc
        schema = spec["content"]["application/json"]["schema"]
        problems = self.validator.errors(schema, body)
        if problems:
            raise StubError(400, "; ".join(problems[:5]))
        return body

    def _check_response(self, operation: Operation, status: int, body: Any) -> None:
        responses = operation.spec.get("responses", {})
        spec = responses.get(str(status)) or responses.get("default")
        if spec is None:
            self.errors.append(f"{operation.method.upper()} {operation.template}: status {status} is not documented")
            return
        content = self.validator.resolve(spec).get("content", {})
        if not content:
            return
        if "application/json" in content:
            problems = self.validator.errors(content["application/json"]["schema"], body)
            if problems:
                self.errors.append(f"{operation.method.upper()} {operation.template} {status}: {problems}")
        elif not isinstance(body, str):
            self.errors.append(f"{operation.method.upper()} {operation.template} {status}: expected text")

    # ------------------------------------------------------------------ users

    def _user(self, username: str) -> dict[str, Any]:
        user = self.users.get(username)
        if user is None:
            raise StubError(404, "Not Found", f"username {username!r} does not exist")
        return user

    def _render(self, user: dict[str, Any]) -> dict[str, Any]:
        """A user as GET answers: no password, secrets hidden (encrypted payload, no key)."""
        rendered = copy.deepcopy(user)
        rendered["has_password"] = user["username"] in self._passwords
        return rendered

    def _validated_user(self, body: dict[str, Any], *, previous: dict[str, Any] | None) -> dict[str, Any]:
        user = copy.deepcopy(body)
        username = str(user.get("username") or "")
        if not username:
            raise StubError(400, "username is mandatory")
        if not USERNAME.match(username):
            raise StubError(
                400, f"username {username!r} is not valid, the following characters are allowed: a-zA-Z0-9-_.~"
            )
        home_dir = user.get("home_dir") or ""
        if not home_dir:
            raise StubError(400, "home_dir is mandatory")
        if not str(home_dir).startswith("/"):
            raise StubError(400, f"home_dir must be an absolute path, actual value: {home_dir}")
        permissions = user.get("permissions") or {}
        if not permissions:
            raise StubError(400, "please grant some permissions to this user")
        if "/" not in permissions:
            raise StubError(400, "permissions for the root dir '/' must be set for all users")
        if any(not directory.startswith("/") for directory in permissions):
            raise StubError(400, "cannot set permissions for a relative path")
        for key in user.get("public_keys") or []:
            self._check_public_key(key)
        user["status"] = user.get("status", 0)  # SftpGo's zero value: a user sent without status is disabled
        user["filesystem"] = self._validated_filesystem(user.get("filesystem") or {}, previous)
        for field_name in ("password", "has_password"):
            user.pop(field_name, None)
        return user

    @staticmethod
    def _check_public_key(line: str) -> None:
        import base64
        import binascii

        parts = str(line).split()
        if len(parts) < 2 or parts[0] not in PUBLIC_KEY_TYPES:
            raise StubError(400, "could not parse key: unknown key type")
        try:
            blob = base64.b64decode(parts[1], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise StubError(400, "could not parse key: invalid base64") from exc
        length = int.from_bytes(blob[:4], "big")
        if blob[4 : 4 + length] != parts[0].encode():
            raise StubError(400, "could not parse key: type mismatch")

    def _validated_filesystem(self, filesystem: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
        provider = filesystem.get("provider", 0)
        if provider == 0:
            return {"provider": 0}
        if provider != 1:
            raise StubError(501, "Not Implemented", f"filesystem provider {provider} is not modelled by the stub")
        config = copy.deepcopy(filesystem.get("s3config") or {})
        if not config.get("bucket"):
            raise StubError(400, "could not validate s3config: bucket cannot be empty")
        if not config.get("region") and not config.get("endpoint"):
            raise StubError(400, "could not validate s3config: region cannot be empty")
        previous_config = ((previous or {}).get("filesystem") or {}).get("s3config") or {}
        secret = self._validated_secret(config.get("access_secret") or {}, previous_config, creating=previous is None)
        if config.get("access_key") and not secret:
            raise StubError(400, "could not validate s3config: access_secret cannot be empty with access_key not empty")
        if secret and not config.get("access_key"):
            raise StubError(400, "could not validate s3config: access_key cannot be empty with access_secret not empty")
        config.pop("access_secret", None)
        if secret:
            config["access_secret"] = secret
        prefix = str(config.get("key_prefix") or "")
        if prefix:
            normalized = "/".join(part for part in prefix.split("/") if part and part != ".")
            if not normalized:
                raise StubError(400, "could not validate s3config: key_prefix resolves to the storage root")
            config["key_prefix"] = normalized + "/"
        return {"provider": 1, "s3config": config}

    @staticmethod
    def _validated_secret(secret: dict[str, Any], previous_config: dict[str, Any], *, creating: bool) -> dict[str, Any]:
        """A Plain secret is stored encrypted; on update an encrypted or redacted one keeps the stored value."""
        status = secret.get("status", "")
        if not secret:
            return {}
        if status == "Plain":
            if not secret.get("payload"):
                raise StubError(400, "could not validate s3config: invalid access_secret")
            return {
                "status": SECRET_STATUS_ENCRYPTED,
                "payload": hashlib.sha256(str(secret["payload"]).encode()).hexdigest(),
            }
        if creating:
            if status == "Redacted":
                raise StubError(400, "cannot save a user with a redacted secret")
            raise StubError(400, "could not validate s3config: invalid access_secret")
        return copy.deepcopy(previous_config.get("access_secret") or {})

    def _store_password(self, username: str, password: str | None) -> None:
        if password:
            self._passwords[username] = "$sha256$" + hashlib.sha256(password.encode()).hexdigest()

    def password_matches(self, username: str, password: str) -> bool:
        """For tests: was this the password last set for the user?"""
        return self._passwords.get(username) == "$sha256$" + hashlib.sha256(password.encode()).hexdigest()

    def secret_matches(self, username: str, secret: str) -> bool:
        """For tests: is this the S3 access secret stored for the user?"""
        config = (self.users[username].get("filesystem") or {}).get("s3config") or {}
        payload = (config.get("access_secret") or {}).get("payload")
        return payload == hashlib.sha256(secret.encode()).hexdigest()

    def _healthz(self, path: dict[str, str], query: dict[str, Any], body: Any) -> Answer:
        return 200, "ok", {}

    def _list_users(self, path: dict[str, str], query: dict[str, Any], body: Any) -> Answer:
        names = sorted(self.users, reverse=query.get("order") == "DESC")
        offset, limit = query.get("offset", 0), query.get("limit", 100)
        return 200, [self._render(self.users[name]) for name in names[offset : offset + limit]], {}

    def _add_user(self, path: dict[str, str], query: dict[str, Any], body: Any) -> Answer:
        user = self._validated_user(body, previous=None)
        username = user["username"]
        if username in self.users:
            raise StubError(500, f"username {username!r} already exists")
        now = _now_ms()
        user.update(
            id=self._next_id,
            created_at=now,
            updated_at=now,
            used_quota_size=0,
            used_quota_files=0,
            last_quota_update=0,
            last_login=0,
        )
        self._next_id += 1
        self.users[username] = user
        self._store_password(username, body.get("password"))
        return 201, self._render(user), {"Location": f"{API_PREFIX}/users/{username}"}

    def _get_user(self, path: dict[str, str], query: dict[str, Any], body: Any) -> Answer:
        return 200, self._render(self._user(path["username"])), {}

    def _update_user(self, path: dict[str, str], query: dict[str, Any], body: Any) -> Answer:
        username = path["username"]
        previous = self._user(username)
        if body.get("username", username) != username:
            raise StubError(400, "the username in the body does not match the path")
        user = self._validated_user({**body, "username": username}, previous=previous)
        for preserved in ("id", "created_at", "used_quota_size", "used_quota_files", "last_quota_update", "last_login"):
            user[preserved] = previous.get(preserved, 0)
        user["updated_at"] = _now_ms()
        self.users[username] = user
        self._store_password(username, body.get("password"))
        return 200, {"message": "User updated"}, {}

    def _delete_user(self, path: dict[str, str], query: dict[str, Any], body: Any) -> Answer:
        self._user(path["username"])
        del self.users[path["username"]]
        self._passwords.pop(path["username"], None)
        return 200, {"message": "User deleted"}, {}

    def _update_usage(self, path: dict[str, str], query: dict[str, Any], body: Any) -> Answer:
        user = self._user(path["username"])
        size, files = int(body.get("used_quota_size", 0)), int(body.get("used_quota_files", 0))
        if query.get("mode", "reset") == "add":
            size, files = user["used_quota_size"] + size, user["used_quota_files"] + files
        user.update(used_quota_size=size, used_quota_files=files, last_quota_update=_now_ms())
        return 200, {"message": "Quota updated"}, {}

    def _start_scan(self, path: dict[str, str], query: dict[str, Any], body: Any) -> Answer:
        user = self._user(path["username"])
        user["last_quota_update"] = _now_ms()
        return 202, {"message": "Scan started"}, {}


def main() -> None:
    """``python -m localrun.services.sftpgo_stub [port]``: serve until interrupted."""
    import sys

    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    stub = SftpGoStub(api_key=os.environ.get("SFTPGO_API_KEY", "stub-admin-api-key"))
    print(f"SftpGo stub on {stub.start(port=port)} (API key from SFTPGO_API_KEY)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        stub.stop()


if __name__ == "__main__":
    main()
