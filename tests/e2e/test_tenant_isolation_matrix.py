"""Tenant isolation, route by route: every operation of openapi.json with an id in its path has a case.

For two tenants (Acme, Globex), each role and each credential (a session token, an API key with every
scope), a case asserts that Globex's callers get 404 on Acme's ids (never 200 or 403: no existence
oracle) and change nothing, that swapping one inner id of Globex's own request for Acme's answers like
an unknown id, and what each Acme role gets inside its own tenant, where no successful answer names any
of Globex's rows (for listings, Globex is filled with one of most things first). /v1/me routes: another
user's id is 404; /v1/admin routes: every tenant caller gets 403. How a case is played:
tests/isolation_support.py.

A new route with an id in its path fails test_every_route_with_a_path_id_has_a_case until CASES (or,
for the lead to decide, PENDING) names it; a case whose route left openapi.json fails too.
ISOLATION_OPENAPI=<file> checks another document (e.g. one just generated with
`python -m localrun openapi --output /tmp/openapi.json`).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.models.billing import Order, Subscription
from primecloud.models.iam import Account, AccountMember, Invitation, UserSession
from primecloud.models.storage import ObjectFavorite
from primecloud.models.system import JobRun, Notification
from primecloud.services.invitations import INVITATION_TOKEN_PREFIX
from primecloud.tokens import new_token
from tests.dunning_factories import make_open_invoice
from tests.e2e.sftp_support import sftpgo_stub  # noqa: F401 - a fixture some cases ask for by name
from tests.factories import grant, make_api_key, make_bucket, make_session_token, make_user
from tests.invoicing_factories import LineSpec, issue_invoice, make_vps_config
from tests.isolation_support import (
    CREDENTIALS,
    ROLES,
    Case,
    Operation,
    Party,
    Target,
    World,
    all_operations,
    at_least,
    check_case,
    empty_tables,
    everyone,
    make_party,
    make_staff_token,
    operations_with_path_ids,
    path_params,
)

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = Path(os.environ.get("ISOLATION_OPENAPI") or ROOT / "openapi.json")
OBJECT_KEY = "reports/q3.txt"

A = "/v1/accounts/{account_id}"
B = A + "/buckets/{bucket_id}"


# --------------------------------------------------------------------------- builders


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def account(body: Callable[[], Any] | None = None, query: dict[str, str] | None = None) -> Callable[..., Target]:
    def build(w: World, p: Party, role: str) -> Target:
        return Target({"account_id": p.account_id}, body() if body else None, query)

    return build


def new_bucket(w: World, p: Party) -> tuple[str, str]:
    """A live bucket holding OBJECT_KEY; the member may write in it, the viewer read."""
    name = unique("iso")
    bucket_id = make_bucket(w.engine, p.tenant.account_id, name)
    grant(w.engine, bucket_id, p.tenant.members["member"].user_id, "write")
    grant(w.engine, bucket_id, p.tenant.members["viewer"].user_id, "read")
    boto3.client("s3").put_object(Bucket=name, Key=OBJECT_KEY, Body=b"quarterly numbers")
    return str(bucket_id), name


def bucket(body: Callable[[], Any] | None = None, query: dict[str, str] | None = None) -> Callable[..., Target]:
    def build(w: World, p: Party, role: str) -> Target:
        bucket_id, _ = new_bucket(w, p)
        return Target({"account_id": p.account_id, "bucket_id": bucket_id}, body() if body else None, query)

    return build


def owner_post(w: World, p: Party, path: str, body: dict[str, Any], **params: str) -> dict[str, Any]:
    """Make a resource through the API, as the tenant's owner."""
    response = w.call(
        "POST", path, Target({"account_id": p.account_id, **params}, body), p.credential("owner", "session")
    )
    assert response.status == 201, f"setup {path}: {response}"
    created: dict[str, Any] = response.json
    return created


def access_key(w: World, p: Party, role: str) -> Target:
    bucket_id, _ = new_bucket(w, p)
    key = owner_post(w, p, A + "/access-keys", {"name": unique("key"), "bucket_ids": [bucket_id]})
    return Target({"account_id": p.account_id, "key_id": key["id"]}, {"name": "renamed", "bucket_ids": [bucket_id]})


