"""The machinery of the tenant-isolation matrix (tests/e2e/test_tenant_isolation_matrix.py).

A *case* says how to build, for one tenant, the resources the ids of one route's path point to, and
which status each role gets inside that tenant. ``check_case`` then plays, against the running local
API:

- **cross**: every role of another tenant (Globex), with a session token and with an API key, on
  Acme's ids: 404 ``not-found`` and nothing changed in the database;
- **mixed**: Globex's callers on Globex's own account (and own bucket, ...) with one inner id (or id
  in the body) swapped for Acme's: the same answer as for an id that names nothing (no existence
  oracle), never a success, nothing changed;
- **control**: Acme's caller on the very ids the cross calls used still gets the success status, so
  the 404s above were not about a missing resource;
- **inside**: every Acme role x credential on freshly built resources gets the case's status, and no
  successful answer (here or in the control) names a row of Globex's (``tenant_ids``: for listings the
  test fills Globex with one of most things a tenant can own first).

``/v1/me/...`` cases check another user's id (of another tenant and of the same one) instead;
``/v1/admin/...`` cases that no tenant caller, whatever its role or credential, gets past 403.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import requests
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.access import ROLE_RANK, SCOPES
from tests.conftest import ApiResponse
from tests.factories import Tenant, make_api_key, make_session_token, make_tenant, make_user

ROLES = ("owner", "admin", "member", "viewer")
CREDENTIALS = ("session", "key")
# An API key acts with its creator's role, narrowed by its scopes: give it all of them, so that
# whatever it is refused is refused for the role or for being a key, never for a missing scope.
KEY_SCOPES = sorted(SCOPES)
HTTP_METHODS = ("get", "put", "post", "patch", "delete")
PATH_PARAM = re.compile(r"{([^}]+)}")
# Columns a request may legitimately touch while being refused: bookkeeping of the authorizer.
IGNORED_COLUMNS = frozenset({("api_keys", "last_used_at"), ("api_keys", "updated_at")})
WORKERS = 4

Operation = tuple[str, str]  # (METHOD, path template as in openapi.json)
Scope = Literal["account", "me", "admin", "public"]
Fresh = Literal["shared", "per_call", "tenant"]


# --------------------------------------------------------------------------- the API document


def path_params(template: str) -> list[str]:
    return PATH_PARAM.findall(template)


def operations_with_path_ids(openapi_file: Path) -> set[Operation]:
    """Every (METHOD, path) of the document whose path has a parameter."""
    document = json.loads(openapi_file.read_text())
    found: set[Operation] = set()
    for template, item in document["paths"].items():
        if not path_params(template):
            continue
        for method in item:
            if method in HTTP_METHODS:
                found.add((method.upper(), template))
    return found


def all_operations(openapi_file: Path) -> set[Operation]:
    document = json.loads(openapi_file.read_text())
    return {
        (method.upper(), template)
        for template, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


# --------------------------------------------------------------------------- tenants and callers


@dataclass
class Party:
    """A tenant (an account with a member per role) and an all-scopes API key per role."""

    name: str
    tenant: Tenant
    keys: dict[str, str]

    @property
    def account_id(self) -> str:
        return str(self.tenant.account_id)

    def user_id(self, role: str) -> str:
        return str(self.tenant.members[role].user_id)

    def credential(self, role: str, kind: str) -> str:
        return self.tenant.token(role) if kind == "session" else self.keys[role]


def make_party(engine: sa.Engine, name: str) -> Party:
    tenant = make_tenant(engine, name)
    keys: dict[str, str] = {}
    with Session(engine) as session, session.begin():
        from primecloud.models.iam import Account

        account = session.get_one(Account, tenant.account_id)
        for role in ROLES:
            keys[role], _ = make_api_key(session, account, tenant.members[role].user_id, KEY_SCOPES)
    return Party(name, tenant, keys)


def make_staff_token(engine: sa.Engine) -> str:
    with Session(engine, expire_on_commit=False) as session, session.begin():
        user = make_user(session, platform_admin=True)
        token, _ = make_session_token(session, user.id)
        return token


# --------------------------------------------------------------------------- targets and cases


@dataclass(frozen=True)
class Target:
    """What one request needs: the path parameters, and a JSON body and query when the route takes them."""

    params: Mapping[str, str]
    body: Any = None  # None: no body
    query: Mapping[str, str] | None = None

    def with_param(self, name: str, value: str) -> Target:
        return replace(self, params={**self.params, name: value})

    def with_body_field(self, name: str, value: str) -> Target:
        """``name`` set to ``value`` (to ``[value]`` when it holds a list of ids)."""
        body = dict(self.body or {})
        body[name] = [value] if isinstance(body.get(name), list) else value
        return replace(self, body=body)

    def body_id(self, name: str) -> str:
        value = (self.body or {})[name]
        return str(value[0] if isinstance(value, list) else value)


@dataclass
class World:
    """What a case's builder gets: the database, the API, the two tenants and a staff user."""

    engine: sa.Engine
    base_url: str
    acme: Party
    globex: Party
    staff_token: str
    _local: threading.local = field(default_factory=threading.local, repr=False)
    globex_ids: dict[str, str] = field(default_factory=dict, repr=False)  # filled by the checker

    def new_party(self, name: str = "Acme") -> Party:
        return make_party(self.engine, name)

    def call(self, method: str, template: str, target: Target, token: str | None) -> ApiResponse:
        http: requests.Session | None = getattr(self._local, "http", None)
        if http is None:
            http = self._local.http = requests.Session()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        path = template.format(**target.params)
        response = http.request(
            method,
            self.base_url + path,
            json=target.body,
            params=dict(target.query) if target.query else None,
            headers=headers,
            timeout=30,
            allow_redirects=False,
        )
        return ApiResponse(response)


