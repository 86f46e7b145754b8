"""What a request brings and keeps: the caller (from the Lambda authorizer's context), its database
session and the one transaction around it.

The bottom of the edge: it imports nothing else from ``primecloud.api``, so ``api.idempotency`` can
use it without reaching back into the rest.
"""

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Request, Response

from primecloud.access import Principal, is_unavailable
from primecloud.actor import Actor
from primecloud.errors import Unavailable
from primecloud.observability import logger

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

_SESSION_KEY = "primecloud.session"
_ACTOR_KEY = "primecloud.actor"
_AFTER_TRANSACTION_KEY = "primecloud.after_transaction"

UNAVAILABLE_DETAIL = "The credentials could not be checked: the database is unavailable."
RETRY_SOON = {"Retry-After": "5"}  # every outage 503 carries it: a retry may work soon


# --------------------------------------------------------------------------- the caller


def header(request: Request, name: str) -> str | None:
    value = request.resolved_event.headers.get(name)  # Powertools' headers are case-insensitive
    return str(value) if value is not None else None


def caller_unavailable(event: Mapping[str, Any]) -> bool:
    """The authorizer could not reach the database and passed the request on with only this flag."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    return is_unavailable(authorizer.get("lambda") or {})


def refuse_when_unavailable(event: Mapping[str, Any]) -> None:
    """503 when the authorizer could not reach the database (it passes the request on with no identity,
    only the ``unavailable`` flag): no route, public ones included, acts for such a caller."""
    if caller_unavailable(event):
        raise Unavailable(UNAVAILABLE_DETAIL, headers=RETRY_SOON)


def principal_from_event(event: Mapping[str, Any]) -> Principal | None:
    refuse_when_unavailable(event)
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    context = authorizer.get("lambda") or {}
    if not context.get("user_id"):
        return None
    return Principal.from_authorizer_context(context)


def principal_of(request: Request) -> Principal | None:
    """The caller as the Lambda authorizer described it, or None on a public route."""
    return principal_from_event(request.resolved_event)


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
        user_agent=(header(request, "user-agent") or "")[:512] or None,
        request_id=(event.get("requestContext") or {}).get("requestId"),
    )
    request.context[_ACTOR_KEY] = actor
    return actor


# --------------------------------------------------------------------------- session and transaction


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


def transaction_middleware(app: APIGatewayHttpResolver, next_middleware: Callable[..., Response[Any]]) -> Any:
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
