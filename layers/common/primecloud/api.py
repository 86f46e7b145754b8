"""The HTTP edge shared by every API handler.

One place for: the resolver (Powertools APIGatewayHttpResolver with pydantic validation),
the caller's identity from the Lambda authorizer, the account membership/role/scope check,
one database transaction per request, errors as RFC 9457 problem+json, keyset pagination,
and the Logger/Tracer/Metrics wrapping of the Lambda entry point.

A handler module is wiring only::

    app = app_for(__name__)

    @app.get("/v1/accounts/<account_id>")
    def get_account(account_id: UUID, ctx: Annotated[AccountContext, Depends(account_access("viewer"))]):
        return accounts.get(ctx.session, ctx.account)

    lambda_handler = app.handler
"""

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, cast
from uuid import UUID

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Request, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from pydantic import BeforeValidator

from primecloud.access import AccountLock, Principal, is_unavailable, resolve_account_access, resolve_bucket_access
from primecloud.actor import Actor
from primecloud.errors import BadRequest, PrimeCloudError, Unauthorized, Unavailable
from primecloud.observability import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from sqlalchemy.orm import Session

    from primecloud.models.iam import Account
    from primecloud.models.storage import Bucket

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://primecloud.dev/problems/"
_SESSION_KEY = "primecloud.session"
_ACTOR_KEY = "primecloud.actor"
_AFTER_TRANSACTION_KEY = "primecloud.after_transaction"


def _iso_datetime_only(value: Any) -> Any:
    # pydantic would read "12" or "0.5" as Unix timestamps; the API documents ISO 8601 date-times.
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value.strip())):
        raise ValueError("expected an ISO 8601 date-time such as 2026-10-01T00:00:00Z, not a number")
    return value


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
# A date-time query parameter: ISO 8601 only (UTC when it has no offset is the route's rule).
IsoDateTime = Annotated[datetime, BeforeValidator(_iso_datetime_only)]

# Query parameters every list route shares.
Limit = Annotated[int, Query(ge=1, le=100, description="Page size (1-100)")]
Cursor = Annotated[str | None, Query(max_length=512, description="Opaque cursor from next_cursor")]


# --------------------------------------------------------------------------- serialization


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # money never passes through float
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default, separators=(",", ":"))


# No body this API takes nests deeper than a few levels (account settings are free-form: 32 is ample).
MAX_JSON_DEPTH = 32


def parse_json_body(text: str) -> Any:
    """A request body as JSON. Nesting past ``MAX_JSON_DEPTH`` (CPython's parser itself dies near 1,000
    levels with a RecursionError) or an integer past Python's 4,300-digit limit (a ValueError) is
    malformed JSON like any other: Powertools answers it as ``json_invalid``, which is our 400."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise
    except (RecursionError, ValueError):
        raise json.JSONDecodeError("nested too deeply or a number too long", "", 0) from None
    # str.count is cheap: only a body with that many brackets at all can nest that deep.
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _nests_deeper_than(value, MAX_JSON_DEPTH):
        raise json.JSONDecodeError(f"nested deeper than {MAX_JSON_DEPTH} levels", "", 0)
    return value


def _nests_deeper_than(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:  # iterative: a recursive walk is what this guards against
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


# --------------------------------------------------------------------------- problem+json


def request_id_of(app: APIGatewayHttpResolver) -> str | None:
    try:
        return str(app.current_event.request_context.request_id)
    except (AttributeError, KeyError, TypeError):
        return None


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    request_id: str | None,
    errors: list[dict[str, Any]] | None = None,
) -> Response[Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "request_id": request_id,
    }
    if errors:
        body["errors"] = errors
    return Response(status_code=status, content_type=PROBLEM_JSON, body=json_dumps(body))


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


def validation_problem(exc: RequestValidationError, request_id: str | None) -> Response[Any]:
    raw_errors = exc.errors()
    if any(error.get("type") == "json_invalid" for error in raw_errors):
        return problem_response(
            400, BadRequest.slug, BadRequest.title, "The request body is not valid JSON.", request_id=request_id
        )
    # Never echo the rejected input back: it may be a password or a token.
    errors = [
        {
            "field": _field_name(error.get("loc", ())),
            "message": error.get("msg", ""),
            "type": error.get("type"),
        }
        for error in raw_errors
    ]
    detail = "; ".join(f"{error['field']}: {error['message']}" for error in errors) or "Invalid request"
    return problem_response(422, "validation-error", "Invalid request", detail, request_id=request_id, errors=errors)


def _is_database_outage(exc: Exception) -> bool:
    from primecloud.db import is_database_outage  # the same rule as the authorizer's

    return is_database_outage(exc)


# SQLSTATEs of text PostgreSQL cannot store: a NUL character (22021 in text, 22P05 in jsonb).
_UNSTORABLE_TEXT = frozenset({"22021", "22P05"})


def _is_unstorable_text(exc: Exception) -> bool:
    """The input held text PostgreSQL refuses (a NUL byte): the caller's mistake, not ours."""
    from sqlalchemy.exc import DBAPIError

    if not isinstance(exc, DBAPIError):
        return False
    details = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
    return isinstance(details, dict) and details.get("C") in _UNSTORABLE_TEXT


