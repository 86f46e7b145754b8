"""The caller's notifications through HTTP: one row per recipient (so read state is personal), newest first,
an unread filter, keyset pages, mark one read, mark all read; nobody reaches another user's."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.models.iam import Account, User
from primecloud.models.system import Notification
from tests.conftest import ApiClient, assert_problem
from tests.dunning_factories import notification_rows, notify
from tests.factories import Tenant, make_api_key, make_tenant

LIST = "/v1/me/notifications"


def read_url(notification_id: uuid.UUID | str) -> str:
    return f"/v1/me/notifications/{notification_id}/read"


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Acme")


@pytest.fixture
def globex(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Globex")


def titles(api: ApiClient, token: str, **params: str) -> list[str]:
    r = api.get(LIST, token=token, params=params)
    assert r.status == 200, r
    return [item["title"] for item in r.json["items"]]


# --------------------------------------------------------------------------- notify fans out


def test_an_account_wide_notification_is_one_row_per_member(db: sa.Engine, acme: Tenant, globex: Tenant) -> None:
    made = notify(db, account_id=acme.account_id, type="account.suspended", title="Suspended")

    rows = notification_rows(db)
    assert len(made) == 4 and sorted(row.id for row in rows) == sorted(made)
    assert {row.user_id for row in rows} == {member.user_id for member in acme.members.values()}
    assert {row.account_id for row in rows} == {acme.account_id}
    assert all(row.read_at is None and row.type == "account.suspended" for row in rows)


def test_a_notification_for_some_roles_reaches_only_them(db: sa.Engine, acme: Tenant) -> None:
    notify(db, account_id=acme.account_id, roles=("owner", "admin"), type="invoice.reminder", title="Pay")
    recipients = {row.user_id for row in notification_rows(db)}
    assert recipients == {acme.members["owner"].user_id, acme.members["admin"].user_id}


def test_deleted_members_get_nothing(db: sa.Engine, acme: Tenant) -> None:
    from datetime import UTC, datetime

    with Session(db) as session, session.begin():
        session.get_one(User, acme.members["viewer"].user_id).deleted_at = datetime.now(UTC)
    assert len(notify(db, account_id=acme.account_id)) == 3


def test_a_notification_names_a_recipient() -> None:
    from primecloud.services import notifications

    with pytest.raises(ValueError, match="account or a user"):
        notifications.notify(None, type="x", title="y")  # type: ignore[arg-type]


def test_a_long_account_name_does_not_break_the_title(db: sa.Engine, acme: Tenant) -> None:
    (made, *_) = notify(db, account_id=acme.account_id, title="x" * 300)
    with Session(db) as session:
        assert len(session.get_one(Notification, made).title) == 200


# --------------------------------------------------------------------------- listing


def test_members_see_their_own_newest_first(api: ApiClient, db: sa.Engine, acme: Tenant, globex: Tenant) -> None:
    owner, viewer = acme.members["owner"], acme.members["viewer"]
    notify(db, account_id=acme.account_id, title="first, for everyone")
    notify(db, account_id=acme.account_id, user_id=owner.user_id, title="second, for the owner")
    notify(db, account_id=globex.account_id, title="another tenant's news")

    assert titles(api, owner.token) == ["second, for the owner", "first, for everyone"]
    assert titles(api, viewer.token) == ["first, for everyone"]

    r = api.get(LIST, token=owner.token)
    item = r.json["items"][0]
    assert set(item) == {"id", "account_id", "type", "title", "body", "data", "created_at", "read_at", "emailed_at"}
    assert item["account_id"] == str(acme.account_id) and item["read_at"] is None and r.json["next_cursor"] is None


def test_keyset_pages_cover_everything_once(api: ApiClient, db: sa.Engine, acme: Tenant) -> None:
    owner = acme.members["owner"]
    for index in range(5):
        notify(db, user_id=owner.user_id, account_id=acme.account_id, title=f"n{index}")
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        r = api.get(LIST, token=owner.token, params=params)
        assert r.status == 200, r
        seen += [item["title"] for item in r.json["items"]]
        pages += 1
        cursor = r.json["next_cursor"]
        if cursor is None:
            break
    assert seen == ["n4", "n3", "n2", "n1", "n0"] and pages == 3


def test_bad_list_parameters_are_422(api: ApiClient, acme: Tenant) -> None:
    token = acme.token("owner")
    problem = assert_problem(api.get(LIST, token=token, params={"cursor": "nonsense"}), 422, "validation-error")
    assert problem["errors"][0]["field"] == "query.cursor"
    problem = assert_problem(api.get(LIST, token=token, params={"limit": "0"}), 422, "validation-error")
    assert problem["errors"][0]["field"] == "query.limit"
    problem = assert_problem(api.get(LIST, token=token, params={"unread": "perhaps"}), 422, "validation-error")
    assert problem["errors"][0]["field"] == "query.unread"


def test_notifications_need_a_caller(api: ApiClient) -> None:
    assert api.get(LIST).status == 401
    assert api.post("/v1/me/notifications/read-all").status == 401


# --------------------------------------------------------------------------- read state


def test_reading_an_account_wide_notification_is_personal(api: ApiClient, db: sa.Engine, acme: Tenant) -> None:
    owner, admin = acme.members["owner"], acme.members["admin"]
    notify(db, account_id=acme.account_id, title="for everyone")
    (mine,) = api.get(LIST, token=owner.token).json["items"]

    r = api.post(read_url(mine["id"]), token=owner.token)
    assert r.status == 200, r
    assert r.json["id"] == mine["id"] and r.json["read_at"] is not None
    first_read = r.json["read_at"]
    assert api.post(read_url(mine["id"]), token=owner.token).json["read_at"] == first_read  # kept, not moved

    assert titles(api, owner.token, unread="true") == []
    assert titles(api, owner.token, unread="false") == ["for everyone"]
    assert titles(api, admin.token, unread="true") == ["for everyone"]  # the admin's copy is still unread


def test_another_users_notification_is_404(api: ApiClient, db: sa.Engine, acme: Tenant, globex: Tenant) -> None:
    (theirs,) = notify(db, account_id=acme.account_id, user_id=acme.members["owner"].user_id)
    for token in (acme.token("admin"), globex.token("owner")):
        assert_problem(api.post(read_url(theirs), token=token), 404, "not-found")
    assert_problem(api.post(read_url(uuid.uuid4()), token=acme.token("owner")), 404, "not-found")
    problem = assert_problem(api.post(read_url("nope"), token=acme.token("owner")), 422, "validation-error")
    assert problem["errors"][0]["field"] == "path.notification_id"
    (row,) = notification_rows(db)
    assert row.read_at is None


def test_read_all_marks_only_the_callers_unread_ones(api: ApiClient, db: sa.Engine, acme: Tenant) -> None:
    owner, admin = acme.members["owner"], acme.members["admin"]
    notify(db, account_id=acme.account_id, title="a")
    notify(db, account_id=acme.account_id, title="b")
    (already,) = notify(db, account_id=acme.account_id, user_id=owner.user_id, title="c")
    assert api.post(read_url(already), token=owner.token).status == 200

    r = api.post("/v1/me/notifications/read-all", token=owner.token)
    assert r.status == 200 and r.json == {"count": 2}, r
    assert api.post("/v1/me/notifications/read-all", token=owner.token).json == {"count": 0}

    assert titles(api, owner.token, unread="true") == []
    assert sorted(titles(api, admin.token, unread="true")) == ["a", "b"]
    with Session(db) as session:
        unread = session.scalars(sa.select(Notification.user_id).where(Notification.read_at.is_(None))).all()
    assert owner.user_id not in unread and len(unread) == 6  # a and b for the other three members


def test_an_api_key_sees_only_its_accounts_notifications(api: ApiClient, db: sa.Engine, acme: Tenant) -> None:
    owner = acme.members["owner"]
    other = make_tenant(db, "Other")
    with Session(db) as session, session.begin():
        from primecloud.models.iam import AccountMember

        session.add(AccountMember(account_id=other.account_id, user_id=owner.user_id, role="admin"))
        raw, _ = make_api_key(session, session.get_one(Account, acme.account_id), owner.user_id, ["account:read"])
    notify(db, account_id=acme.account_id, user_id=owner.user_id, title="acme news")
    notify(db, account_id=other.account_id, title="other news")
    notify(db, user_id=owner.user_id, title="personal invitation")

    assert titles(api, owner.token) == ["personal invitation", "other news", "acme news"]
    assert titles(api, raw) == ["acme news"]
    assert api.post("/v1/me/notifications/read-all", token=raw).json == {"count": 1}
    assert sorted(titles(api, owner.token, unread="true")) == ["other news", "personal invitation"]