def api_key(w: World, p: Party, role: str) -> Target:
    with Session(w.engine) as session, session.begin():
        _, key = make_api_key(
            session, session.get_one(Account, p.tenant.account_id), p.tenant.members["owner"].user_id, ["account:read"]
        )
        key_id = str(key.id)
    return Target({"account_id": p.account_id, "key_id": key_id})


def extra_member(w: World, p: Party, role: str) -> Target:
    """Another viewer of the account: the one whose membership the call changes."""
    with Session(w.engine) as session, session.begin():
        user = make_user(session)
        session.add(AccountMember(account_id=p.tenant.account_id, user_id=user.id, role="viewer"))
        user_id = str(user.id)
    return Target({"account_id": p.account_id, "user_id": user_id}, {"role": "member"})


def bucket_grantee(w: World, p: Party, role: str) -> Target:
    """A bucket and the account's member (who holds write on it) as the grantee."""
    bucket_id, _ = new_bucket(w, p)
    return Target(
        {"account_id": p.account_id, "bucket_id": bucket_id, "user_id": p.user_id("member")}, {"level": "read"}
    )


def share(w: World, p: Party, role: str) -> Target:
    bucket_id, _ = new_bucket(w, p)
    link = owner_post(w, p, B + "/shares", {"key": OBJECT_KEY, "expires_in_seconds": 3600}, bucket_id=bucket_id)
    return Target({"account_id": p.account_id, "bucket_id": bucket_id, "share_id": link["id"]})


def share_token(w: World, p: Party, role: str) -> Target:
    bucket_id, _ = new_bucket(w, p)
    link = owner_post(w, p, B + "/shares", {"key": OBJECT_KEY, "expires_in_seconds": 3600}, bucket_id=bucket_id)
    return Target({"token": link["token"]})


def invitation(w: World, p: Party, role: str) -> Target:
    with Session(w.engine) as session, session.begin():
        _, token_hash = new_token(INVITATION_TOKEN_PREFIX)
        row = Invitation(
            account_id=p.tenant.account_id,
            email=f"{unique('invitee')}@example.test",
            role="viewer",
            token_hash=token_hash,
            invited_by=p.tenant.members["owner"].user_id,
            expires_at=datetime.now(UTC) + timedelta(days=7),
        )
        session.add(row)
        session.flush()
        return Target({"account_id": p.account_id, "invitation_id": str(row.id)})


def sftp_user_body(w: World, p: Party) -> dict[str, Any]:
    bucket_id, _ = new_bucket(w, p)
    return {"username": unique("u")[:32].replace("-", "_"), "bucket_id": bucket_id}


def sftp_user_create(w: World, p: Party, role: str) -> Target:
    return Target({"account_id": p.account_id}, sftp_user_body(w, p))


def sftp_user(w: World, p: Party, role: str) -> Target:
    user = owner_post(w, p, A + "/sftp-users", sftp_user_body(w, p))
    return Target({"account_id": p.account_id, "sftp_user_id": user["id"]})


def access_key_create(w: World, p: Party, role: str) -> Target:
    bucket_id, _ = new_bucket(w, p)
    return Target({"account_id": p.account_id}, {"name": unique("key"), "bucket_ids": [bucket_id]})


def ownership_transfer(w: World, p: Party, role: str) -> Target:
    return Target({"account_id": p.account_id}, {"user_id": p.user_id("admin")})


def my_session(w: World, p: Party, role: str) -> Target:
    """Another live sign-in session of ``role``'s user (not the one the call is made with)."""
    with Session(w.engine, expire_on_commit=False) as session, session.begin():
        _, row = make_session_token(session, p.tenant.members[role].user_id)
        return Target({"session_id": str(row.id)})


def my_notification(w: World, p: Party, role: str) -> Target:
    with Session(w.engine, expire_on_commit=False) as session, session.begin():
        row = Notification(
            account_id=p.tenant.account_id, user_id=p.tenant.members[role].user_id, type="test", title="Hello"
        )
        session.add(row)
        session.flush()
        return Target({"notification_id": str(row.id)})


