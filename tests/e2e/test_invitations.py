"""Invitations through HTTP: invite by email, list, revoke, accept once with the emailed token."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud import clock
from primecloud.actor import Actor
from primecloud.models.iam import Account, AccountMember, Invitation, User
from primecloud.models.system import AuditLog, Notification
from primecloud.tokens import hash_token
from tests.conftest import ApiClient, ApiResponse, assert_problem
from tests.factories import Tenant, make_account, make_api_key, make_session_token, make_tenant, make_user

TOKEN_PATTERN = re.compile(r"pci_[A-Za-z0-9_-]+")


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Acme")


@pytest.fixture
def globex(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Globex")


@dataclass
class Person:
    """A signed-in user who belongs to no account yet."""

    user_id: uuid.UUID
    email: str
    token: str


def make_person(engine: sa.Engine, email: str | None = None) -> Person:
    with Session(engine) as session, session.begin():
        user = make_user(session, email=email or f"invitee-{uuid.uuid4().hex[:10]}@example.test")
        token, _ = make_session_token(session, user.id)
        return Person(user.id, user.email, token)


def fresh_email() -> str:
    return f"new-{uuid.uuid4().hex[:10]}@example.test"


def invitations_path(tenant: Tenant) -> str:
    return f"/v1/accounts/{tenant.account_id}/invitations"


def invite(api: ApiClient, tenant: Tenant, email: str, role: str = "member", *, as_role: str = "owner") -> ApiResponse:
    return api.post(invitations_path(tenant), token=tenant.token(as_role), json={"email": email, "role": role})


def inbox(email: str) -> list[Any]:
    """What moto's SES (in this process) delivered to ``email``, oldest first."""
    from moto.ses.models import ses_backends

    sent = ses_backends["123456789012"]["us-east-1"].sent_messages
    return [m for m in sent if email in m.destinations.get("ToAddresses", [])]


def emailed_token(email: str) -> str:
    (message,) = inbox(email)
    match = TOKEN_PATTERN.search(message.body)
    assert match, message.body
    return match.group(0)


def audit_rows(engine: sa.Engine, action: str) -> list[AuditLog]:
    with Session(engine) as session:
        return list(session.scalars(sa.select(AuditLog).where(AuditLog.action == action)))


def all_audit_json(engine: sa.Engine) -> str:
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT * FROM audit_logs")).mappings().all()
    return json.dumps([dict(row) for row in rows], default=str)


def invitation_row(engine: sa.Engine, invitation_id: str) -> Invitation:
    with Session(engine) as session:
        return session.get_one(Invitation, uuid.UUID(invitation_id))


# --- create ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "status"), [("owner", 201), ("admin", 201), ("member", 403), ("viewer", 403)])
def test_who_may_invite(api: ApiClient, acme: Tenant, role: str, status: int) -> None:
    r = invite(api, acme, fresh_email(), "viewer", as_role=role)
    assert r.status == status, r


def test_invitation_is_created_emailed_and_audited_without_its_token(
    api: ApiClient, acme: Tenant, db: sa.Engine
) -> None:
    email = fresh_email()
    before = datetime.now(UTC)
    r = invite(api, acme, email, "admin", as_role="admin")

    assert r.status == 201, r
    body = r.json
    assert body["email"] == email and body["role"] == "admin" and body["status"] == "pending"
    assert body["account_id"] == str(acme.account_id)
    assert body["invited_by"] == str(acme.members["admin"].user_id)
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert before + timedelta(days=7) <= expires_at <= datetime.now(UTC) + timedelta(days=7)
    assert body["accepted_at"] is None and body["revoked_at"] is None
    assert not {"token", "token_hash"} & body.keys()

    # the email carries the token and how to use it; the row keeps only its hash
    (message,) = inbox(email)
    assert "Acme" in message.subject
    assert "/v1/invitations/accept" in message.body and "as admin" in message.body
    token = emailed_token(email)
    assert token not in r.text
    row = invitation_row(db, body["id"])
    assert row.token_hash == hash_token(token)

    (entry,) = audit_rows(db, "invitation.create")
    assert entry.account_id == acme.account_id and entry.actor_user_id == acme.members["admin"].user_id
    assert entry.target_type == "invitation" and entry.target_id == body["id"]
    assert entry.new_value is not None and entry.new_value["email"] == email and entry.new_value["role"] == "admin"
    assert token not in all_audit_json(db) and row.token_hash not in all_audit_json(db)


