"""No password, token or key secret reaches a log line or an audit row.

One full flow (signup, failed and good logins, refresh, password reset, invitation, API key)
runs through HTTP while every log record of the process is captured, formatted the way
Powertools writes it to CloudWatch (extra keys included); then each secret is searched for.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from primecloud.observability import logger as powertools_logger
from tests.conftest import ApiClient
from tests.e2e.auth_support import deliver


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(powertools_logger.registered_formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("moto", "werkzeug")):
            return  # the fake AWS's own logs: in production that side is AWS, not us
        self.lines.append(self.format(record))
        if record.exc_info:
            self.lines.append(logging.Formatter().formatException(record.exc_info))


@pytest.fixture
def captured_logs() -> Iterator[list[str]]:
    capture = _Capture()
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)  # everything any library would log at its most talkative
    powertools_logger.setLevel(logging.DEBUG)
    yield capture.lines
    root.removeHandler(capture)
    root.setLevel(previous_level)
    powertools_logger.setLevel(logging.INFO)


def _mailed(email: str, pattern: str) -> str:
    from moto.ses.models import ses_backends

    bodies = [
        message.body
        for message in ses_backends["123456789012"]["us-east-1"].sent_messages
        if email in message.destinations.get("ToAddresses", [])
    ]
    found = [match for body in bodies for match in re.findall(pattern, body)]
    assert found, f"no mail to {email}"
    return str(found[-1])


def test_a_full_identity_flow_logs_no_secret(api: ApiClient, db: sa.Engine, captured_logs: list[str]) -> None:
    secrets: list[str] = []
    owner_password, new_password, invitee_password = (
        "owner-password-7f3a9c",
        "brand-new-password-51e2",
        "invitee-password-0b8d4e",
    )
    secrets += [owner_password, new_password, invitee_password]

    signup = api.post(
        "/v1/auth/signup",
        json={"email": "leakcheck@example.test", "password": owner_password, "name": "Owner", "account_name": "Leak"},
    )
    assert signup.status == 201, signup
    account_id = signup.json["account"]["id"]
    secrets += [signup.json["access_token"], signup.json["refresh_token"]]

    assert (
        api.post("/v1/auth/login", json={"email": "leakcheck@example.test", "password": "wrong-guess-1234"}).status
        == 401
    )
    secrets.append("wrong-guess-1234")
    login = api.post("/v1/auth/login", json={"email": "leakcheck@example.test", "password": owner_password})
    assert login.status == 200, login
    refreshed = api.post("/v1/auth/refresh", json={"refresh_token": login.json["refresh_token"]})
    assert refreshed.status == 200, refreshed
    secrets += [login.json["access_token"], login.json["refresh_token"]]
    secrets += [refreshed.json["access_token"], refreshed.json["refresh_token"]]

    assert api.post("/v1/auth/password-reset", json={"email": "leakcheck@example.test"}).status == 202
    assert deliver()["batchItemFailures"] == []  # the queued reset reaches its worker, which mails
    reset_token = _mailed("leakcheck@example.test", r"pcp_[A-Za-z0-9_-]+")
    secrets.append(reset_token)
    confirmed = api.post("/v1/auth/password-reset/confirm", json={"token": reset_token, "new_password": new_password})
    assert confirmed.status == 204, confirmed
    owner = api.post("/v1/auth/login", json={"email": "leakcheck@example.test", "password": new_password})
    assert owner.status == 200, owner
    token = owner.json["access_token"]
    secrets += [token, owner.json["refresh_token"]]

    invited = api.post(
        f"/v1/accounts/{account_id}/invitations", token=token, json={"email": "invitee@example.test", "role": "member"}
    )
    assert invited.status == 201, invited
    invitation_token = _mailed("invitee@example.test", r"pci_[A-Za-z0-9_-]+")
    secrets.append(invitation_token)
    joined = api.post(
        "/v1/auth/signup",
        json={
            "email": "invitee@example.test",
            "password": invitee_password,
            "name": "Invitee",
            "invitation_token": invitation_token,
        },
    )
    assert joined.status == 201, joined
    secrets += [joined.json["access_token"], joined.json["refresh_token"]]

    key = api.post(f"/v1/accounts/{account_id}/api-keys", token=token, json={"name": "ci", "scopes": ["account:read"]})
    assert key.status == 201, key
    secrets.append(key.json["secret"])
    assert api.get(f"/v1/accounts/{account_id}", token=key.json["secret"]).status == 200
    assert api.get("/v1/me", token="pca_forged-token-that-was-never-issued").status == 401
    secrets.append("pca_forged-token-that-was-never-issued")

    log_text = "\n".join(captured_logs)
    assert len(captured_logs) >= 10, "the capture saw the flow (one line per request at least)"
    with db.connect() as connection:
        audit_text = json.dumps(
            [dict(row) for row in connection.execute(sa.text("SELECT * FROM audit_logs")).mappings()], default=str
        )
    assert "auth.login" in audit_text and "api_key.create" in audit_text
    for secret in secrets:
        assert secret not in log_text, f"a secret ({secret[:6]}...) reached the logs"
        assert secret not in audit_text, f"a secret ({secret[:6]}...) reached the audit log"
    # nor do the stored hashes of those secrets travel in logs
    from primecloud.tokens import hash_token

    for secret in secrets:
        assert hash_token(secret) not in log_text