Builder = Callable[[World, Party, str], Target]  # (world, tenant, caller role) -> the ids and body


@dataclass(frozen=True)
class Case:
    """How to reach one route's resources in a tenant, and what each caller gets there.

    ``expect``: status per role with a session token (``"staff"`` for admin routes, ``"anonymous"``
    for public ones); ``key_expect``: with the role's API key, when it differs.
    ``fresh``: ``shared`` builds the resources once for all inside calls (the call can be repeated),
    ``per_call`` once per call, ``tenant`` in a new tenant per call (the call changes the tenant itself).
    ``body_ids``: body fields naming the tenant's resources (swapped for Acme's in the mixed check).
    ``key_refused_blindly``: an API key gets 403 whatever the id (checked before any lookup), so the
    cross check accepts that 403 when an unknown id gets the very same answer.
    """

    build: Builder
    expect: Mapping[str, int]
    key_expect: Mapping[str, int] | None = None
    scope: Scope = "account"
    fresh: Fresh = "per_call"
    body_ids: tuple[str, ...] = ()
    key_refused_blindly: bool = False
    fixtures: tuple[str, ...] = ()

    def expected(self, role: str, kind: str) -> int:
        table = self.key_expect if kind == "key" and self.key_expect is not None else self.expect
        return table[role]


def at_least(min_role: str, ok: int) -> dict[str, int]:
    """``ok`` for ``min_role`` and above, 403 below."""
    return {role: ok if ROLE_RANK[role] >= ROLE_RANK[min_role] else 403 for role in ROLES}


def everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(ROLES, status)


# --------------------------------------------------------------------------- the database


def snapshot(engine: sa.Engine) -> dict[str, list[str]]:
    """Every row of every table (but authorizer bookkeeping), comparable across requests."""
    from primecloud.models import Base

    rows: dict[str, list[str]] = {}
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            columns = [column for column in table.columns if (table.name, column.name) not in IGNORED_COLUMNS]
            rows[table.name] = sorted(repr(tuple(row)) for row in connection.execute(sa.select(*columns)))
    return rows


