"""Share links through HTTP: made by bucket admins, shown once, downloaded publicly with a 302 to S3,
one 404 for every dead link, passwords, download limits that hold under concurrency."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.models.iam import Account
from primecloud.models.storage import ObjectShare
from primecloud.models.system import AuditLog
from primecloud.tokens import hash_token
from tests.conftest import ROOT, ApiClient, ApiResponse, assert_problem
from tests.factories import Tenant, grant, make_api_key, make_bucket, make_tenant

CONTENT = b"quarterly numbers\n" + bytes(range(256)) * 64
KEY = "reports/2026/q3 summary.pdf"
PASSWORD = "open sesame 42"


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Acme")


@pytest.fixture
def globex(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Globex")


class StoredBucket:
    def __init__(self, engine: sa.Engine, tenant: Tenant) -> None:
        self.name = f"share-{uuid.uuid4().hex[:16]}"
        self.id = make_bucket(engine, tenant.account_id, self.name)
        self.tenant = tenant

    @property
    def shares_path(self) -> str:
        return f"/v1/accounts/{self.tenant.account_id}/buckets/{self.id}/shares"

    def put(self, key: str = KEY, body: bytes = CONTENT) -> None:
        boto3.client("s3").put_object(Bucket=self.name, Key=key, Body=body)


@pytest.fixture
def bucket(db: sa.Engine, acme: Tenant, api: ApiClient) -> StoredBucket:
    stored = StoredBucket(db, acme)
    stored.put()
    return stored


def create_share(
    api: ApiClient, bucket: StoredBucket, *, as_role: str = "owner", token: str | None = None, **fields: Any
) -> ApiResponse:
    body = {"key": KEY, "expires_in_seconds": 3600, **fields}
    return api.post(bucket.shares_path, token=token or bucket.tenant.token(as_role), json=body)


def new_share(api: ApiClient, bucket: StoredBucket, **fields: Any) -> dict[str, Any]:
    r = create_share(api, bucket, **fields)
    assert r.status == 201, r
    return r.json  # type: ignore[no-any-return]


def download(api: ApiClient, token: str, **kwargs: Any) -> requests.Response:
    """The public link, as a client that does not follow the redirect."""
    return requests.get(f"{api.base_url}/v1/shares/{token}", allow_redirects=False, timeout=30, **kwargs)


def share_row(engine: sa.Engine, share_id: str) -> ObjectShare:
    with Session(engine) as session:
        return session.get_one(ObjectShare, uuid.UUID(share_id))


def audit_rows(engine: sa.Engine, action: str) -> list[AuditLog]:
    with Session(engine) as session:
        return list(session.scalars(sa.select(AuditLog).where(AuditLog.action == action)))


def set_share(engine: sa.Engine, share_id: str, **values: Any) -> None:
    with Session(engine) as session, session.begin():
        session.execute(sa.update(ObjectShare).where(ObjectShare.id == uuid.UUID(share_id)).values(**values))


def in_days(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


# --- the acceptance path ----------------------------------------------------------------------------


def test_a_share_link_downloads_the_objects_bytes(api: ApiClient, bucket: StoredBucket, db: sa.Engine) -> None:
    # given an object in a bucket and a link to it
    share = new_share(api, bucket)

    # when anyone opens the link
    r = download(api, share["token"])

    # then they are sent to a short-lived presigned URL that serves the object
    assert r.status_code == 302, r.text
    assert r.headers["Cache-Control"] == "no-store"
    location = r.headers["Location"]
    assert bucket.name in location and "Signature=" in location
    assert "Expires=300" in location or "X-Amz-Expires=300" in location  # valid 5 minutes
    fetched = requests.get(location, timeout=30)
    assert fetched.status_code == 200
    assert fetched.content == CONTENT
    assert 'filename="q3 summary.pdf"' in fetched.headers["Content-Disposition"]
    assert share_row(db, share["id"]).download_count == 1


def test_the_request_logs_name_the_route_never_the_token(
    api: ApiClient, bucket: StoredBucket, caplog: pytest.LogCaptureFixture
) -> None:
    share = new_share(api, bucket)
    with caplog.at_level("INFO"):  # the production level (DEBUG logs of Powertools show handler arguments)
        assert download(api, share["token"]).status_code == 302
        assert download(api, share["token"] + "x").status_code == 404
        assert requests.post(f"{api.base_url}/v1/shares/{share['token']}", timeout=30).status_code == 404  # no route
    assert "GET /v1/shares/{token} -> DownloadShareFunction 302" in caplog.text
    assert "POST (no route) -> - 404" in caplog.text
    assert share["token"] not in caplog.text
    # API Gateway's access log: the route key, never the raw path
    access_log = (ROOT / "template.yaml").read_text(encoding="utf-8").split("AccessLogSettings:")[1].split("Tags:")[0]
    assert "$context.routeKey" in access_log and "$context.path" not in access_log


def test_the_token_is_shown_once_and_stored_only_as_a_hash(
    api: ApiClient, bucket: StoredBucket, acme: Tenant, db: sa.Engine
) -> None:
    r = create_share(api, bucket, as_role="admin", max_downloads=3, password=PASSWORD)

    assert r.status == 201, r
    body = r.json
    token = body["token"]
    assert token.startswith("pcs_") and len(token) > 40
    assert body["url"].startswith("http") and body["url"].endswith(f"/v1/shares/{token}")
    assert body["key"] == KEY and body["max_downloads"] == 3 and body["download_count"] == 0
    assert body["password_protected"] is True and body["revoked_at"] is None
    assert body["created_by"] == str(acme.members["admin"].user_id)
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert timedelta(minutes=59) < expires_at - datetime.now(UTC) <= timedelta(hours=1)

    row = share_row(db, body["id"])
    assert row.token_hash == hash_token(token) and row.bucket_id == bucket.id
    assert row.password_hash is not None and PASSWORD not in row.password_hash
    with db.connect() as connection:
        dump = json.dumps(
            [dict(r) for r in connection.execute(sa.text("SELECT * FROM object_shares")).mappings()], default=str
        )
    assert token not in dump and PASSWORD not in dump

    (entry,) = audit_rows(db, "share.create")
    assert entry.account_id == acme.account_id and entry.actor_user_id == acme.members["admin"].user_id
    assert entry.target_type == "object_share" and entry.target_id == body["id"]
    assert entry.new_value is not None and entry.new_value["object_key"] == KEY
    assert entry.new_value["password_protected"] is True and entry.new_value["max_downloads"] == 3
    audit_json = json.dumps(entry.new_value)
    assert token not in audit_json and PASSWORD not in audit_json and row.token_hash not in audit_json


def test_expires_at_may_be_given_instead(api: ApiClient, bucket: StoredBucket) -> None:
    expires_at = in_days(29.9)
    share = new_share(api, bucket, expires_in_seconds=None, expires_at=expires_at)
    assert datetime.fromisoformat(share["expires_at"]) == datetime.fromisoformat(expires_at)
    assert download(api, share["token"]).status_code == 302


def test_a_missing_object_cannot_be_shared(api: ApiClient, bucket: StoredBucket, db: sa.Engine) -> None:
    r = create_share(api, bucket, key="reports/nothing-here.pdf")
    assert_problem(r, 404, "not-found")
    with Session(db) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(ObjectShare)) == 0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"expires_in_seconds": 30 * 86400 + 1}, "body.expires_in_seconds"),
        ({"expires_in_seconds": None, "expires_at": in_days(30.01)}, "body.expires_at"),
        ({"expires_in_seconds": None, "expires_at": in_days(-0.01)}, "body.expires_at"),
        ({"expires_in_seconds": None, "expires_at": "2030-01-01T00:00:00"}, "body.expires_at"),
        ({"expires_in_seconds": 0}, "body.expires_in_seconds"),
        ({"expires_in_seconds": None}, "body"),
        ({"expires_at": in_days(1)}, "body"),
        ({"password": "short"}, "body.password"),
        ({"password": " padded password "}, "body.password"),
        ({"max_downloads": 0}, "body.max_downloads"),
        ({"key": ""}, "body.key"),
        ({"key": "k" * 1025}, "body.key"),
        ({"token_hash": "0" * 64}, "body.token_hash"),
    ],
    ids=[
        "beyond-30-days-in-seconds",
        "beyond-30-days-at",
        "expired-already",
        "naive-datetime",
        "zero-seconds",
        "no-expiry",
        "two-expiries",
        "short-password",
        "padded-password",
        "zero-downloads",
        "empty-key",
        "long-key",
        "unknown-field",
    ],
)
def test_bad_share_input_is_422_naming_the_field(
    api: ApiClient, bucket: StoredBucket, db: sa.Engine, fields: dict[str, Any], field: str
) -> None:
    body = assert_problem(create_share(api, bucket, **fields), 422, "validation-error")
    assert any(error["field"].startswith(field) for error in body["errors"]), body
    assert "padded password" not in json.dumps(body)  # rejected values are never echoed
    with Session(db) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(ObjectShare)) == 0


# --- listing and revoking ---------------------------------------------------------------------------


def test_listing_pages_through_links_without_their_secrets(api: ApiClient, bucket: StoredBucket) -> None:
    made = [new_share(api, bucket, max_downloads=n) for n in (1, 2, 3)]
    made[0] = {**made[0], "password_protected": False}

    first = api.get(bucket.shares_path, token=bucket.tenant.token("admin"), params={"limit": 2})
    assert first.status == 200, first
    second = api.get(
        bucket.shares_path, token=bucket.tenant.token("admin"), params={"limit": 2, "cursor": first.json["next_cursor"]}
    )
    assert second.json["next_cursor"] is None
    items = first.json["items"] + second.json["items"]
    assert [item["id"] for item in items] == [share["id"] for share in reversed(made)]  # newest first
    assert set(items[0]) == {
        "id",
        "key",
        "expires_at",
        "max_downloads",
        "download_count",
        "password_protected",
        "revoked_at",
        "created_by",
        "created_at",
    }
    listing = first.text + second.text
    assert all(share["token"] not in listing and hash_token(share["token"]) not in listing for share in made)


def test_a_revoked_link_stops_working_and_revoking_twice_changes_nothing(
    api: ApiClient, bucket: StoredBucket, db: sa.Engine
) -> None:
    share = new_share(api, bucket)
    path = f"{bucket.shares_path}/{share['id']}"

    assert api.delete(path, token=bucket.tenant.token("admin")).status == 204
    assert api.delete(path, token=bucket.tenant.token("admin")).status == 204

    assert download(api, share["token"]).status_code == 404
    assert share_row(db, share["id"]).revoked_at is not None
    (entry,) = audit_rows(db, "share.revoke")
    assert entry.target_id == share["id"] and entry.old_value is not None and entry.old_value["object_key"] == KEY
    listed = api.get(bucket.shares_path, token=bucket.tenant.token("owner")).json["items"]
    assert listed[0]["revoked_at"] is not None


def test_unknown_share_ids_are_404(api: ApiClient, bucket: StoredBucket, db: sa.Engine) -> None:
    other = StoredBucket(db, bucket.tenant)
    other.put()
    foreign = new_share(api, other)
    for share_id in (str(uuid.uuid4()), foreign["id"], "not-a-uuid"):
        r = api.delete(f"{bucket.shares_path}/{share_id}", token=bucket.tenant.token("owner"))
        assert r.status in (404, 422), r
        assert r.status == 404 or share_id == "not-a-uuid"
    assert share_row(db, foreign["id"]).revoked_at is None


# --- who may do what --------------------------------------------------------------------------------

# (role, bucket grant, allowed): True allowed, False too low a level (403), None no grant (404)
Case = tuple[str, str | None, bool | None]
MATRIX: list[Case] = [
    ("owner", None, True),
    ("admin", None, True),
    ("member", None, None),
    ("member", "read", False),
    ("member", "write", False),
    ("member", "admin", True),
    ("viewer", None, None),
    ("viewer", "read", False),
    ("viewer", "admin", False),  # viewers read at most, whatever they were granted
]
MATRIX_IDS = [f"{role}-{level or 'nogrant'}" for role, level, _ in MATRIX]


def expected(allowed: bool | None, success: int) -> int:
    """Allowed: success; too low a level: 403; no grant: the bucket does not exist for them (404)."""
    return success if allowed else 403 if allowed is False else 404


def _granted(db: sa.Engine, bucket: StoredBucket, role: str, level: str | None) -> str:
    if level is not None:
        grant(db, bucket.id, bucket.tenant.members[role].user_id, level)
    return bucket.tenant.token(role)


@pytest.mark.parametrize("case", MATRIX, ids=MATRIX_IDS)
def test_who_may_create_links(api: ApiClient, bucket: StoredBucket, db: sa.Engine, case: Case) -> None:
    role, level, allowed = case
    token = _granted(db, bucket, role, level)
    assert create_share(api, bucket, token=token).status == expected(allowed, 201)


@pytest.mark.parametrize("case", MATRIX, ids=MATRIX_IDS)
def test_who_may_list_links(api: ApiClient, bucket: StoredBucket, db: sa.Engine, case: Case) -> None:
    role, level, allowed = case
    token = _granted(db, bucket, role, level)
    assert api.get(bucket.shares_path, token=token).status == expected(allowed, 200)


@pytest.mark.parametrize("case", MATRIX, ids=MATRIX_IDS)
def test_who_may_revoke_links(api: ApiClient, bucket: StoredBucket, db: sa.Engine, case: Case) -> None:
    role, level, allowed = case
    share = new_share(api, bucket)
    token = _granted(db, bucket, role, level)
    assert api.delete(f"{bucket.shares_path}/{share['id']}", token=token).status == expected(allowed, 204)
    assert (share_row(db, share["id"]).revoked_at is not None) is bool(allowed)


def test_api_keys_need_the_objects_scopes(api: ApiClient, bucket: StoredBucket, db: sa.Engine) -> None:
    with Session(db) as session, session.begin():
        account = session.get_one(Account, bucket.tenant.account_id)
        reader, _ = make_api_key(session, account, bucket.tenant.members["owner"].user_id, ["objects:read"])
        writer, _ = make_api_key(session, account, bucket.tenant.members["owner"].user_id, ["objects:write"])
    assert api.get(bucket.shares_path, token=reader).status == 200
    assert_problem(create_share(api, bucket, token=reader), 403, "forbidden")
    assert create_share(api, bucket, token=writer).status == 201


def test_another_tenants_bucket_is_404(api: ApiClient, bucket: StoredBucket, globex: Tenant) -> None:
    # Globex's owner, with Acme's ids
    assert_problem(create_share(api, bucket, token=globex.token("owner")), 404, "not-found")
    assert_problem(api.get(bucket.shares_path, token=globex.token("owner")), 404, "not-found")
    # ... and Acme's bucket under Globex's account
    crossed = f"/v1/accounts/{globex.account_id}/buckets/{bucket.id}/shares"
    assert_problem(api.get(crossed, token=globex.token("owner")), 404, "not-found")
    r = api.post(crossed, token=globex.token("owner"), json={"key": KEY, "expires_in_seconds": 60})
    assert_problem(r, 404, "not-found")


def test_a_suspended_account_keeps_its_links_but_makes_no_new_ones(
    api: ApiClient, bucket: StoredBucket, db: sa.Engine
) -> None:
    share = new_share(api, bucket)
    other = new_share(api, bucket)
    with db.begin() as connection:
        connection.execute(
            sa.text("UPDATE accounts SET status = 'suspended' WHERE id = :id"), {"id": bucket.tenant.account_id}
        )

    assert_problem(create_share(api, bucket), 403, "account-suspended")
    assert api.get(bucket.shares_path, token=bucket.tenant.token("owner")).status == 200
    assert download(api, share["token"]).status_code == 302  # suspended accounts can still be read
    assert api.delete(f"{bucket.shares_path}/{other['id']}", token=bucket.tenant.token("owner")).status == 204


# --- the public download ----------------------------------------------------------------------------


def _comparable(r: requests.Response) -> tuple[int, str, dict[str, Any]]:
    body = r.json()
    body.pop("request_id")
    return r.status_code, r.headers["content-type"], body


def test_every_dead_link_gets_the_same_404(api: ApiClient, bucket: StoredBucket, acme: Tenant, db: sa.Engine) -> None:
    expired = new_share(api, bucket)
    set_share(db, expired["id"], expires_at=datetime.now(UTC) - timedelta(seconds=1))
    revoked = new_share(api, bucket)
    assert api.delete(f"{bucket.shares_path}/{revoked['id']}", token=acme.token("owner")).status == 204
    exhausted = new_share(api, bucket, max_downloads=1)
    assert download(api, exhausted["token"]).status_code == 302
    gone_bucket = StoredBucket(db, acme)
    gone_bucket.put()
    in_deleted_bucket = new_share(api, gone_bucket)
    with db.begin() as connection:
        connection.execute(sa.text("UPDATE buckets SET deleted_at = now() WHERE id = :id"), {"id": gone_bucket.id})
    boto3.client("s3").put_object(Bucket=bucket.name, Key="temporary.txt", Body=b"soon gone")
    object_gone = new_share(api, bucket, key="temporary.txt")
    boto3.client("s3").delete_object(Bucket=bucket.name, Key="temporary.txt")

    answers = {
        "unknown": download(api, "pcs_" + "A" * 43),
        "malformed": download(api, "not-a-share-token"),
        "expired": download(api, expired["token"]),
        "revoked": download(api, revoked["token"]),
        "exhausted": download(api, exhausted["token"]),
        "bucket deleted": download(api, in_deleted_bucket["token"]),
        "object deleted": download(api, object_gone["token"]),
        "wrong password on a dead link": download(api, revoked["token"], headers={"X-Share-Password": "whatever1"}),
    }

    reference = _comparable(answers["unknown"])
    assert reference[0] == 404 and reference[1].startswith("application/problem+json")
    assert reference[2]["type"].endswith("/not-found")
    for reason, answer in answers.items():
        assert _comparable(answer) == reference, reason
        assert answer.json()["request_id"]
    assert share_row(db, exhausted["id"]).download_count == 1
    assert share_row(db, object_gone["id"]).download_count == 0  # nothing was served, nothing counted


def test_a_deleted_account_takes_its_links_with_it(api: ApiClient, bucket: StoredBucket, db: sa.Engine) -> None:
    share = new_share(api, bucket)
    with db.begin() as connection:
        connection.execute(
            sa.text("UPDATE accounts SET deleted_at = now() WHERE id = :id"), {"id": bucket.tenant.account_id}
        )
    r = download(api, share["token"])
    assert r.status_code == 404 and r.json()["detail"] == "This share link does not exist or is no longer available."


def test_a_password_protected_link(api: ApiClient, bucket: StoredBucket, db: sa.Engine) -> None:
    share = new_share(api, bucket, password=PASSWORD)

    missing = download(api, share["token"])
    wrong = download(api, share["token"], headers={"X-Share-Password": "not the password"})
    for r in (missing, wrong):
        assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["type"].endswith("/unauthorized") and "X-Share-Password" in r.json()["detail"]
        assert "WWW-Authenticate" in r.headers
    assert _comparable(missing) == _comparable(wrong)  # a wrong password is not told from a missing one
    assert share_row(db, share["id"]).download_count == 0

    by_header = download(api, share["token"], headers={"X-Share-Password": PASSWORD})
    assert by_header.status_code == 302
    assert requests.get(by_header.headers["Location"], timeout=30).content == CONTENT
    by_query = download(api, share["token"], params={"password": PASSWORD})
    assert by_query.status_code == 302
    both = download(api, share["token"], headers={"X-Share-Password": "wrong!wrong"}, params={"password": PASSWORD})
    assert both.status_code == 401  # the header wins
    assert share_row(db, share["id"]).download_count == 2


def test_wrong_passwords_are_throttled_per_link(api: ApiClient, bucket: StoredBucket) -> None:
    share = new_share(api, bucket, password=PASSWORD)
    neighbour = new_share(api, bucket, password=PASSWORD)
    for _ in range(10):
        assert download(api, share["token"], headers={"X-Share-Password": "guess-guess"}).status_code == 401

    throttled = download(api, share["token"], headers={"X-Share-Password": PASSWORD})
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0
    assert download(api, neighbour["token"], headers={"X-Share-Password": PASSWORD}).status_code == 302


def test_the_download_limit_counts_redirects(api: ApiClient, bucket: StoredBucket, db: sa.Engine) -> None:
    share = new_share(api, bucket, max_downloads=2)
    statuses = [download(api, share["token"]).status_code for _ in range(3)]
    assert statuses == [302, 302, 404]
    assert share_row(db, share["id"]).download_count == 2


@pytest.fixture(scope="module")
def second_container(gateway_url: str) -> Iterator[str]:
    """Another gateway with its own warm handler modules: a second Lambda container.

    API Gateway never sends two requests at once to one container, and the local gateway's
    containers (one warm module per function) must not get them either: the resolver keeps the
    request's session in module state. Two containers, one request each, is the real race.
    """
    from localrun.gateway import serve_in_thread

    server, base_url = serve_in_thread(ROOT / "template.yaml", port=0)
    yield base_url
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("round_", range(6))
def test_two_downloads_racing_for_the_last_one_give_one_redirect(
    api: ApiClient, bucket: StoredBucket, db: sa.Engine, second_container: str, round_: int
) -> None:
    # given a link with exactly one download left (a fresh one of 1, or one of 2 used once)
    max_downloads = 1 + round_ % 2
    share = new_share(api, bucket, max_downloads=max_downloads)
    for _ in range(max_downloads - 1):
        assert download(api, share["token"]).status_code == 302

    # when two clients open it at the same moment (each reaching its own container)
    start = threading.Barrier(2)
    statuses: list[int] = []

    def fetch(base_url: str) -> None:
        start.wait()
        r = requests.get(f"{base_url}/v1/shares/{share['token']}", allow_redirects=False, timeout=30)
        statuses.append(r.status_code)

    threads = [threading.Thread(target=fetch, args=(base_url,)) for base_url in (api.base_url, second_container)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # then exactly one is served
    assert sorted(statuses) == [302, 404]
    assert share_row(db, share["id"]).download_count == max_downloads


def test_a_download_waiting_on_another_rechecks_the_limit(api: ApiClient, bucket: StoredBucket, db: sa.Engine) -> None:
    """Deterministic form of the race: a download in flight holds the row; the one behind it must re-check."""
    share = new_share(api, bucket, max_downloads=1)
    outcome: list[int] = []
    with db.connect() as in_flight:
        transaction = in_flight.begin()
        taken = in_flight.execute(
            sa.text(
                "UPDATE object_shares SET download_count = download_count + 1"
                " WHERE id = :id AND download_count < max_downloads RETURNING download_count"
            ),
            {"id": share["id"]},
        ).scalar_one()
        assert taken == 1
        waiting = threading.Thread(target=lambda: outcome.append(download(api, share["token"]).status_code))
        waiting.start()
        waiting.join(timeout=1.5)
        assert waiting.is_alive(), "the second download should wait for the row the first one holds"
        transaction.commit()
    waiting.join(timeout=30)
    assert outcome == [404]
    assert share_row(db, share["id"]).download_count == 1