def _body_is_malformed(event: dict[str, Any]) -> bool:
    """A body that is not UTF-8, or one sent as multipart/form-data (never what this API takes)."""
    headers = {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}
    if headers.get("content-type", "").strip().lower().startswith("multipart/"):
        return True
    body = event.get("body") or ""
    try:
        raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
        raw.decode()
    except (ValueError, UnicodeError):
        return True
    return False


def _register_error_handlers(app: APIGatewayHttpResolver) -> None:
    @app.exception_handler(PrimeCloudError)
    def _domain_error(exc: PrimeCloudError) -> Response[Any]:
        response = problem_response(
            exc.status, exc.slug, exc.title, exc.detail, request_id=request_id_of(app), errors=exc.errors
        )
        response.headers.update(exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    def _validation_error(exc: RequestValidationError) -> Response[Any]:
        return validation_problem(exc, request_id_of(app))

    @app.exception_handler(RequestUnsupportedContentType)
    def _not_json(_exc: RequestUnsupportedContentType) -> Response[Any]:
        # A body sent as text/plain, a form, ...: bodies are JSON (400 is documented on every route with one).
        detail = "The request body must be JSON (Content-Type: application/json)."
        return problem_response(400, BadRequest.slug, BadRequest.title, detail, request_id=request_id_of(app))

    @app.exception_handler(NotFoundError)
    def _no_route(_exc: NotFoundError) -> Response[Any]:
        return problem_response(404, "not-found", "Not found", "No such route.", request_id=request_id_of(app))

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response[Any]:
        if isinstance(exc, ValueError) and _body_is_malformed(app.current_event.raw_event):
            # Powertools parses the body before validating it: it raises on binary garbage (UnicodeDecodeError)
            # and on a multipart body without a boundary (ValueError). Both are the caller's malformed request.
            detail = "The request body must be UTF-8 JSON (Content-Type: application/json)."
            return problem_response(400, BadRequest.slug, BadRequest.title, detail, request_id=request_id_of(app))
        if _is_unstorable_text(exc):
            return problem_response(
                422,
                "validation-error",
                "Invalid request",
                "Text values must not contain the NUL character (\\u0000).",
                request_id=request_id_of(app),
            )
        if _is_database_outage(exc):
            logger.warning("database unavailable", extra={"error": type(exc).__name__})
            outage = problem_response(
                503, Unavailable.slug, Unavailable.title, "The database is unavailable.", request_id=request_id_of(app)
            )
            outage.headers.update(_RETRY_SOON)  # like the authorizer's outage answer: a retry may work soon
            return outage
        logger.exception("unhandled error")
        return problem_response(
            500, "internal", "Internal error", "An unexpected error occurred.", request_id=request_id_of(app)
        )


# --------------------------------------------------------------------------- transaction


def _finish_session(app: APIGatewayHttpResolver, commit: bool) -> None:
    session: Session | None = app.context.pop(_SESSION_KEY, None)
    if session is None:
        return
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


def after_transaction(app: APIGatewayHttpResolver, callback: Callable[[bool], None]) -> None:
    """Run ``callback(committed)`` when the request's transaction has ended and its session is closed.

    Its connection is back in the pool by then: with one connection per container (the template's
    default) a callback that needs the database would otherwise wait for the request's own connection.
    """
    app.context.setdefault(_AFTER_TRANSACTION_KEY, []).append(callback)


def _run_after_transaction(app: APIGatewayHttpResolver, committed: bool) -> None:
    callbacks: list[Callable[[bool], None]] = app.context.pop(_AFTER_TRANSACTION_KEY, [])
    for callback in callbacks:
        try:
            callback(committed)
        except Exception as exc:  # the request's answer stands; a callback's own failure is only logged
            logger.warning("after-transaction callback failed", extra={"error": type(exc).__name__})


def _transaction_middleware(app: APIGatewayHttpResolver, next_middleware: Callable[..., Response[Any]]) -> Any:
    """One transaction per request: commit when the handler succeeded, roll back otherwise."""
    committed = False
    try:
        try:
            response = next_middleware(app)
        except BaseException:
            _finish_session(app, commit=False)
            raise
        _finish_session(app, commit=response.status_code < 400)
        committed = response.status_code < 400
        return response
    finally:
        _run_after_transaction(app, committed)


# --------------------------------------------------------------------------- dependencies


def session_in(context: dict[str, Any]) -> "Session":
    """The request's Session (kept in the resolver's per-request ``context``), opened on first use and
    finished by the transaction middleware."""
    session: Session | None = context.get(_SESSION_KEY)
    if session is None:
        from primecloud.db import new_session

        session = new_session()
        context[_SESSION_KEY] = session
    return session


def db_session(request: Request) -> "Session":
    return session_in(request.context)


def _header(request: Request, name: str) -> str | None:
    value = request.resolved_event.headers.get(name)  # Powertools' headers are case-insensitive
    return str(value) if value is not None else None


def principal_of(request: Request) -> Principal | None:
    """The caller as the Lambda authorizer described it, or None on a public route."""
    return principal_from_event(request.resolved_event)


def _caller_unavailable(event: Mapping[str, Any]) -> bool:
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    return is_unavailable(authorizer.get("lambda") or {})


_UNAVAILABLE_DETAIL = "The credentials could not be checked: the database is unavailable."
_RETRY_SOON = {"Retry-After": "5"}


def refuse_when_unavailable(event: Mapping[str, Any]) -> None:
    """503 when the authorizer could not reach the database (it passes the request on with no identity,
    only the ``unavailable`` flag): no route, public ones included, acts for such a caller."""
    if _caller_unavailable(event):
        raise Unavailable(_UNAVAILABLE_DETAIL, headers=_RETRY_SOON)


def _unavailable_answer(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The entry point's 503 for such a caller, before routing, validation, a transaction or a replay."""
    if not _caller_unavailable(event):
        return None
    request_id = (event.get("requestContext") or {}).get("requestId")
    problem = problem_response(503, Unavailable.slug, Unavailable.title, _UNAVAILABLE_DETAIL, request_id=request_id)
    return {
        "statusCode": 503,
        "headers": {"Content-Type": PROBLEM_JSON, **_RETRY_SOON},
        "body": problem.body,
        "isBase64Encoded": False,
    }


def principal_from_event(event: Mapping[str, Any]) -> Principal | None:
    refuse_when_unavailable(event)
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    context = authorizer.get("lambda") or {}
    if not context.get("user_id"):
        return None
    return Principal.from_authorizer_context(context)


def actor_of(request: Request) -> Actor:
    cached: Actor | None = request.context.get(_ACTOR_KEY)
    if cached is not None:
        return cached
    event = request.resolved_event
    http = (event.get("requestContext") or {}).get("http") or {}
    principal = principal_of(request)
    actor = Actor(
        user_id=principal.user_id if principal else None,
        api_key_id=principal.api_key_id if principal else None,
        ip=http.get("sourceIp"),
        user_agent=(_header(request, "user-agent") or "")[:512] or None,
        request_id=(event.get("requestContext") or {}).get("requestId"),
    )
    request.context[_ACTOR_KEY] = actor
    return actor


@dataclass(kw_only=True)
class PublicContext:
    """What a public route gets: a session and who is asking (anonymous)."""

    session: "Session"
    actor: Actor
    request: Request = field(repr=False)

    def header(self, name: str) -> str | None:
        return _header(self.request, name)


@dataclass(kw_only=True)
class UserContext(PublicContext):
    """An authenticated caller, not tied to one account."""

    principal: Principal


@dataclass(kw_only=True)
class AccountContext(UserContext):
    """An authenticated member of ``account`` with ``role`` (the central check passed)."""

    account: "Account"
    role: str


# The problem+json statuses a route can answer before its handler does anything, by the context its
# access dependency gives (a DB outage is 503 for all of them). Documentation only: the OpenAPI
# document lists them for every operation (localrun/openapi.py).
ACCESS_PROBLEMS: dict[type[PublicContext], tuple[int, ...]] = {
    PublicContext: (503,),
    UserContext: (401, 403, 503),
    AccountContext: (401, 403, 404, 503),
}


def public_access(request: Request) -> PublicContext:
    refuse_when_unavailable(request.resolved_event)
    return PublicContext(session=db_session(request), actor=actor_of(request), request=request)


def _require_principal(request: Request, scope: str | None) -> Principal:
    refuse_when_unavailable(request.resolved_event)
    principal = principal_of(request)
    if principal is None:
        raise Unauthorized("Missing or invalid credentials.")
    principal.require_scope(scope)
    return principal


def user_access(scope: str | None = None) -> Callable[[Request], UserContext]:
    """Any authenticated caller; an API key must carry ``scope`` when given."""

    def dependency(request: Request) -> UserContext:
        from primecloud.db import narrow_to_user

        principal = _require_principal(request, scope)
        session = db_session(request)
        narrow_to_user(session, principal.user_id)  # no tenant: the caller's own rows (rides on the BEGIN)
        return UserContext(session=session, actor=actor_of(request), request=request, principal=principal)

    return dependency


def platform_admin_access(request: Request) -> UserContext:
    """Platform staff only; another caller gets 403."""
    from primecloud.errors import Forbidden

    principal = _require_principal(request, None)
    if not principal.is_platform_admin or principal.api_key_id is not None:
        raise Forbidden("Platform administrators only.")
    from primecloud.db import system_scope

    session = db_session(request)
    system_scope(session, f"platform staff {principal.user_id}: {request.route}")
    return UserContext(session=session, actor=actor_of(request), request=request, principal=principal)


def account_access(
    min_role: str = "viewer",
    scope: str | None = None,
    *,
    allow_when_suspended: bool = False,
    lock: AccountLock | None = None,
) -> Callable[[Request], AccountContext]:
    """The central tenant check for routes under /v1/accounts/{account_id}.

    404 when the caller has no part in the account (no existence oracle), 403 when the role or
    the API key's scope is too low, 403 account-suspended for a mutation on a suspended account.
    The tenant check comes first: another account's key is 404 whatever scopes it lacks.
    ``lock``: an account-level lock the check's query takes for the route (``AccountLock``).
    """

    def dependency(request: Request) -> AccountContext:
        principal = _require_principal(request, None)
        session = db_session(request)
        raw_account_id = request.path_parameters.get("account_id", "")
        account, role = resolve_account_access(
            session,
            principal,
            raw_account_id,
            min_role=min_role,
            mutation=request.method.upper() not in ("GET", "HEAD", "OPTIONS"),
            allow_when_suspended=allow_when_suspended,
            lock=lock,
        )
        principal.require_scope(scope)
        return AccountContext(
            session=session,
            actor=actor_of(request),
            request=request,
            principal=principal,
            account=account,
            role=role,
        )

    return dependency


@dataclass(kw_only=True)
class BucketContext(AccountContext):
    """A member allowed ``level`` (read/write/admin) on ``bucket`` of ``account``."""

    bucket: "Bucket"
    level: str


def bucket_access(
    min_level: str = "read",
    scope: str | None = None,
    *,
    allow_when_suspended: bool = False,
    lock: AccountLock | None = None,
) -> Callable[[Request], BucketContext]:
    """The tenant check plus the bucket check for routes under .../buckets/{bucket_id}.

    Owners and admins reach every bucket; members and viewers only buckets they hold a
    permission on (viewers read at most). A bucket of another account, a deleted one, or one
    the caller holds nothing on is 404; too low a level is 403. As for accounts, the tenant and bucket
    checks come before the API key's scope.
    """

    def dependency(request: Request) -> BucketContext:
        principal = _require_principal(request, None)
        session = db_session(request)
        account, role, bucket, level = resolve_bucket_access(
            session,
            principal,
            request.path_parameters.get("account_id", ""),
            request.path_parameters.get("bucket_id", ""),
            min_level=min_level,
            mutation=request.method.upper() not in ("GET", "HEAD", "OPTIONS"),
            allow_when_suspended=allow_when_suspended,
            lock=lock,
        )
        principal.require_scope(scope)
        return BucketContext(
            session=session,
            actor=actor_of(request),
            request=request,
            principal=principal,
            account=account,
            role=role,
            bucket=bucket,
            level=level,
        )

    return dependency


# --------------------------------------------------------------------------- responses


def created(body: Any) -> Response[Any]:
    """201 with a JSON body (a pydantic model or a dict)."""
    return Response(status_code=201, content_type="application/json", body=body)


def no_content() -> Response[Any]:
    return Response(status_code=204, content_type="application/json", body="")


def accepted(body: Any = None) -> Response[Any]:
    return Response(status_code=202, content_type="application/json", body=body if body is not None else {})


# --------------------------------------------------------------------------- the app


class App(APIGatewayHttpResolver):
    """The resolver every API function uses; ``handler`` is its Lambda entry point."""

    def __init__(self, name: str, *, idempotent: bool = False, sealed: bool = False) -> None:
        from http import HTTPStatus

        super().__init__(
            enable_validation=True,
            serializer=json_dumps,
            json_body_deserializer=parse_json_body,
            response_validation_error_http_code=HTTPStatus.INTERNAL_SERVER_ERROR,
        )
        self.name = name
        self.idempotent = idempotent
        self.use([_transaction_middleware])
        if idempotent:
            from primecloud.idempotency import idempotency_middleware

            # Inside the transaction: the recorded outcome commits with the work it describes.
            self.use([idempotency_middleware(sealed=sealed)])
        _register_error_handlers(self)
        self.handler = self._entry_point()

    def _entry_point(self) -> "Callable[[dict[str, Any], LambdaContext], dict[str, Any]]":
        resolver = self

        @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
        def lambda_handler(event: dict[str, Any], context: "LambdaContext") -> dict[str, Any]:
            unavailable = _unavailable_answer(event)  # first: the access dependencies check it again
            if unavailable is not None:
                return unavailable
            response: dict[str, Any] = resolver.resolve(event, context)
            if response.get("statusCode") in (204, 304):
                response["body"] = ""  # a 204 has no body, also when validation serialized None as "null"
            return response

        return cast("Callable[[dict[str, Any], LambdaContext], dict[str, Any]]", lambda_handler)


def app_for(module_name: str, *, idempotent: bool = False, sealed: bool = False) -> App:
    """The module's resolver.

    ``idempotent=True`` honours an Idempotency-Key header (``primecloud.idempotency``); add
    ``sealed=True`` when the response holds a secret, so the replay copy is kept encrypted.
    """
    return App(module_name, idempotent=idempotent, sealed=sealed)