def account_with_status(status: str) -> Callable[..., Target]:
    def build(w: World, p: Party, role: str) -> Target:
        party = w.new_party("Suspendable")  # staff calls change the account: never spoil Acme
        with Session(w.engine) as session, session.begin():
            session.get_one(Account, party.tenant.account_id).status = status
        return Target({"account_id": party.account_id}, {"reason": "isolation matrix"})

    return build


def issued_invoice(w: World, p: Party) -> str:
    """An issued (open) invoice of the tenant, with its documents stored."""
    invoice_id, _ = issue_invoice(w.engine, p.tenant.account_id, [LineSpec("Storage", Decimal(10), Decimal("0.50"))])
    return str(invoice_id)


def invoice(query: dict[str, str] | None = None) -> Callable[..., Target]:
    def build(w: World, p: Party, role: str) -> Target:
        return Target({"account_id": p.account_id, "invoice_id": issued_invoice(w, p)}, query=query)

    return build


def staff_invoice(body: Callable[[], Any] | None = None) -> Callable[..., Target]:
    def build(w: World, p: Party, role: str) -> Target:
        return Target({"invoice_id": issued_invoice(w, p)}, body() if body else None)

    return build


def payment() -> dict[str, Any]:
    return {"amount": "1.00", "currency": "EUR", "gateway": "bank", "reference": unique("ref")}


def order_body(w: World, p: Party, role: str) -> Target:
    return Target({"account_id": p.account_id}, {"product": "vps", "vps_config_id": str(make_vps_config(w.engine))})


def subscription(w: World, p: Party, role: str) -> Target:
    now = datetime.now(UTC)
    with Session(w.engine) as session, session.begin():
        row = Subscription(
            account_id=p.tenant.account_id,
            product="vps",
            status="active",
            price=Decimal("9.99"),
            currency="EUR",
            current_period_start=now,
            current_period_end=now + timedelta(days=30),
        )
        session.add(row)
        session.flush()
        return Target({"account_id": p.account_id, "subscription_id": str(row.id)})


def new_job_run(w: World, status: str) -> str:
    with Session(w.engine) as session, session.begin():
        row = JobRun(job="purge_retention", trigger="manual", status=status, started_at=datetime.now(UTC))
        session.add(row)
        session.flush()
        return str(row.id)


def finished_job_run(w: World, p: Party, role: str) -> Target:
    return Target({"run_id": new_job_run(w, "succeeded")})


def running_job(w: World, p: Party, role: str) -> Target:
    """A purge_retention run started moments ago: starting another is 409 (no job starts in this process)."""
    new_job_run(w, "running")
    return Target({"job": "purge_retention"}, {"params": {"dry_run": True}})


def price(w: World, p: Party, role: str) -> Target:
    return Target({"metric": "storage_bytes"}, {"unit_price": "0.0200", "currency": "EUR"})


def populate(w: World, p: Party) -> None:
    """One of most things a tenant can own, for the listings of the other tenant to (not) show."""
    bucket_id, _ = new_bucket(w, p)
    owner_post(w, p, B + "/shares", {"key": OBJECT_KEY, "expires_in_seconds": 3600}, bucket_id=bucket_id)
    owner_post(w, p, A + "/access-keys", {"name": unique("key"), "bucket_ids": [bucket_id]})
    invitation(w, p, "owner")
    subscription(w, p, "owner")
    my_notification(w, p, "owner")
    make_open_invoice(w.engine, p.tenant.account_id, issued_at=datetime.now(UTC))
    with Session(w.engine) as session, session.begin():
        for role in ROLES:
            user_id = p.tenant.members[role].user_id
            session.add(ObjectFavorite(bucket_id=uuid.UUID(bucket_id), user_id=user_id, object_key=OBJECT_KEY))
        session.add(Order(account_id=p.tenant.account_id, product="vps", amount=Decimal("9.99"), currency="EUR"))


# --------------------------------------------------------------------------- the table

ADMIN_OK = at_least("admin", 200)
SESSION_ONLY = everyone(403)  # what an API key gets where only a signed-in user may act

