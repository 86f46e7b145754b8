"""What the API fuzz tests (tests/e2e/test_fuzz_api.py) need around schemathesis and openapi.json.

- ``Worlds``: the throwaway tenant (owner token) and platform admin a generated request runs as,
  rebuilt after every request that may have changed them (a successful write: deleting the account,
  signing out, suspending it, transferring ownership ...), so one example never starves the next.
- ``World.fill_path``: real ids in the path most of the time, so the fuzzer gets past the 404 of the
  central tenant check and reaches validation and the services.
- Helpers over the document itself: its operations, which are public, concrete paths for templates.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.factories import Tenant, make_bucket, make_session_token, make_tenant, make_user

ROOT = Path(__file__).resolve().parents[1]
# The committed document; FUZZ_OPENAPI points elsewhere (e.g. a freshly generated one, not yet committed).
OPENAPI_PATH = Path(os.environ.get("FUZZ_OPENAPI") or ROOT / "openapi.json")

METHODS = ("get", "put", "post", "patch", "delete")
# Of the generated (valid) UUIDs in a path, all but one in SWAP_OUT_OF are swapped for a real id.
SWAP_OUT_OF = 4
_PARAMETER = re.compile(r"^\{[^}]+\}$")


def load_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(OPENAPI_PATH.read_text())
    return document


@dataclass(frozen=True)
class Operation:
    method: str  # upper case
    path: str  # the template, /v1/accounts/{account_id}
    spec: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def public(self) -> bool:
        return is_public(self.spec)

    def body_schema(self, document: dict[str, Any]) -> dict[str, Any] | None:
        """The JSON request body's schema ($ref resolved one level), or None without a body."""
        content = (self.spec.get("requestBody") or {}).get("content") or {}
        schema = (content.get("application/json") or {}).get("schema")
        return resolve(document, schema) if schema is not None else None


def operations(document: dict[str, Any]) -> Iterator[Operation]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield Operation(method.upper(), path, item[method])


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if not ref:
        return schema
    found: Any = document
    for part in ref.removeprefix("#/").split("/"):
        found = found[part]
    return dict(found)


def is_public(operation: dict[str, Any]) -> bool:
    """The template's `Auth: NONE` routes: openapi.json gives them no `security`."""
    return not operation.get("security")


def is_admin_path(path: str) -> bool:
    return path.startswith("/v1/admin/")


def template_matches(template: str, concrete: str) -> bool:
    """Whether API Gateway would route ``concrete`` to the route ``template`` (no greedy variables here)."""
    wanted, given = template.split("/"), concrete.split("/")
    return len(wanted) == len(given) and all(
        bool(_PARAMETER.match(w)) or w == g for w, g in zip(wanted, given, strict=True)
    )


def concrete_path(template: str, ids: dict[str, uuid.UUID] | None = None) -> str:
    """The template with the given ids (a fresh UUID for other ``*_id`` parameters, ``x`` for the rest)."""
    known = ids or {}

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in known:
            return str(known[name])
        return str(uuid.uuid4()) if name.endswith("_id") else "x"

    return re.sub(r"\{([^}]+)\}", value, template)


def _as_uuid(value: Any) -> uuid.UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def strip_strings(value: Any) -> Any:
    """What the API's schemas do to input first: strip surrounding whitespace of every string."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        return [strip_strings(item) for item in value]
    if isinstance(value, dict):
        return {key: strip_strings(item) for key, item in value.items()}
    return value


def valid_once_stripped(document: dict[str, Any], body_schema: dict[str, Any], body: Any) -> bool:
    """Whether ``body`` conforms to ``body_schema`` after the API strips its strings (formats not checked)."""
    import jsonschema

    root = {"allOf": [body_schema], "components": document.get("components", {})}
    return bool(jsonschema.Draft202012Validator(root).is_valid(strip_strings(body)))


def make_admin_token(engine: sa.Engine) -> str:
    with Session(engine, expire_on_commit=False) as session, session.begin():
        staff = make_user(session, platform_admin=True)
        token, _ = make_session_token(session, staff.id)
        return token


@dataclass
class World:
    """The rows one generated request runs against."""

    tenant: Tenant
    admin_token: str
    ids: dict[str, uuid.UUID] = field(default_factory=dict)

    @classmethod
    def build(cls, engine: sa.Engine, path: str) -> World:
        tenant = make_tenant(engine, "Fuzz")
        world = cls(tenant=tenant, admin_token=make_admin_token(engine))
        world.ids["account_id"] = tenant.account_id
        world.ids["user_id"] = tenant.members["member"].user_id
        if "{bucket_id}" in path:
            world.ids["bucket_id"] = make_bucket(engine, tenant.account_id)
        return world

    def token_for(self, path: str) -> str:
        return self.admin_token if is_admin_path(path) else self.tenant.token("owner")

    def fill_path(self, path_parameters: dict[str, Any]) -> None:
        """Swap most generated ids for real ones (a generated id that is not a UUID stays: invalid input)."""
        for name, value in list(path_parameters.items()):
            generated = _as_uuid(value)
            if name in self.ids and generated is not None and generated.int % SWAP_OUT_OF != 0:
                path_parameters[name] = str(self.ids[name])

    def concrete_path(self, template: str) -> str:
        return concrete_path(template, self.ids)


class Worlds:
    """One world per test, replaced after a request that may have changed it."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._current: World | None = None

    def get(self, path: str) -> World:
        if self._current is None:
            self._current = World.build(self.engine, path)
        return self._current

    def after(self, method: str, status: int) -> None:
        if method.upper() != "GET" and status < 400:
            self._current = None
