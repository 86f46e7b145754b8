"""Platform staff suspend and reactivate accounts; members are told, the account turns read-only and its
access keys (IAM in moto) and SFTP logins (the SftpGo stub) are switched off, then back on; a backend
failure is a 503 that leaves nothing half-done."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from localrun.services.sftpgo_stub import SftpGoStub
from primecloud.adapters.tenant_aws import AwsTenantCredentials
from primecloud.errors import Unavailable
from primecloud.models.iam import Account
from primecloud.models.storage import SftpUser
from primecloud.models.system import AuditLog, Notification
from tests.conftest import ApiClient, assert_problem
from tests.dunning_factories import audit_rows
from tests.e2e.sftp_support import sftpgo_stub  # noqa: F401 - a fixture
from tests.e2e.test_access_keys import create_key, iam_key_status, key_row, keys_path
from tests.e2e.test_sftp_users import create_user
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
        assert entries[0].new_value == {
            "status": "suspended",
            "reason": "Invoice 30 days overdue",
            "cause": "staff",
            "access_keys_disabled": 0,
            "sftp_users_disabled": 0,
        }
        notes = session.scalars(sa.select(Notification).order_by(Notification.type.desc())).all()
        members = {member.user_id for member in acme.members.values()}
        # one row per member, so each reads it on their own
        for kind, rows in (("account.suspended", notes[:4]), ("account.reactivated", notes[4:])):
            assert {(n.type, n.account_id) for n in rows} == {(kind, acme.account_id)}
            assert {n.user_id for n in rows} == members
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


# --------------------------------------------------------------------------- backend effects


@pytest.fixture
def stub(sftpgo_stub: SftpGoStub) -> SftpGoStub:  # noqa: F811 - the fixture imported above
    return sftpgo_stub


def key_status(db: sa.Engine, key: dict[str, str]) -> tuple[str, str]:
    """The key's status in the database and in the backend (moto's IAM)."""
    return key_row(db, key["id"]).status, iam_key_status(key["access_key_id"])


def sftp_status(db: sa.Engine, stub: SftpGoStub, login: str) -> tuple[str, int]:
    """The SFTP user's status in the database and in SftpGo (1 enabled, 0 disabled)."""
    with Session(db) as session:
        row = session.scalars(sa.select(SftpUser).where(SftpUser.username == login)).one()
    return row.status, stub.users[login]["status"]


def test_suspension_switches_credentials_off_and_reactivation_back_on(
    api: ApiClient, acme: Tenant, db: sa.Engine, staff: tuple[uuid.UUID, str], stub: SftpGoStub
) -> None:
    _, token = staff
    key = create_key(api, acme, name="deploy").json
    off_by_admin = create_key(api, acme, name="off").json
    api.patch(f"{keys_path(acme)}/{off_by_admin['id']}", token=acme.token("owner"), json={"status": "disabled"})
    login = create_user(api, acme).json["username"]

    assert api.post(suspend_url(acme.account_id), token=token).status == 200

    assert key_status(db, key) == ("disabled", "Inactive")
    assert sftp_status(db, stub, login) == ("disabled", 0)
    (entry,) = audit_rows(db, "account.suspend")
    assert entry.new_value is not None
    assert (entry.new_value["access_keys_disabled"], entry.new_value["sftp_users_disabled"]) == (1, 1)
    assert {
        e.actor_user_id
        for e in audit_rows(db, "access_key.update")
        if (e.new_value or {}).get("reason") == "suspension"
    } == {staff[0]}

    r = api.post(reactivate_url(acme.account_id), token=token)
    assert r.status == 200 and r.json["status"] == "active", r

    assert key_status(db, key) == ("active", "Active")
    assert key_status(db, off_by_admin) == ("disabled", "Inactive")  # the admin's choice is kept
    assert sftp_status(db, stub, login) == ("active", 1)
    (entry,) = audit_rows(db, "account.reactivate")
    assert entry.new_value is not None
    assert (entry.new_value["access_keys_enabled"], entry.new_value["sftp_users_enabled"]) == (1, 1)


def test_a_storage_failure_while_suspending_leaves_everything_active(  # noqa: PLR0917 - fixtures
    api: ApiClient,
    acme: Tenant,
    db: sa.Engine,
    staff: tuple[uuid.UUID, str],
    stub: SftpGoStub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, token = staff
    easy = create_key(api, acme, name="easy").json
    stubborn = create_key(api, acme, name="stubborn").json
    login = create_user(api, acme).json["username"]
    disable = AwsTenantCredentials.disable

    def disable_all_but_stubborn(self: AwsTenantCredentials, access_key_id: str) -> None:
        if access_key_id == stubborn["access_key_id"]:
            raise Unavailable("IAM failed UpdateAccessKey (Throttling).")
        disable(self, access_key_id)

    monkeypatch.setattr(AwsTenantCredentials, "disable", disable_all_but_stubborn)
    assert_problem(api.post(suspend_url(acme.account_id), token=token), 503, "unavailable")

    assert status_of(db, acme.account_id) == "active"
    assert key_status(db, easy) == ("active", "Active")  # switched off, then back on
    assert key_status(db, stubborn) == ("active", "Active")
    assert sftp_status(db, stub, login) == ("active", 1)
    assert audit_rows(db, "account.suspend") == [] and audit_rows(db, "access_key.update") == []
    with Session(db) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 0

    monkeypatch.setattr(AwsTenantCredentials, "disable", disable)  # the backend is back: a retry works
    assert api.post(suspend_url(acme.account_id), token=token).status == 200
    assert key_status(db, stubborn) == ("disabled", "Inactive")


def test_sftpgo_down_while_suspending_leaves_the_keys_active(
    api: ApiClient, acme: Tenant, db: sa.Engine, staff: tuple[uuid.UUID, str], stub: SftpGoStub
) -> None:
    _, token = staff
    key = create_key(api, acme).json
    create_user(api, acme)
    stub.stop()

    assert_problem(api.post(suspend_url(acme.account_id), token=token), 503, "unavailable")

    assert status_of(db, acme.account_id) == "active"
    assert key_status(db, key) == ("active", "Active")
    assert audit_rows(db, "account.suspend") == []


def test_sftpgo_down_while_reactivating_keeps_everything_suspended(
    api: ApiClient, acme: Tenant, db: sa.Engine, staff: tuple[uuid.UUID, str], stub: SftpGoStub
) -> None:
    _, token = staff
    key = create_key(api, acme).json
    login = create_user(api, acme).json["username"]
    assert api.post(suspend_url(acme.account_id), token=token).status == 200
    stub.stop()

    assert_problem(api.post(reactivate_url(acme.account_id), token=token), 503, "unavailable")

    assert status_of(db, acme.account_id) == "suspended"
    assert key_status(db, key) == ("disabled", "Inactive")  # enabled, then switched off again
    assert stub.users[login]["status"] == 0
    assert audit_rows(db, "account.reactivate") == []


def test_a_login_sftpgo_lost_does_not_block_reactivation(
    api: ApiClient, acme: Tenant, db: sa.Engine, staff: tuple[uuid.UUID, str], stub: SftpGoStub
) -> None:
    _, token = staff
    login = create_user(api, acme).json["username"]
    assert api.post(suspend_url(acme.account_id), token=token).status == 200
    del stub.users[login]  # gone from SftpGo behind our back: nobody can log in as it

    r = api.post(reactivate_url(acme.account_id), token=token)
    assert r.status == 200 and r.json["status"] == "active", r
    with Session(db) as session:
        assert session.scalars(sa.select(SftpUser.status)).one() == "disabled"