def tenant_ids(engine: sa.Engine, account_id: str) -> dict[str, str]:
    """id -> table of every row that is ``account_id``'s: the account, its members' users, rows with its
    account_id, and their children (a bucket's grants and shares, an invoice's lines, ...)."""
    from primecloud.models import Base

    owned: dict[str, set[str]] = {"accounts": {account_id}}
    with engine.connect() as connection:
        owned["users"] = {
            str(user_id)
            for (user_id,) in connection.execute(
                sa.text("SELECT user_id FROM account_members WHERE account_id = :a"), {"a": account_id}
            )
        }
        tables = [t for t in Base.metadata.sorted_tables if "id" in t.c and t.name not in ("accounts", "users")]
        for table in tables:  # parents come first
            conditions = [table.c.account_id == account_id] if "account_id" in table.c else []
            for fk in table.foreign_keys:
                parent_ids = owned.get(fk.column.table.name)
                if fk.column.table.name not in ("accounts", "users") and parent_ids:
                    conditions.append(fk.parent.in_(parent_ids))
            if conditions:
                rows = connection.execute(sa.select(table.c.id).where(sa.or_(*conditions)))
                owned[table.name] = {str(row_id) for (row_id,) in rows}
    return {row_id: table for table, ids in owned.items() for row_id in ids}


def changed_tables(before: Mapping[str, list[str]], after: Mapping[str, list[str]]) -> list[str]:
    return sorted(name for name in after if before.get(name) != after[name])


def empty_tables(engine: sa.Engine) -> None:
    """What the db fixture's TRUNCATE does, at a small fraction of its cost on tiny tables."""
    from primecloud.models import Base

    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())


# --------------------------------------------------------------------------- checking one case


def problem_type(response: ApiResponse) -> str | None:
    body = response.json
    return body.get("type") if isinstance(body, dict) else None


def is_not_found(response: ApiResponse) -> bool:
    return (
        response.status == 404
        and response.headers.get("content-type", "").startswith("application/problem+json")
        and str(problem_type(response)).endswith("/not-found")
    )


def is_forbidden(response: ApiResponse) -> bool:
    return response.status == 403 and str(problem_type(response)).endswith("/forbidden")


def request_ids(target: Target) -> list[str]:
    """The ids a request names: in its path, and at the top of its body (alone or in a list)."""
    body_values: list[Any] = []
    for value in (target.body or {}).values() if isinstance(target.body, dict) else []:
        body_values += value if isinstance(value, list) else [value]
    found = []
    for value in [*target.params.values(), *body_values]:
        try:
            found.append(str(uuid.UUID(str(value))))
        except ValueError:
            continue
    return found


def refusal(response: ApiResponse, target: Target) -> tuple[Any, ...]:
    """What a refusal tells the caller, with the ids of the request blanked out."""
    text = response.text
    for value in request_ids(target):
        text = text.replace(value, "<id>")
    body = json.loads(text) if response.json is not None else text
    if isinstance(body, dict):
        body.pop("request_id", None)
    return response.status, json.dumps(body, sort_keys=True)


def show(response: ApiResponse) -> str:
    return f"{response.status} {response.text[:160]!r}"


def unknown_id() -> str:
    """An id that names nothing."""
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Call:
    label: str
    target: Target
    token: str | None
    unknown: Target | None = None  # the same request with an id that names nothing