def test_an_existing_user_is_also_notified_in_app(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    person = make_person(db)
    r = invite(api, acme, person.email.upper())  # matched case-insensitively
    assert r.status == 201, r
    with Session(db) as session:
        (note,) = session.scalars(sa.select(Notification).where(Notification.user_id == person.user_id))
    assert note.type == "invitation.received" and "Acme" in note.title
    assert note.data["account_id"] == str(acme.account_id) and note.data["invitation_id"] == r.json["id"]
    assert TOKEN_PATTERN.search(json.dumps(note.data) + note.body) is None  # the token travels by email only


def test_a_new_address_gets_no_notification(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    assert invite(api, acme, fresh_email()).status == 201
    with Session(db) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 0


@pytest.mark.parametrize(
    ("inviter", "role", "status"),
    [
        ("admin", "owner", 403),
        ("admin", "admin", 201),
        ("admin", "viewer", 201),
        ("owner", "owner", 201),
    ],
)
def test_the_invited_role_is_at_most_the_inviters(
    api: ApiClient, acme: Tenant, inviter: str, role: str, status: int
) -> None:
    r = invite(api, acme, fresh_email(), role, as_role=inviter)
    assert r.status == status, r
    if status == 403:
        assert_problem(r, 403, "forbidden")


def test_inviting_a_member_is_409(api: ApiClient, acme: Tenant) -> None:
    viewer_email = acme.members["viewer"].email
    body = assert_problem(invite(api, acme, viewer_email.upper()), 409, "conflict")
    assert "already a member" in str(body["detail"])
    assert inbox(viewer_email) == []


def test_a_second_pending_invitation_for_the_address_is_409(api: ApiClient, acme: Tenant) -> None:
    email = fresh_email()
    assert invite(api, acme, email).status == 201
    assert_problem(invite(api, acme, email.upper(), "viewer"), 409, "conflict")
    assert len(inbox(email)) == 1


def test_after_a_revoke_the_address_can_be_invited_again(api: ApiClient, acme: Tenant) -> None:
    email = fresh_email()
    first = invite(api, acme, email)
    assert api.delete(f"{invitations_path(acme)}/{first.json['id']}", token=acme.token("owner")).status == 204
    assert invite(api, acme, email).status == 201


def test_after_expiry_the_address_can_be_invited_again(
    api: ApiClient, acme: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    email = fresh_email()
    assert invite(api, acme, email).status == 201
    later = datetime.now(UTC) + timedelta(days=8)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert invite(api, acme, email).status == 201


def test_the_same_address_may_be_invited_to_two_accounts(api: ApiClient, acme: Tenant, globex: Tenant) -> None:
    email = fresh_email()
    assert invite(api, acme, email).status == 201
    assert invite(api, globex, email).status == 201


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "not-an-email", "role": "member"}, "body.email"),
        ({"email": "a b@example.test", "role": "member"}, "body.email"),
        ({"email": "x" * 320 + "@example.test", "role": "member"}, "body.email"),
        ({"email": "ok@example.test", "role": "superuser"}, "body.role"),
        ({"role": "member"}, "body.email"),
        ({"email": "ok@example.test"}, "body.role"),
        ({"email": "ok@example.test", "role": "member", "token": "pci_mine"}, "body.token"),
    ],
    ids=["no-at", "space", "too-long", "unknown-role", "no-email", "no-role", "unknown-field"],
)
def test_bad_invitation_input_is_422_naming_the_field(
    api: ApiClient, acme: Tenant, payload: dict[str, Any], field: str
) -> None:
    body = assert_problem(
        api.post(invitations_path(acme), token=acme.token("owner"), json=payload), 422, "validation-error"
    )
    assert field in [error["field"] for error in body["errors"]], body
    assert "superuser" not in json.dumps(body) and "not-an-email" not in json.dumps(body)  # never echoed


def test_malformed_json_is_400(api: ApiClient, acme: Tenant) -> None:
    r = api.post(
        invitations_path(acme),
        token=acme.token("owner"),
        data='{"email": ',
        headers={"content-type": "application/json"},
    )
    assert_problem(r, 400, "bad-request")


def test_another_tenants_account_is_404(api: ApiClient, acme: Tenant, globex: Tenant) -> None:
    r = api.post(invitations_path(globex), token=acme.token("owner"), json={"email": fresh_email(), "role": "viewer"})
    assert_problem(r, 404, "not-found")
    assert_problem(api.get(invitations_path(globex), token=acme.token("owner")), 404, "not-found")


