"""Password reset through HTTP: always 202, a mailed one-hour single-use token, every session ended.

The route only throttles and queues; SendPasswordResetFunction (PasswordResetQueue's worker) mails.
``request_reset`` hands the queued messages to the worker, as Lambda's SQS poller would."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from typing import Any

import boto3
import pytest
import sqlalchemy as sa

from localrun.sqs_poller import sqs_event
from primecloud.adapters.email import default_mailer
from primecloud.adapters.queue import Queue
from primecloud.errors import Unavailable
from primecloud.passwords import verify_password
from primecloud.services import auth
from primecloud.tokens import hash_token
from tests.conftest import ApiClient, ApiResponse, assert_problem, count_statements
from tests.e2e.auth_support import (
    PasswordUser,
    audit_rows,
    deliver,
    login,
    make_password_user,
    move_clock,
    reset_worker,
    rows,
    sent_emails,
    signed_in,
    unique_email,
)

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def ada(db: sa.Engine) -> PasswordUser:
    return make_password_user(db)


def request_reset(api: ApiClient, email: str) -> Any:
    r = api.post("/v1/auth/password-reset", json={"email": email})
    assert r.status == 202, r
    assert deliver()["batchItemFailures"] == []
    return r.json


def mailed_token(email: str) -> str:
    [message] = sent_emails(email)[-1:]
    match = re.search(r"token=(pcp_[A-Za-z0-9_-]+)", message.body)
    assert match, message.body
    return match.group(1)


def confirm(api: ApiClient, token: str, new_password: str = NEW_PASSWORD) -> ApiResponse:
    return api.post("/v1/auth/password-reset/confirm", json={"token": token, "new_password": new_password})


def test_unknown_email_gets_the_same_202_and_no_mail(api: ApiClient, db: sa.Engine, ada: PasswordUser) -> None:
    nobody = unique_email("nobody")
    unknown_body = request_reset(api, nobody)
    known_body = request_reset(api, ada.email)
    assert unknown_body == known_body
    assert sent_emails(nobody) == []
    assert len(rows(db, "SELECT id FROM password_reset_tokens")) == 1  # only the known user's


def test_a_known_user_gets_a_mailed_one_hour_token(api: ApiClient, db: sa.Engine, ada: PasswordUser) -> None:
    request_reset(api, ada.email.upper())
    [message] = sent_emails(ada.email)
    assert message.subject == "Reset your PrimeCloud password"
    token = mailed_token(ada.email)
    assert "http://127.0.0.1:3000/reset-password?token=" in message.body
    # only its hash is stored, valid for an hour
    [row] = rows(db, "SELECT * FROM password_reset_tokens")
    assert row.token_hash == hash_token(token) and row.used_at is None and row.user_id == ada.id
    assert timedelta(minutes=59) < row.expires_at - row.created_at <= timedelta(hours=1, seconds=5)
    [entry] = audit_rows(db, "user.password_reset_request")
    assert entry.target_id == str(ada.id) and token not in str(list(entry))


@pytest.mark.parametrize("status", ["suspended", "deleted"])
def test_an_inactive_user_gets_no_mail(api: ApiClient, db: sa.Engine, status: str) -> None:
    user = make_password_user(db, status=status)
    request_reset(api, user.email)
    assert sent_emails(user.email) == []


def test_reset_mails_are_throttled_silently(api: ApiClient, db: sa.Engine, ada: PasswordUser) -> None:
    for _ in range(auth.RESET_MAILS_PER_EMAIL.limit + 2):
        request_reset(api, ada.email)
    assert len(sent_emails(ada.email)) == auth.RESET_MAILS_PER_EMAIL.limit
    assert len(rows(db, "SELECT id FROM password_reset_tokens")) == auth.RESET_MAILS_PER_EMAIL.limit


def test_a_mail_outage_still_answers_202_and_the_mail_is_retried(
    api: ApiClient, db: sa.Engine, ada: PasswordUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(_email: object) -> None:
        raise Unavailable("The mail service is unavailable.")

    with monkeypatch.context() as outage:
        outage.setattr(default_mailer(), "send", refuse)
        r = api.post("/v1/auth/password-reset", json={"email": ada.email})
        assert r.status == 202, r
        # the worker fails the message (SQS redelivers it) and keeps no token
        sqs, url = boto3.client("sqs"), os.environ["PASSWORD_RESET_QUEUE_URL"]
        [message] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        with pytest.raises(Exception, match="All records failed"):  # Lambda returns the whole batch
            reset_worker().invoke("SendPasswordResetFunction", sqs_event([message], "arn:aws:sqs:::q", "us-east-1"))
        assert sent_emails(ada.email) == [] and rows(db, "SELECT id FROM password_reset_tokens") == []
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    # once the mail service is back, the redelivered message mails the link
    assert deliver()["messages"] == 1
    assert len(sent_emails(ada.email)) == 1
    assert len(rows(db, "SELECT id FROM password_reset_tokens")) == 1


def test_known_and_unknown_addresses_cost_the_route_the_same_work(
    api: ApiClient, db: sa.Engine, ada: PasswordUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a record of what the route queues
    queued: list[dict[str, Any]] = []
    real_send_all = Queue.send_all

    def spy(self: Queue, messages: Any) -> int:
        queued.extend(messages)
        return real_send_all(self, messages)

    monkeypatch.setattr(Queue, "send_all", spy)
    work = {}
    for name, email in (("known", ada.email), ("unknown", unique_email("nobody"))):
        with count_statements() as statements:
            r = api.post("/v1/auth/password-reset", json={"email": email})
        assert r.status == 202, r
        work[name] = (list(statements.statements), [sorted(message) for message in queued])
        queued.clear()
    # then both ran the same statements (the throttle's counter, nothing about users) and queued one message
    assert work["known"] == work["unknown"]
    statements_run, messages = work["known"]
    assert len(statements_run) == 1 and "rate_limits" in statements_run[0]
    assert not any("users" in statement for statement in statements_run)
    assert messages == [["email", "ip", "request_id", "user_agent"]]
    # no mail and no token until the worker ran
    assert sent_emails(ada.email) == [] and rows(db, "SELECT id FROM password_reset_tokens") == []
    assert deliver()["messages"] == 2
    assert len(sent_emails(ada.email)) == 1


def test_confirm_sets_the_password_once_and_ends_every_session(
    api: ApiClient, db: sa.Engine, ada: PasswordUser
) -> None:
    # given two signed-in devices and a mailed reset token
    phone = signed_in(api, ada)
    laptop = signed_in(api, ada)
    request_reset(api, ada.email)
    token = mailed_token(ada.email)
    # when the token is confirmed with a new password
    r = confirm(api, token)
    # then the password changed, the token is used, and every session is revoked
    assert r.status == 204, r
    [user] = rows(db, "SELECT password_hash FROM users")
    assert verify_password(user.password_hash, NEW_PASSWORD)
    assert [row.used_at is not None for row in rows(db, "SELECT used_at FROM password_reset_tokens")] == [True]
    assert all(row.revoked_at is not None for row in rows(db, "SELECT revoked_at FROM sessions"))
    for tokens in (phone, laptop):
        assert api.get("/v1/me", token=tokens["access_token"]).status == 401
        assert api.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status == 401
    [entry] = audit_rows(db, "user.password_reset")
    assert entry.actor_user_id == ada.id and entry.new_value == {"sessions_revoked": 2}
    # only the new password signs in now
    assert login(api, ada.email).status == 401
    assert login(api, ada.email, NEW_PASSWORD).status == 200
    # and the token cannot be used twice
    again = confirm(api, token, "yet another passphrase")
    assert assert_problem(again, 400, "bad-request")["detail"] == "Invalid or expired reset token."


def test_an_expired_token_is_refused(
    api: ApiClient, db: sa.Engine, ada: PasswordUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    request_reset(api, ada.email)
    token = mailed_token(ada.email)
    move_clock(monkeypatch, timedelta(hours=1, seconds=1))
    assert_problem(confirm(api, token), 400, "bad-request")
    [user] = rows(db, "SELECT password_hash FROM users")
    assert not verify_password(user.password_hash, NEW_PASSWORD)


def test_an_unknown_token_is_refused_and_a_weak_password_is_422(
    api: ApiClient, db: sa.Engine, ada: PasswordUser
) -> None:
    assert_problem(confirm(api, "pcp_no-such-token"), 400, "bad-request")
    request_reset(api, ada.email)
    weak = confirm(api, mailed_token(ada.email), "short")
    problem = assert_problem(weak, 422, "validation-error")
    assert problem["errors"][0]["field"] == "body.new_password"


def test_a_reset_kills_older_links_and_lifts_the_login_throttle(
    api: ApiClient, db: sa.Engine, ada: PasswordUser
) -> None:
    request_reset(api, ada.email)
    older = mailed_token(ada.email)
    request_reset(api, ada.email)
    newer = mailed_token(ada.email)
    for _ in range(auth.LOGIN_FAILURES_PER_EMAIL.limit):
        login(api, ada.email, "wrong password here")
    assert login(api, ada.email).status == 429

    assert confirm(api, newer).status == 204
    assert confirm(api, older, "another long passphrase").status == 400
    assert login(api, ada.email, NEW_PASSWORD).status == 200
