"""What the edge refuses before it reaches the database: callers the authorizer could not check,
tampered cursors, bodies nested too deep or carrying integers too long."""

# No `from __future__ import annotations`: the test routes' dependencies are local names Powertools must see.

import base64
import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import pytest
from aws_lambda_powertools.event_handler import Depends, Request
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from primecloud import api, db
from primecloud.access import Principal, is_unavailable, unavailable_context
from primecloud.errors import Invalid, Unavailable
from primecloud.pagination import decode_cursor, encode_cursor

ACCOUNT = str(uuid.uuid4())
BUCKET = str(uuid.uuid4())


# --- the authorizer could not reach the database ----------------------------------------------------


def _event(method: str, path: str, authorizer: dict[str, Any] | None, body: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "idempotency-key": "k-1234567890"},
        "requestContext": {
            "http": {"method": method, "path": path, "sourceIp": "127.0.0.1", "userAgent": "t"},
            "requestId": "req-1",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }
    if authorizer is not None:
        event["requestContext"]["authorizer"] = {"lambda": authorizer}
    if body is not None:
        event["body"] = body
    return event


class _LambdaContext:
    function_name = "test"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id = "req-1"


@pytest.fixture
def no_database(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Any attempt to open a session is recorded (and fails): a refused caller must never get that far."""
    opened: list[str] = []

    def refuse() -> Any:
        opened.append("session")
        raise AssertionError("the edge opened a session for a caller it should have refused")

    monkeypatch.setattr(db, "new_session", refuse)
    return opened


DEPENDENCIES: dict[str, Callable[[Request], Any]] = {
    "public": api.public_access,
    "user": api.user_access(),
    "user-scoped": api.user_access("account:read"),
    "platform-admin": api.platform_admin_access,
    "account": api.account_access("viewer"),
    "account-scoped": api.account_access("owner", "members:write"),
    "bucket": api.bucket_access("read", "objects:read"),
}


@pytest.mark.parametrize("idempotent", [False, True], ids=["plain", "idempotent"])
@pytest.mark.parametrize("name", list(DEPENDENCIES))
def test_no_route_acts_for_a_caller_the_authorizer_could_not_check(
    no_database: list[str], name: str, idempotent: bool
) -> None:
    app = api.app_for(f"test_unavailable_{name}", idempotent=idempotent)
    acted: list[str] = []
    dependency = DEPENDENCIES[name]

    @app.post("/v1/accounts/<account_id>/buckets/<bucket_id>/things")
    def act(account_id: str, bucket_id: str, ctx: Annotated[Any, Depends(dependency)]) -> dict[str, str]:
        acted.append(name)
        return {"ok": "yes"}

    path = f"/v1/accounts/{ACCOUNT}/buckets/{BUCKET}/things"
    response = app.handler(_event("POST", path, unavailable_context(), body="{}"), _LambdaContext())  # type: ignore[arg-type]
    assert response["statusCode"] == 503, response
    assert response["headers"]["Content-Type"] == "application/problem+json"
    assert response["headers"]["Retry-After"] == "5"
    problem = json.loads(response["body"])
    assert problem["type"].endswith("/unavailable") and problem["status"] == 503 and problem["request_id"] == "req-1"
    assert acted == [] and no_database == []


@pytest.mark.parametrize("name", list(DEPENDENCIES))
def test_every_access_dependency_checks_the_flag_itself(no_database: list[str], name: str) -> None:
    # Not only the App's middleware: a dependency used anywhere refuses the caller first, even with a
    # user_id beside the flag (the authorizer never sends both; if it did, the flag wins).
    context = {**unavailable_context(), **Principal(user_id=uuid.uuid4()).to_authorizer_context()}
    event = APIGatewayProxyEventV2(_event("GET", "/x", context))
    request = Request("/x", {"account_id": ACCOUNT, "bucket_id": BUCKET}, event, {})
    with pytest.raises(Unavailable):
        DEPENDENCIES[name](request)
    assert no_database == []


@pytest.mark.parametrize(
    ("context", "unavailable"),
    [
        ({"unavailable": True}, True),
        ({"unavailable": "true"}, True),
        ({"unavailable": "yes"}, True),
        ({"unavailable": False}, False),
        ({"unavailable": "false"}, False),
        ({}, False),
    ],
)
def test_the_flag_reads_as_boolean_or_text(context: dict[str, Any], unavailable: bool) -> None:
    assert is_unavailable(context) is unavailable


def test_the_unavailable_answer_carries_no_identity() -> None:
    assert unavailable_context() == {"unavailable": True}
    assert api.principal_from_event({"requestContext": {"authorizer": {"lambda": {}}}}) is None


# --- cursors ------------------------------------------------------------------------------------------


def _raw_cursor(values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


KEYS = (datetime, uuid.UUID)
WHEN = {"t": "2026-11-21T10:00:00+00:00"}
ID = {"u": str(uuid.uuid4())}


@pytest.mark.parametrize(
    "values",
    [
        ["2026-11-21T10:00:00+00:00", ID],  # text where a timestamp belongs: it would reach the SQL
        [WHEN, str(uuid.uuid4())],
        [{"t": 5}, ID],
        [{"t": "2026-11-21T10:00:00"}, ID],  # no time zone
        [WHEN, {"u": 5}],
        [WHEN, {"u": "not-a-uuid"}],
        [WHEN, {"u": ID["u"], "t": WHEN["t"]}],
        [WHEN, {"x": ID["u"]}],
        [WHEN, [1, 2]],
        [WHEN, 17],
        [WHEN, True],
        [WHEN, None],
        [WHEN, ID, 1],
        {"t": WHEN["t"]},
    ],
)
def test_a_well_formed_cursor_with_wrong_types_is_422_naming_the_cursor(values: Any) -> None:
    with pytest.raises(Invalid) as caught:
        decode_cursor(_raw_cursor(values), KEYS)
    assert caught.value.errors == [
        {"field": "query.cursor", "message": "not a cursor this API issued", "type": "cursor"}
    ]


@pytest.mark.parametrize(
    "values",
    [["a" * 600, 1], ["a\x00b", 1], ["a", 2**63], ["a", -(2**63) - 1], ["a", True], ["a", 1.5], [1, 1]],
)
def test_cursor_text_and_integers_are_bounded(values: Any) -> None:
    with pytest.raises(Invalid):
        decode_cursor(_raw_cursor(values), (str, int))


def test_cursors_the_api_issues_still_decode() -> None:
    assert decode_cursor(encode_cursor(["photos", 2**63 - 1]), (str, int)) == ["photos", 2**63 - 1]
    assert decode_cursor(encode_cursor(["token", "a/", None]), (str, str, (str, type(None)))) == ["token", "a/", None]
    with pytest.raises(Invalid):
        decode_cursor("A" * 2000, (str,))


# --- request bodies ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "[" * 1000 + "]" * 1000,
        '{"a":' * 5000 + "1" + "}" * 5000,
        '{"settings": ' + "[" * 40 + "]" * 40 + "}",
        '{"quota_bytes": ' + "9" * 4301 + "}",
        "-" + "1" * 10000,
    ],
    ids=["array-1000", "object-5000", "depth-41", "int-4301-digits", "int-10000-digits"],
)
def test_bodies_nested_too_deep_or_with_huge_integers_are_malformed_json(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as caught:
        api.parse_json_body(text)
    assert caught.value.doc == ""  # the body is not carried along


def test_ordinary_bodies_parse() -> None:
    assert api.parse_json_body('{"a": [[1]], "b": "' + "[" * 100 + '"}') == {"a": [[1]], "b": "[" * 100}
    assert api.parse_json_body("[" * 32 + "]" * 32) is not None
    assert api.parse_json_body('{"n": ' + "9" * 4300 + "}")["n"] > 0
    with pytest.raises(json.JSONDecodeError):
        api.parse_json_body("[" * 33 + "]" * 33)


# --- the authorizer's decision cache ----------------------------------------------------------------------


def test_the_authorizer_cache_cannot_keep_an_outage_answer_for_long() -> None:
    # API Gateway caches whatever the authorizer answered, the "unavailable" flag included, for
    # ReauthorizeEvery seconds per Authorization header: off by default, never more than 5 minutes.
    from tests.template_loader import load_template

    template = load_template()
    parameter = template["Parameters"]["AuthorizerCacheSeconds"]
    assert parameter["Default"] == 0 and parameter["MaxValue"] <= 300
    authorizer = template["Resources"]["HttpApi"]["Properties"]["Auth"]["Authorizers"]["LambdaAuthorizer"]
    assert authorizer["Identity"]["ReauthorizeEvery"] == {"Ref": "AuthorizerCacheSeconds"}
    assert authorizer["Identity"]["Headers"] == ["Authorization"]


def test_database_errors_never_carry_the_statements_values() -> None:
    # An unexpected error is logged with its traceback: the SQL may show, its values never
    # (SQLAlchemy leaves "[parameters: ...]" out of every error the engine raises).
    import sqlalchemy as sa

    engine = db.build_engine(url=sa.make_url("postgresql+pg8000://nobody@127.0.0.1:9/nothing"), poolclass=sa.NullPool)
    assert engine.hide_parameters is True


# --- the database fails in the middle of a request -------------------------------------------------


def test_a_database_outage_inside_a_route_is_503_with_retry_after() -> None:
    from sqlalchemy.exc import OperationalError

    app = api.App("outage")

    @app.get("/v1/outage")
    def outage() -> dict[str, str]:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    response = app.handler(_event("GET", "/v1/outage", None), _LambdaContext())  # type: ignore[arg-type]

    assert response["statusCode"] == 503, response
    assert response["headers"]["Retry-After"] == "5"
    problem = json.loads(response["body"])
    assert problem["type"].endswith("/unavailable") and problem["detail"] == "The database is unavailable."