def test_an_api_key_needs_members_write(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    with Session(db) as session, session.begin():
        account = session.get_one(Account, acme.account_id)
        admin_id = acme.members["admin"].user_id
        read_only, _ = make_api_key(session, account, admin_id, ["members:read"])
        writer, _ = make_api_key(session, account, admin_id, ["members:write"])
    payload = {"email": fresh_email(), "role": "member"}
    assert_problem(api.post(invitations_path(acme), token=read_only, json=payload), 403, "forbidden")
    r = api.post(invitations_path(acme), token=writer, json=payload)
    assert r.status == 201 and r.json["invited_by"] == str(admin_id)


def test_when_the_mail_service_refuses_nothing_is_kept(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    from primecloud.adapters.email import default_mailer

    mailer = default_mailer()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mailer, "sender", "unverified@nowhere.test")  # moto's SES rejects unverified senders
        r = invite(api, acme, fresh_email())
    assert_problem(r, 503, "unavailable")
    with Session(db) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Invitation)) == 0
    assert audit_rows(db, "invitation.create") == []


# --- list -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "status"), [("owner", 200), ("admin", 200), ("member", 403), ("viewer", 403)])
def test_who_may_list_invitations(api: ApiClient, acme: Tenant, role: str, status: int) -> None:
    assert api.get(invitations_path(acme), token=acme.token(role)).status == status


