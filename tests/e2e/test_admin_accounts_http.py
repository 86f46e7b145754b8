"""Platform staff suspend and reactivate accounts; members are told and the account turns read-only."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.models.iam import Account
from primecloud.models.system import AuditLog, Notification
from tests.conftest import ApiClient, assert_problem
from tests.factories import Tenant, make_api_key, make_session_token, make_tenant, make_user


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Acme")


@pytest.fixture
def staff(db: sa.Engine) -> tuple[uuid.UUID, str]:
    with Session(db) as session, session.begin():
        user = make_user(session, platform_admin=True)
        token, _ = make_session_token(session, user.id)
        return user.id, token


def suspend_url(account_id: uuid.UUID) -> str:
    return f"/v1/admin/accounts/{account_id}/suspend"


def reactivate_url(account_id: uuid.UUID) -> str:
    return f"/v1/admin/accounts/{account_id}/reactivate"


def status_of(db: sa.Engine, account_id: uuid.UUID) -> str:
    with Session(db) as session:
        return session.get_one(Account, account_id).status


@pytest.mark.parametrize("role", ["owner", "admin", "member", "viewer"])
def test_account_members_are_not_platform_staff(api: ApiClient, acme: Tenant, db: sa.Engine, role: str) -> None:
    assert_problem(api.post(suspend_url(acme.account_id), token=acme.token(role)), 403, "forbidden")
    with Session(db) as session, session.begin():
        session.get_one(Account, acme.account_id).status = "suspended"
    assert_problem(api.post(reactivate_url(acme.account_id), token=acme.token(role)), 403, "forbidden")
    assert status_of(db, acme.account_id) == "suspended"


def test_staff_api_keys_are_refused(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    with Session(db) as session, session.begin():
        staff_user = make_user(session, platform_admin=True)
        raw, _ = make_api_key(session, session.get_one(Account, acme.account_id), staff_user.id, ["account:write"])
    assert_problem(api.post(suspend_url(acme.account_id), token=raw), 403, "forbidden")


def test_staff_suspend_and_reactivate(
    api: ApiClient, acme: Tenant, db: sa.Engine, staff: tuple[uuid.UUID, str]
) -> None:
    staff_id, token = staff
    r = api.post(suspend_url(acme.account_id), token=token, json={"reason": "Invoice 30 days overdue"})
    assert r.status == 200, r
    assert r.json["id"] == str(acme.account_id) and r.json["status"] == "suspended"
    assert status_of(db, acme.account_id) == "suspended"

    r = api.post(reactivate_url(acme.account_id), token=token)  # the reason is optional, so is the body
    assert r.status == 200 and r.json["status"] == "active", r
    assert status_of(db, acme.account_id) == "active"

    with Session(db) as session:
        entries = session.scalars(sa.select(AuditLog).order_by(AuditLog.created_at, AuditLog.action.desc())).all()
        assert [(e.action, e.severity, e.account_id, e.actor_user_id) for e in entries] == [
            ("account.suspend", "warning", acme.account_id, staff_id),
            ("account.reactivate", "warning", acme.account_id, staff_id),
        ]
        assert entries[0].old_value == {"status": "active"}
        assert entries[0].new_value == {"status": "suspended", "reason": "Invoice 30 days overdue"}
        notes = session.scalars(sa.select(Notification).order_by(Notification.type.desc())).all()
        assert [(n.type, n.account_id, n.user_id) for n in notes] == [
            ("account.suspended", acme.account_id, None),
            ("account.reactivated", acme.account_id, None),
        ]
        assert notes[0].body == "Invoice 30 days overdue"


def test_wrong_state_is_409(api: ApiClient, acme: Tenant, db: sa.Engine, staff: tuple[uuid.UUID, str]) -> None:
    _, token = staff
    assert_problem(api.post(reactivate_url(acme.account_id), token=token), 409, "conflict")
    assert api.post(suspend_url(acme.account_id), token=token).status == 200
    assert_problem(api.post(suspend_url(acme.account_id), token=token), 409, "conflict")
    with Session(db) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(AuditLog)) == 1


def test_unknown_and_closed_accounts_are_404(
    api: ApiClient, acme: Tenant, db: sa.Engine, staff: tuple[uuid.UUID, str]
) -> None:
    _, token = staff
    assert_problem(api.post(suspend_url(uuid.uuid4()), token=token), 404, "not-found")
    assert api.delete(f"/v1/accounts/{acme.account_id}", token=acme.token("owner")).status == 204
    assert_problem(api.post(suspend_url(acme.account_id), token=token), 404, "not-found")
    problem = assert_problem(api.post("/v1/admin/accounts/nope/suspend", token=token), 422, "validation-error")
    assert problem["errors"][0]["field"] == "path.account_id"


def test_reason_is_checked(api: ApiClient, acme: Tenant, staff: tuple[uuid.UUID, str]) -> None:
    _, token = staff
    problem = assert_problem(
        api.post(suspend_url(acme.account_id), token=token, json={"reason": "x" * 501}), 422, "validation-error"
    )
    assert problem["errors"][0]["field"] == "body.reason"
    r = api.post(suspend_url(acme.account_id), token=token, data="{bad", headers={"content-type": "application/json"})
    assert_problem(r, 400, "bad-request")