CASES: dict[Operation, Case] = {
    # accounts
    ("GET", A): Case(account(), everyone(200), fresh="shared"),
    ("PATCH", A): Case(account(lambda: {"name": "Renamed"}), ADMIN_OK, fresh="shared"),
    ("DELETE", A): Case(account(), at_least("owner", 204), key_expect=SESSION_ONLY, fresh="tenant"),
    ("POST", A + "/transfer-ownership"): Case(
        ownership_transfer, at_least("owner", 200), key_expect=SESSION_ONLY, fresh="tenant", body_ids=("user_id",)
    ),
    # members and invitations
    ("GET", A + "/members"): Case(account(), everyone(200), fresh="shared"),
    ("PATCH", A + "/members/{user_id}"): Case(extra_member, ADMIN_OK),
    ("DELETE", A + "/members/{user_id}"): Case(extra_member, at_least("admin", 204)),
    ("POST", A + "/invitations"): Case(
        account(lambda: {"email": f"{unique('new')}@example.test", "role": "viewer"}), at_least("admin", 201)
    ),
    ("GET", A + "/invitations"): Case(account(), ADMIN_OK, fresh="shared"),
    ("DELETE", A + "/invitations/{invitation_id}"): Case(invitation, at_least("admin", 204)),
    # API keys
    ("POST", A + "/api-keys"): Case(
        account(lambda: {"name": "ci", "scopes": ["account:read"]}), at_least("admin", 201), key_expect=SESSION_ONLY
    ),
    ("GET", A + "/api-keys"): Case(account(), ADMIN_OK, fresh="shared"),
    ("DELETE", A + "/api-keys/{key_id}"): Case(api_key, at_least("admin", 204)),
    # S3 access keys
    ("POST", A + "/access-keys"): Case(access_key_create, at_least("admin", 201), body_ids=("bucket_ids",)),
    ("GET", A + "/access-keys"): Case(account(), ADMIN_OK, fresh="shared"),
    ("PATCH", A + "/access-keys/{key_id}"): Case(access_key, ADMIN_OK, fresh="shared", body_ids=("bucket_ids",)),
    ("DELETE", A + "/access-keys/{key_id}"): Case(access_key, at_least("admin", 204)),
    # buckets
    ("POST", A + "/buckets"): Case(account(lambda: {"name": unique("iso-new")}), at_least("admin", 201)),
    ("GET", A + "/buckets"): Case(account(), everyone(200), fresh="shared"),
    ("GET", B): Case(bucket(), everyone(200), fresh="shared"),
    ("PATCH", B): Case(bucket(lambda: {"versioning": True}), ADMIN_OK, fresh="shared"),
    ("DELETE", B): Case(bucket(), at_least("admin", 204)),
    ("GET", B + "/permissions"): Case(bucket(), ADMIN_OK, fresh="shared"),
    ("PUT", B + "/permissions/{user_id}"): Case(bucket_grantee, ADMIN_OK),
    ("DELETE", B + "/permissions/{user_id}"): Case(bucket_grantee, at_least("admin", 204)),
    # objects, tags, favorites, shares
    ("GET", B + "/objects"): Case(bucket(), everyone(200), fresh="shared"),
    ("DELETE", B + "/objects"): Case(bucket(query={"key": OBJECT_KEY}), at_least("member", 204)),
    ("POST", B + "/objects/upload-url"): Case(
        bucket(lambda: {"key": "new.txt", "content_type": "text/plain", "size": 10}),
        at_least("member", 200),
        fresh="shared",
    ),
    ("POST", B + "/objects/download-url"): Case(bucket(lambda: {"key": OBJECT_KEY}), everyone(200), fresh="shared"),
    ("GET", B + "/tags"): Case(bucket(query={"key": OBJECT_KEY}), everyone(200), fresh="shared"),
    ("PUT", B + "/tags"): Case(
        bucket(lambda: {"tags": {"team": "finance"}}, {"key": OBJECT_KEY}), at_least("member", 200), fresh="shared"
    ),
    ("DELETE", B + "/tags"): Case(bucket(query={"key": OBJECT_KEY}), at_least("member", 204), fresh="shared"),
    ("PUT", B + "/favorites"): Case(bucket(query={"key": OBJECT_KEY}), everyone(201)),
    ("DELETE", B + "/favorites"): Case(bucket(query={"key": OBJECT_KEY}), everyone(204), fresh="shared"),
    ("GET", A + "/favorites"): Case(account(), everyone(200), fresh="shared"),
    ("POST", B + "/shares"): Case(
        bucket(lambda: {"key": OBJECT_KEY, "expires_in_seconds": 3600}), at_least("admin", 201), fresh="shared"
    ),
    ("GET", B + "/shares"): Case(bucket(), ADMIN_OK, fresh="shared"),
    ("DELETE", B + "/shares/{share_id}"): Case(share, at_least("admin", 204)),
    ("GET", "/v1/shares/{token}"): Case(share_token, {"anonymous": 302}, scope="public"),
    # SFTP users
    ("POST", A + "/sftp-users"): Case(
        sftp_user_create, at_least("admin", 201), body_ids=("bucket_id",), fixtures=("sftpgo_stub",)
    ),
    ("GET", A + "/sftp-users"): Case(account(), ADMIN_OK, fresh="shared"),
    ("DELETE", A + "/sftp-users/{sftp_user_id}"): Case(sftp_user, at_least("admin", 204), fixtures=("sftpgo_stub",)),
    # billing
    ("GET", A + "/usage"): Case(account(), everyone(200), fresh="shared"),
    ("GET", A + "/invoices"): Case(account(), ADMIN_OK, fresh="shared"),
    ("GET", A + "/invoices/upcoming"): Case(account(), ADMIN_OK, fresh="shared"),
    ("GET", A + "/invoices/{invoice_id}"): Case(invoice(), ADMIN_OK, fresh="shared"),
    ("GET", A + "/invoices/{invoice_id}/document"): Case(invoice({"format": "pdf"}), ADMIN_OK, fresh="shared"),
    ("POST", A + "/orders"): Case(order_body, at_least("admin", 201), fresh="shared"),
    ("GET", A + "/orders"): Case(account(), ADMIN_OK, fresh="shared"),
    ("GET", A + "/subscriptions"): Case(account(), ADMIN_OK, fresh="shared"),
    ("POST", A + "/subscriptions/{subscription_id}/cancel"): Case(subscription, ADMIN_OK),
    ("GET", A + "/audit-logs"): Case(account(), ADMIN_OK, fresh="shared"),
    # the caller's own things
    ("DELETE", "/v1/me/sessions/{session_id}"): Case(
        my_session, everyone(204), key_expect=SESSION_ONLY, scope="me", key_refused_blindly=True
    ),
    ("POST", "/v1/me/notifications/{notification_id}/read"): Case(my_notification, everyone(200), scope="me"),
    # platform staff
    ("POST", "/v1/admin/accounts/{account_id}/suspend"): Case(
        account_with_status("active"), {"staff": 200}, scope="admin"
    ),
    ("POST", "/v1/admin/accounts/{account_id}/reactivate"): Case(
        account_with_status("suspended"), {"staff": 200}, scope="admin"
    ),
    ("PUT", "/v1/admin/pricing/{metric}"): Case(price, {"staff": 201}, scope="admin"),
    ("GET", "/v1/admin/jobs/runs/{run_id}"): Case(finished_job_run, {"staff": 200}, scope="admin"),
    # 409: a run started moments ago is still going. Staff get past the access check to the service,
    # without a job really starting in a thread of this test process.
    ("POST", "/v1/admin/jobs/{job}/runs"): Case(running_job, {"staff": 409}, scope="admin"),
    ("POST", "/v1/admin/invoices/{invoice_id}/payments"): Case(staff_invoice(payment), {"staff": 201}, scope="admin"),
    ("POST", "/v1/admin/invoices/{invoice_id}/void"): Case(staff_invoice(), {"staff": 200}, scope="admin"),
}