def test_list_derives_each_status_and_pages(
    api: ApiClient, acme: Tenant, globex: Tenant, db: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    emails = {name: fresh_email() for name in ("expired", "accepted", "revoked", "pending")}
    invite(api, globex, fresh_email())  # another account's invitation never shows up
    with pytest.MonkeyPatch.context() as patch:
        long_ago = datetime.now(UTC) - timedelta(days=8)
        patch.setattr(clock, "now", lambda: long_ago)
        assert invite(api, acme, emails["expired"]).status == 201
    person = make_person(db, emails["accepted"])
    assert invite(api, acme, person.email).status == 201
    accepted = api.post("/v1/invitations/accept", token=person.token, json={"token": emailed_token(person.email)})
    assert accepted.status == 200, accepted
    revoked = invite(api, acme, emails["revoked"])
    api.delete(f"{invitations_path(acme)}/{revoked.json['id']}", token=acme.token("admin"))
    assert invite(api, acme, emails["pending"]).status == 201

    r = api.get(invitations_path(acme), token=acme.token("admin"))
    assert r.status == 200, r
    by_email = {item["email"]: item["status"] for item in r.json["items"]}
    assert by_email == {email: status for status, email in emails.items()}
    assert r.json["next_cursor"] is None
    assert all("token_hash" not in item and "token" not in item for item in r.json["items"])
    assert r.json["items"][0]["email"] == emails["pending"]  # newest first

    first = api.get(invitations_path(acme), token=acme.token("admin"), params={"limit": 3})
    assert len(first.json["items"]) == 3 and first.json["next_cursor"]
    rest = api.get(
        invitations_path(acme), token=acme.token("admin"), params={"limit": 3, "cursor": first.json["next_cursor"]}
    )
    assert len(rest.json["items"]) == 1 and rest.json["next_cursor"] is None
    assert {i["id"] for i in first.json["items"]} | {i["id"] for i in rest.json["items"]} == {
        i["id"] for i in r.json["items"]
    }


def test_list_rejects_a_bad_cursor_and_limit(api: ApiClient, acme: Tenant) -> None:
    bad_cursor = api.get(invitations_path(acme), token=acme.token("owner"), params={"cursor": "nope"})
    assert assert_problem(bad_cursor, 422, "validation-error")["errors"][0]["field"] == "query.cursor"
    bad_limit = api.get(invitations_path(acme), token=acme.token("owner"), params={"limit": 0})
    assert assert_problem(bad_limit, 422, "validation-error")["errors"][0]["field"] == "query.limit"


# --- revoke ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "status"), [("owner", 204), ("admin", 204), ("member", 403), ("viewer", 403)])
def test_who_may_revoke(api: ApiClient, acme: Tenant, role: str, status: int) -> None:
    invitation_id = invite(api, acme, fresh_email()).json["id"]
    assert api.delete(f"{invitations_path(acme)}/{invitation_id}", token=acme.token(role)).status == status


def test_revoke_marks_the_invitation_and_is_audited_once(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    invitation_id = invite(api, acme, fresh_email()).json["id"]
    r = api.delete(f"{invitations_path(acme)}/{invitation_id}", token=acme.token("admin"))
    assert r.status == 204 and r.text == ""
    assert invitation_row(db, invitation_id).revoked_at is not None
    # DELETE is idempotent: a second revoke answers 204 and records nothing new
    assert api.delete(f"{invitations_path(acme)}/{invitation_id}", token=acme.token("admin")).status == 204
    (entry,) = audit_rows(db, "invitation.revoke")
    assert entry.account_id == acme.account_id and entry.target_id == invitation_id
    assert entry.actor_user_id == acme.members["admin"].user_id


def test_an_accepted_invitation_cannot_be_revoked(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    person = make_person(db)
    invitation_id = invite(api, acme, person.email).json["id"]
    api.post("/v1/invitations/accept", token=person.token, json={"token": emailed_token(person.email)})
    r = api.delete(f"{invitations_path(acme)}/{invitation_id}", token=acme.token("owner"))
    assert_problem(r, 409, "conflict")


def test_revoking_another_accounts_invitation_is_404(
    api: ApiClient, acme: Tenant, globex: Tenant, db: sa.Engine
) -> None:
    globex_invitation = invite(api, globex, fresh_email()).json["id"]
    # through Acme's own path, where Acme's owner has every right: it is not Acme's
    r = api.delete(f"{invitations_path(acme)}/{globex_invitation}", token=acme.token("owner"))
    assert_problem(r, 404, "not-found")
    # and through Globex's path, where Acme's owner is nobody
    assert api.delete(f"{invitations_path(globex)}/{globex_invitation}", token=acme.token("owner")).status == 404
    assert invitation_row(db, globex_invitation).revoked_at is None
    missing = api.delete(f"{invitations_path(acme)}/{uuid.uuid4()}", token=acme.token("owner"))
    assert_problem(missing, 404, "not-found")


def test_revoke_with_a_malformed_id_is_422(api: ApiClient, acme: Tenant) -> None:
    body = assert_problem(
        api.delete(f"{invitations_path(acme)}/not-a-uuid", token=acme.token("owner")), 422, "validation-error"
    )
    assert body["errors"][0]["field"] == "path.invitation_id"


# --- accept ---------------------------------------------------------------------------------------


def accept(api: ApiClient, person: Person, token: str) -> ApiResponse:
    return api.post("/v1/invitations/accept", token=person.token, json={"token": token})


def test_the_emailed_token_makes_the_invitee_a_member_once(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    person = make_person(db)
    invitation_id = invite(api, acme, person.email, "admin", as_role="owner").json["id"]
    token = emailed_token(person.email)

    r = accept(api, person, token)
    assert r.status == 200, r
    assert r.json == {"account_id": str(acme.account_id), "role": "admin"}
    with Session(db) as session:
        role = session.scalar(
            sa.select(AccountMember.role).where(
                AccountMember.account_id == acme.account_id, AccountMember.user_id == person.user_id
            )
        )
    assert role == "admin"
    assert invitation_row(db, invitation_id).accepted_at is not None
    (entry,) = audit_rows(db, "invitation.accept")
    assert entry.account_id == acme.account_id and entry.actor_user_id == person.user_id
    assert entry.target_id == invitation_id
    assert token not in all_audit_json(db)

    # the new member reaches the account with the invited role
    account = api.get(f"/v1/accounts/{acme.account_id}", token=person.token)
    assert account.status == 200 and account.json["my_role"] == "admin"

    # single use
    again = accept(api, person, token)
    assert_problem(again, 404, "not-found")


def test_every_unusable_token_gets_the_same_404(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    person = make_person(db)
    unknown = accept(api, person, "pci_" + "x" * 43)
    detail = assert_problem(unknown, 404, "not-found")["detail"]

    revoked_id = invite(api, acme, person.email).json["id"]
    revoked_token = emailed_token(person.email)
    api.delete(f"{invitations_path(acme)}/{revoked_id}", token=acme.token("owner"))
    assert assert_problem(accept(api, person, revoked_token), 404, "not-found")["detail"] == detail

    with Session(db) as session:
        assert (
            session.scalar(
                sa.select(sa.func.count()).select_from(AccountMember).where(AccountMember.user_id == person.user_id)
            )
            == 0
        )


def test_an_expired_invitation_cannot_be_accepted(
    api: ApiClient, acme: Tenant, db: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    person = make_person(db)
    invitation_id = invite(api, acme, person.email).json["id"]
    token = emailed_token(person.email)
    later = datetime.now(UTC) + timedelta(days=8)
    monkeypatch.setattr(clock, "now", lambda: later)

    assert_problem(accept(api, person, token), 404, "not-found")
    assert invitation_row(db, invitation_id).accepted_at is None
    listed = api.get(invitations_path(acme), token=acme.token("owner")).json["items"]
    assert [item["status"] for item in listed] == ["expired"]


def test_someone_else_cannot_use_the_token(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    invitee = make_person(db)
    intruder = make_person(db)
    invite(api, acme, invitee.email)
    token = emailed_token(invitee.email)

    body = assert_problem(accept(api, intruder, token), 403, "forbidden")
    assert "another email address" in str(body["detail"])
    # the rightful invitee still can
    assert accept(api, invitee, token).status == 200


def test_the_email_matches_case_insensitively(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    person = make_person(db, f"Mixed.Case-{uuid.uuid4().hex[:6]}@Example.test")
    invite(api, acme, person.email.lower())
    assert accept(api, person, emailed_token(person.email.lower())).status == 200


def test_accepting_when_already_a_member_is_409(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    person = make_person(db)
    invitation_id = invite(api, acme, person.email, "admin").json["id"]
    with Session(db) as session, session.begin():  # joined some other way in the meantime
        session.add(AccountMember(account_id=acme.account_id, user_id=person.user_id, role="viewer"))
    assert_problem(accept(api, person, emailed_token(person.email)), 409, "conflict")
    assert invitation_row(db, invitation_id).accepted_at is None


def test_an_invitation_to_a_deleted_account_cannot_be_accepted(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    person = make_person(db)
    invite(api, acme, person.email)
    with Session(db) as session, session.begin():
        session.get_one(Account, acme.account_id).deleted_at = datetime.now(UTC)
    assert_problem(accept(api, person, emailed_token(person.email)), 404, "not-found")


def test_accept_needs_a_signed_in_user(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    person = make_person(db)
    invite(api, acme, person.email)
    token = emailed_token(person.email)
    r = api.post("/v1/invitations/accept", json={"token": token})
    assert r.status == 401 and r.json == {"message": "Unauthorized"}

    # an API key of the invitee (from an account of their own) is not the user
    with Session(db) as session, session.begin():
        user = session.get_one(User, person.user_id)
        own = make_account(session, user, name="Own")
        raw_key, _ = make_api_key(session, own, person.user_id, ["members:write", "account:read"])
    assert_problem(api.post("/v1/invitations/accept", token=raw_key, json={"token": token}), 403, "forbidden")
    assert accept(api, person, token).status == 200


@pytest.mark.parametrize(
    ("payload", "field"),
    [({}, "body.token"), ({"token": ""}, "body.token"), ({"token": "x" * 300}, "body.token")],
    ids=["missing", "empty", "too-long"],
)
def test_bad_accept_input_is_422(api: ApiClient, db: sa.Engine, payload: dict[str, Any], field: str) -> None:
    person = make_person(db)
    body = assert_problem(api.post("/v1/invitations/accept", token=person.token, json=payload), 422, "validation-error")
    assert body["errors"][0]["field"] == field


def test_accept_with_malformed_json_is_400(api: ApiClient, db: sa.Engine) -> None:
    person = make_person(db)
    r = api.post(
        "/v1/invitations/accept", token=person.token, data="{nope", headers={"content-type": "application/json"}
    )
    assert_problem(r, 400, "bad-request")


def test_accept_for_user_during_signup_names_the_new_user(api: ApiClient, acme: Tenant, db: sa.Engine) -> None:
    """What signup calls: the actor is anonymous, the audit entry still names the user."""
    from primecloud.services import invitations

    email = fresh_email()
    invite(api, acme, email, "viewer")
    token = emailed_token(email)
    with Session(db) as session, session.begin():
        user = make_user(session, email=email)
        member = invitations.accept_for_user(session, Actor(ip="198.51.100.7"), user, token)
        user_id = user.id
        assert (member.account_id, member.role) == (acme.account_id, "viewer")
    (entry,) = audit_rows(db, "invitation.accept")
    assert entry.actor_user_id == user_id and entry.ip == "198.51.100.7"
