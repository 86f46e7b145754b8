"""Helpers for the auth tests: users with real passwords, sign-in through HTTP, audit rows, sent mail."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from localrun.invoke import LocalLambda
from localrun.sqs_poller import sqs_event
from localrun.template import load_template
from primecloud import clock
from primecloud.models.iam import User
from primecloud.passwords import hash_password
from tests.conftest import ROOT, ApiClient, ApiResponse

PASSWORD = "correct horse battery staple"

# Hashing with argon2 is slow on purpose: hash the common password once per test session.
_HASHES: dict[str, str] = {}


def password_hash(password: str = PASSWORD) -> str:
    if password not in _HASHES:
        _HASHES[password] = hash_password(password)
    return _HASHES[password]


@dataclass
class PasswordUser:
    id: uuid.UUID
    email: str
    password: str


def unique_email(stem: str = "user") -> str:
    return f"{stem}-{uuid.uuid4().hex[:10]}@example.test"


def make_password_user(
    engine: sa.Engine, *, email: str | None = None, password: str = PASSWORD, status: str = "active"
) -> PasswordUser:
    with Session(engine, expire_on_commit=False) as session, session.begin():
        user = User(email=email or unique_email(), password_hash=password_hash(password), name="Ada", status=status)
        session.add(user)
        session.flush()
        return PasswordUser(user.id, user.email, password)


def login(api: ApiClient, email: str, password: str = PASSWORD, **kwargs: Any) -> ApiResponse:
    return api.post("/v1/auth/login", json={"email": email, "password": password}, **kwargs)


def signed_in(api: ApiClient, user: PasswordUser, **kwargs: Any) -> dict[str, Any]:
    """The token body of a successful sign-in."""
    r = login(api, user.email, user.password, **kwargs)
    assert r.status == 200, r
    return r.json  # type: ignore[no-any-return]


def audit_rows(engine: sa.Engine, action: str) -> list[Any]:
    with engine.connect() as connection:
        return list(
            connection.execute(
                sa.text("SELECT * FROM audit_logs WHERE action = :action ORDER BY created_at, id"), {"action": action}
            )
        )


def rows(engine: sa.Engine, sql: str, **params: Any) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(sa.text(sql), params))


def sent_emails(to: str) -> list[Any]:
    """Messages moto's SES accepted for ``to`` (the moto server runs in this process)."""
    from moto.ses.models import ses_backends

    messages = ses_backends["123456789012"]["us-east-1"].sent_messages
    return [message for message in messages if to in message.destinations.get("ToAddresses", [])]


def move_clock(monkeypatch: pytest.MonkeyPatch, delta: timedelta) -> datetime:
    """Let the services' clock run ``delta`` ahead of real time; returns the moved 'now'."""
    real_now = clock.now
    monkeypatch.setattr(clock, "now", lambda: real_now() + delta)
    return real_now() + delta


_workers: list[LocalLambda] = []


def reset_worker() -> LocalLambda:
    """The local Lambda runner that plays SendPasswordResetFunction (one per test session)."""
    if not _workers:
        _workers.append(LocalLambda(load_template(ROOT / "template.yaml")))
    return _workers[0]


def deliver() -> dict[str, Any]:
    """Hand every queued reset request to SendPasswordResetFunction (as Lambda's SQS poller would);
    the queue is empty afterwards."""
    sqs, url = boto3.client("sqs"), os.environ["PASSWORD_RESET_QUEUE_URL"]
    received: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        received += batch
    for message in received:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    if not received:
        return {"batchItemFailures": [], "messages": 0}
    event = sqs_event(received, "arn:aws:sqs:us-east-1:123456789012:primecloud-password-reset", "us-east-1")
    result: dict[str, Any] = reset_worker().invoke("SendPasswordResetFunction", event)
    return {**result, "messages": len(received)}