# Routes with a path id that have no reliable case yet, and why (the lead decides).
PENDING: dict[Operation, str] = {}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", autouse=True)
def _truncate_at_the_end(engine: sa.Engine) -> Iterator[None]:
    """Leave the database as the db fixture would (the per-test cleanup below is a cheaper DELETE)."""
    yield
    from primecloud.models import Base

    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def world(engine: sa.Engine, gateway_url: str) -> Iterator[World]:
    empty_tables(engine)
    yield World(engine, gateway_url, make_party(engine, "Acme"), make_party(engine, "Globex"), make_staff_token(engine))
    empty_tables(engine)


# --------------------------------------------------------------------------- the tests


def test_every_route_with_a_path_id_has_a_case() -> None:
    documented = operations_with_path_ids(OPENAPI)
    missing = sorted(documented - CASES.keys() - PENDING.keys())
    assert not missing, (
        "routes of openapi.json with a path id and no isolation case (add one to CASES in this module): "
        + ", ".join(f"{method} {path}" for method, path in missing)
    )


def test_no_case_for_a_route_that_is_gone() -> None:
    documented = operations_with_path_ids(OPENAPI)
    stale = sorted((CASES.keys() | PENDING.keys()) - documented)
    assert not stale, "isolation cases for routes no longer in openapi.json: " + ", ".join(
        f"{method} {path}" for method, path in stale
    )


