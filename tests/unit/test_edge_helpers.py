"""Pure helpers of the edge: tokens, passwords, principals, cursors, problem bodies."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from primecloud.access import Principal, role_at_least
from primecloud.api import json_dumps, problem_response
from primecloud.errors import Forbidden, Invalid
from primecloud.pagination import decode_cursor, encode_cursor
from primecloud.passwords import hash_password, verify_password
from primecloud.services.authorizer import bearer_token
from primecloud.tokens import API_KEY_PREFIX, api_key_display_prefix, hash_token, new_token


def test_tokens_are_random_and_only_their_hash_is_kept() -> None:
    raw, digest = new_token(API_KEY_PREFIX)
    other, _ = new_token(API_KEY_PREFIX)
    assert raw.startswith("pck_") and raw != other
    assert digest == hash_token(raw) and len(digest) == 64 and raw not in digest
    assert api_key_display_prefix(raw) == raw[:12]


def test_passwords_verify_and_unknown_users_fail_the_same_way() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "wrong")
    assert not verify_password(None, "correct horse battery")  # unknown user: dummy hash checked


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
        ("Basic abc", None),
        ("Bearer", None),
        (None, None),
        ("", None),
    ],
)
def test_bearer_token_parsing(header: str | None, expected: str | None) -> None:
    assert bearer_token(header) == expected


def test_principal_round_trips_through_the_authorizer_context() -> None:
    principal = Principal(
        user_id=uuid.uuid4(),
        api_key_id=uuid.uuid4(),
        api_key_account_id=uuid.uuid4(),
        scopes=frozenset({"buckets:read", "objects:read"}),
    )
    context = principal.to_authorizer_context()
    assert all(isinstance(value, str | bool) for value in context.values())
    assert Principal.from_authorizer_context(context) == principal
    session_principal = Principal(user_id=uuid.uuid4(), is_platform_admin=True, session_id=uuid.uuid4())
    assert Principal.from_authorizer_context(session_principal.to_authorizer_context()) == session_principal


def test_scopes_bind_api_keys_but_not_sessions() -> None:
    key = Principal(user_id=uuid.uuid4(), api_key_id=uuid.uuid4(), scopes=frozenset({"buckets:read"}))
    key.require_scope("buckets:read")
    with pytest.raises(Forbidden, match="buckets:write"):
        key.require_scope("buckets:write")
    Principal(user_id=uuid.uuid4()).require_scope("buckets:write")  # a session: its role decides


def test_role_order() -> None:
    assert role_at_least("owner", "admin") and role_at_least("admin", "admin")
    assert not role_at_least("member", "admin") and not role_at_least("viewer", "member")


def test_cursor_round_trip_and_tampering() -> None:
    values = [datetime(2026, 11, 21, 10, 0, tzinfo=UTC), uuid.uuid4()]
    assert decode_cursor(encode_cursor(values), (datetime, uuid.UUID)) == values
    for bad in ["!!!", encode_cursor(values)[:-3], encode_cursor([1]), "e30"]:
        with pytest.raises(Invalid) as caught:
            decode_cursor(bad, (datetime, uuid.UUID))
        assert caught.value.errors and caught.value.errors[0]["field"] == "query.cursor"


def test_problem_body_and_money_serialization() -> None:
    response = problem_response(404, "not-found", "Not found", "No such bucket.", request_id="req-1")
    assert response.status_code == 404 and response.content_type == "application/problem+json"
    assert json.loads(str(response.body)) == {
        "type": "https://primecloud.dev/problems/not-found",
        "title": "Not found",
        "status": 404,
        "detail": "No such bucket.",
        "request_id": "req-1",
    }
    from decimal import Decimal

    assert json_dumps({"total": Decimal("12.30")}) == '{"total":"12.30"}'


@pytest.mark.parametrize(
    ("role", "granted", "expected"),
    [
        ("owner", None, "admin"),
        ("admin", "read", "admin"),
        ("member", None, None),
        ("member", "write", "write"),
        ("member", "admin", "admin"),
        ("viewer", None, None),
        ("viewer", "admin", "read"),  # a viewer reads at most, whatever was granted
    ],
)
def test_effective_bucket_level(role: str, granted: str | None, expected: str | None) -> None:
    from primecloud.access import effective_bucket_level

    assert effective_bucket_level(role, granted) == expected