class Checker:
    def __init__(self, world: World, method: str, template: str, case: Case, pool: ThreadPoolExecutor) -> None:
        self.world = world
        self.method = method
        self.template = template
        self.case = case
        self.pool = pool
        self.failures: list[str] = []

    def fail(self, phase: str, message: str) -> None:
        self.failures.append(f"[{phase}] {message}")

    def send(self, calls: Iterable[Call]) -> list[tuple[Call, ApiResponse]]:
        calls = list(calls)
        responses = self.pool.map(lambda c: self.world.call(self.method, self.template, c.target, c.token), calls)
        return list(zip(calls, responses, strict=True))

    # -- phases

    def no_oracle(self, phase: str, calls: list[Call], *, like_unknown: bool) -> None:
        """Each call must be refused as if its id named nothing.

        ``like_unknown=False``: 404 not-found, nothing else. ``like_unknown=True``: the very answer
        (status, problem type and detail, with the ids blanked) the same call gets with an id that names
        nothing (``call.unknown``); a 404 not-found, or a refusal that came before any lookup (a 403 for the
        role, a 422 for the body).
        """
        answers = self.send(calls)
        unknowns = [replace(c, target=c.unknown) for c in calls if like_unknown and c.unknown is not None]
        baselines = iter(self.send(unknowns))
        for call, response in answers:
            if not like_unknown or call.unknown is None:
                if not is_not_found(response):
                    self.fail(phase, f"{call.label}: expected 404 not-found, got {show(response)}")
                continue
            _, baseline = next(baselines)
            if not 400 <= response.status < 500:
                self.fail(phase, f"{call.label}: expected a refusal, got {show(response)}")
            elif refusal(response, call.target) != refusal(baseline, call.unknown):
                self.fail(
                    phase,
                    f"{call.label}: {show(response)} but an unknown id gets {show(baseline)} (an existence oracle)",
                )

    def unchanged(self, phase: str, run: Callable[[], None]) -> None:
        before = snapshot(self.world.engine)
        run()
        changed = changed_tables(before, snapshot(self.world.engine))
        if changed:
            self.fail(phase, f"refused calls changed the database: tables {changed}")

    def expect_status(self, phase: str, call: Call, expected: int) -> None:
        _, response = self.send([call])[0]
        self.compare(phase, call, expected, response)

    def compare(self, phase: str, call: Call, expected: int, response: ApiResponse) -> None:
        if response.status != expected:
            self.fail(phase, f"{call.label}: expected {expected}, got {show(response)}")
        elif expected == 404 and not is_not_found(response):
            self.fail(phase, f"{call.label}: expected a not-found problem, got {show(response)}")
        elif expected == 403 and not is_forbidden(response):
            self.fail(phase, f"{call.label}: expected a forbidden problem, got {show(response)}")
        elif response.status < 300:
            leaked = sorted({table for row_id, table in self.world.globex_ids.items() if row_id in response.text})
            if leaked:
                self.fail(phase, f"{call.label}: the answer names Globex's rows of {leaked}: {show(response)}")

    # -- scopes

    def run(self) -> list[str]:
        checks = {
            "account": self.check_account,
            "me": self.check_me,
            "admin": self.check_admin,
            "public": self.check_public,
        }
        checks[self.case.scope]()
        return self.failures

    def check_account(self) -> None:
        w, case = self.world, self.case
        acme_target = case.build(w, w.acme, "owner")
        inner = [name for name in acme_target.params if name != "account_id"]
        globex_target = case.build(w, w.globex, "owner") if inner or case.body_ids else None
        cross = [
            Call(f"Globex {role}/{kind} on Acme's ids", acme_target, w.globex.credential(role, kind))
            for role in ROLES
            for kind in CREDENTIALS
        ]
        mixed: list[Call] = []
        if globex_target is not None:
            swaps = [(name, acme_target.params[name], globex_target.with_param) for name in inner] + [
                (f"body.{name}", acme_target.body_id(name), globex_target.with_body_field) for name in case.body_ids
            ]
            for label, acme_value, swap in swaps:
                name = label.removeprefix("body.")
                mixed += [
                    Call(
                        f"Globex {role}/{kind} in Globex with Acme's {label}",
                        swap(name, acme_value),
                        w.globex.credential(role, kind),
                        unknown=swap(name, unknown_id()),
                    )
                    for role in ROLES
                    for kind in CREDENTIALS
                ]

        def refused() -> None:
            self.no_oracle("cross", cross, like_unknown=False)
            self.no_oracle("mixed", mixed, like_unknown=True)

        self.unchanged("cross/mixed", refused)
        w.globex_ids = tenant_ids(w.engine, w.globex.account_id)
        control_role = next((r for r in ROLES if case.expect[r] < 400), None)
        if control_role is not None:
            self.expect_status(
                "control",
                Call(
                    f"Acme {control_role}/session on the same ids",
                    acme_target,
                    w.acme.credential(control_role, "session"),
                ),
                case.expect[control_role],
            )
        self.check_inside()

    def check_inside(self) -> None:
        w, case = self.world, self.case
        shared = case.build(w, w.acme, "owner") if case.fresh == "shared" else None

        def one(role: str, kind: str) -> tuple[Call, int, ApiResponse]:
            party = w.new_party("Acme") if case.fresh == "tenant" else w.acme
            target = shared if shared is not None else case.build(w, party, role)
            call = Call(f"Acme {role}/{kind}", target, party.credential(role, kind))
            return call, case.expected(role, kind), w.call(self.method, self.template, target, call.token)

        for call, expected, response in self.pool.map(
            lambda rk: one(*rk), [(r, k) for r in ROLES for k in CREDENTIALS]
        ):
            self.compare("inside", call, expected, response)

    def check_me(self) -> None:
        """The owner's resource: any other user (another tenant's or the same one's) gets 404."""
        w, case = self.world, self.case
        owners = case.build(w, w.acme, "owner")
        others = [(w.globex, role) for role in ROLES] + [(w.acme, role) for role in ROLES if role != "owner"]
        name = next(iter(owners.params))

        def calls(kind: str) -> list[Call]:
            return [
                Call(
                    f"{party.name} {role}/{kind} on Acme owner's ids",
                    owners,
                    party.credential(role, kind),
                    unknown=owners.with_param(name, unknown_id()),
                )
                for party, role in others
            ]

        def refused() -> None:
            self.no_oracle("other user", calls("session"), like_unknown=False)
            self.no_oracle("other user", calls("key"), like_unknown=case.key_refused_blindly)

        self.unchanged("other user", refused)
        w.globex_ids = tenant_ids(w.engine, w.globex.account_id)
        self.expect_status(
            "control",
            Call("Acme owner/session on its own ids", owners, w.acme.credential("owner", "session")),
            case.expect["owner"],
        )
        self.check_inside()

    def check_admin(self) -> None:
        """Platform staff only: every tenant caller gets 403 whatever the ids; staff get the case's status."""
        w, case = self.world, self.case
        target = case.build(w, w.acme, "staff")
        unknown = Target(
            {name: unknown_id() if value in request_ids(target) else value for name, value in target.params.items()},
            target.body,
            target.query,
        )
        calls = [
            Call(f"{party.name} {role}/{kind}{label}", ids, party.credential(role, kind))
            for party in (w.acme, w.globex)
            for role in ROLES
            for kind in CREDENTIALS
            for label, ids in (("", target), (" with unknown ids", unknown))
        ]

        def refused() -> None:
            for call, response in self.send(calls):
                if not is_forbidden(response):
                    self.fail("non-staff", f"{call.label}: expected 403 forbidden, got {show(response)}")

        self.unchanged("non-staff", refused)
        self.expect_status("staff", Call("staff/session", target, w.staff_token), case.expect["staff"])

    def check_public(self) -> None:
        """A public link: no caller identity, the token in the path is the credential."""
        w, case = self.world, self.case
        target = case.build(w, w.acme, "anonymous")
        name = next(iter(target.params))
        unknown = Call("anonymous, an unknown token", target.with_param(name, "x" + uuid.uuid4().hex), None)
        self.expect_status("public", unknown, 404)
        self.expect_status("public", Call("anonymous", target, None), case.expect["anonymous"])


def check_case(world: World, operation: Operation, case: Case) -> list[str]:
    method, template = operation
    with ThreadPoolExecutor(WORKERS) as pool:
        return Checker(world, method, template, case, pool).run()