def test_every_case_builds_every_path_id() -> None:
    """A case's scope fits its path, and a route is never both a case and pending."""
    assert not CASES.keys() & PENDING.keys()
    for (method, path), case in CASES.items():
        if path.startswith("/v1/admin/"):
            assert case.scope == "admin", (method, path)
        elif path.startswith("/v1/me/"):
            assert case.scope == "me", (method, path)
        elif path.startswith("/v1/accounts/{account_id}"):
            assert case.scope == "account" and set(case.expect) == set(ROLES), (method, path)
        assert path_params(path), (method, path)


@pytest.mark.parametrize("operation", sorted(CASES), ids=lambda op: f"{op[0]} {op[1]}")
def test_isolation(operation: Operation, world: World, request: pytest.FixtureRequest) -> None:
    case = CASES[operation]
    for name in case.fixtures:
        request.getfixturevalue(name)
    method, path = operation
    if case.scope == "account" and method == "GET" and path_params(path) == ["account_id"]:
        populate(world, world.globex)  # a listing of Acme's must name none of it
    failures = check_case(world, operation, case)
    assert not failures, f"{operation[0]} {operation[1]}:\n" + "\n".join(failures)


def test_the_matrix_catches_a_planted_leak(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks can fail: signing out a session that forgets whose it is gets caught, as a success for
    another user and as a changed database. (A tenant route can't be planted this way any more: row-level
    security hides another account's rows from a lookup that forgets the account.)"""
    from primecloud.services import auth

    forgetful = auth._revoke_live_session
    monkeypatch.setattr(
        auth,
        "_revoke_live_session",
        lambda session, _user_id, session_id, now: forgetful(
            session, session.get_one(UserSession, session_id).user_id, session_id, now
        ),
    )
    operation = ("DELETE", "/v1/me/sessions/{session_id}")
    failures = check_case(world, operation, CASES[operation])
    assert [f for f in failures if f.startswith("[other user]") and "got 204" in f], failures
    assert [f for f in failures if "changed the database" in f and "'sessions'" in f], failures


def admin_operations_without_ids() -> list[Operation]:
    return sorted((m, p) for m, p in all_operations(OPENAPI) if p.startswith("/v1/admin/") and not path_params(p))


@pytest.mark.parametrize("operation", admin_operations_without_ids(), ids=lambda op: f"{op[0]} {op[1]}")
def test_staff_routes_refuse_every_tenant_caller(operation: Operation, world: World) -> None:
    method, path = operation
    for party in (world.acme, world.globex):
        for role in ROLES:
            for kind in CREDENTIALS:
                r = world.call(
                    method,
                    path,
                    Target({}, {} if method in ("POST", "PUT", "PATCH") else None),
                    party.credential(role, kind),
                )
                assert r.status == 403, f"{party.name} {role}/{kind}: {r}"
