"""Idempotency-Key for POSTs that create money or resources (orders, payments, buckets, keys).

A client sends ``Idempotency-Key: <its own unique string>``; retrying the same request with
the same key within 24 hours replays the first outcome (same status and body, header
``Idempotent-Replayed: true``) instead of doing the work again. The same key with another
body is 422; a retry while the first request is still running is 409.

How: the key is *claimed* in its own short, committed transaction (INSERT ... ON CONFLICT DO
NOTHING on the unique (user_id, key)), so a concurrent duplicate sees the claim at once. The
outcome of a successful request is written into the claim *inside the request's transaction*,
so the resource and its recorded response commit together or not at all. A request whose
transaction does not commit (4xx/5xx, an exception, a failed commit) releases its claim once that
transaction has ended and its connection is back in the pool (``request.after_transaction``): with one
connection per container, neither the claim nor the release ever waits for the request's own.
A retry then runs again, as nothing was changed. A claim left by a crashed container expires after
``LOCK_SECONDS`` and may be taken over.

An answer from an earlier request (a replay, or the 409/422 about the key) is given only to a caller
the route admits now: the route's own access dependency (``account_access`` ...) is resolved first,
through Powertools' dependency machinery, so a user demoted or removed since gets the route's 403/404,
never the stored response (which may hold an access key's secret).

Responses that hold a secret shown once (a new access key) are kept sealed with the KMS
envelope cipher (``sealed=True``), never in clear.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from aws_lambda_powertools.event_handler import Response

from primecloud import clock
from primecloud.api.request import after_transaction, principal_from_event, session_in
from primecloud.errors import Conflict, Invalid, PrimeCloudError

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
TTL = timedelta(hours=24)
LOCK_SECONDS = 60
_KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII, no spaces (the OpenAPI pattern)


def request_fingerprint(method: str, path: str, body: str | None) -> str:
    return hashlib.sha256(f"{method.upper()}\n{path}\n{body or ''}".encode()).hexdigest()


def _account_id(path_parameters: dict[str, str] | None) -> UUID | None:
    raw = (path_parameters or {}).get("account_id")
    try:
        return UUID(raw) if raw else None
    except ValueError:
        return None


@dataclass(frozen=True)
class KeyedRequest:
    user_id: UUID
    key: str
    method: str
    path: str
    fingerprint: str
    account_id: UUID | None


def _claim(request: KeyedRequest) -> UUID | Response[Any]:
    """Claim ``key`` for this request, or answer from an earlier one (replay, 409, 422)."""
    from sqlalchemy import delete, select, update
    from sqlalchemy.dialects.postgresql import insert

    from primecloud.db import get_engine, narrow_to_user
    from primecloud.models.iam import Account
    from primecloud.models.system import IdempotencyKey

    now = clock.now()
    # The path's account may not exist (a mistyped or foreign id): the route answers 404 then, so the
    # claim must not fail on the foreign key first (it would be a 500).
    account_id = (
        select(Account.id).where(Account.id == request.account_id).scalar_subquery()
        if request.account_id is not None
        else None
    )
    with get_engine().begin() as connection:
        narrow_to_user(connection, request.user_id)  # keys are the caller's own rows (row-level security)
        # An expired key is free again.
        connection.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.user_id == request.user_id,
                IdempotencyKey.key == request.key,
                IdempotencyKey.expires_at <= now,
            )
        )
        claimed = connection.execute(
            insert(IdempotencyKey)
            .values(
                user_id=request.user_id,
                account_id=account_id,
                key=request.key,
                method=request.method,
                path=request.path,
                request_hash=request.fingerprint,
                locked_until=now + timedelta(seconds=LOCK_SECONDS),
                expires_at=now + TTL,
            )
            .on_conflict_do_nothing(index_elements=[IdempotencyKey.user_id, IdempotencyKey.key])
            .returning(IdempotencyKey.id)
        ).scalar_one_or_none()
        if claimed is not None:
            return claimed
        row = connection.execute(
            select(IdempotencyKey.__table__)
            .where(IdempotencyKey.user_id == request.user_id, IdempotencyKey.key == request.key)
            .with_for_update()
        ).one_or_none()
        if row is None:  # released between our INSERT and SELECT: the client may simply retry
            raise Conflict("A request with this Idempotency-Key is in progress; retry shortly.")
        if row.request_hash != request.fingerprint:
            raise Invalid(
                "This Idempotency-Key was used for a different request (method, path or body); use a new key.",
                errors=[{"field": HEADER, "message": "reused with a different request", "type": "idempotency_key"}],
            )
        if row.status_code is not None:
            stored = row.response_body or {}
            response: Response[Any] = Response(
                status_code=row.status_code,
                content_type=str(stored.get("content_type") or "application/json"),
                body=_unseal(row.id, stored["sealed"]) if "sealed" in stored else stored.get("body"),
                headers={REPLAYED_HEADER: "true"},
            )
            return response
        if row.locked_until is not None and row.locked_until > now:
            raise Conflict(
                "A request with this Idempotency-Key is in progress; retry shortly.", headers={"Retry-After": "1"}
            )
        # The first attempt died without an outcome (a crashed container): take its claim over.
        connection.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.id == row.id)
            .values(locked_until=now + timedelta(seconds=LOCK_SECONDS))
        )
        taken_over: UUID = row.id
        return taken_over


def _release(claim_id: UUID, user_id: UUID) -> None:
    """Free the key of a request that did not commit (run after its transaction: see ``after_transaction``)."""
    from sqlalchemy import delete

    from primecloud.db import get_engine, narrow_to_user
    from primecloud.models.system import IdempotencyKey

    with get_engine().begin() as connection:
        narrow_to_user(connection, user_id)
        connection.execute(
            delete(IdempotencyKey).where(IdempotencyKey.id == claim_id, IdempotencyKey.status_code.is_(None))
        )


def _seal_context(claim_id: UUID) -> dict[str, str]:
    return {"purpose": "idempotent-response", "claim": str(claim_id)}


def _seal(claim_id: UUID, body: Any) -> str:
    from primecloud.adapters import registry

    plaintext = json.dumps(body, separators=(",", ":"))
    return base64.b64encode(registry.crypto().encrypt(plaintext, context=_seal_context(claim_id))).decode()


def _unseal(claim_id: UUID, sealed: str) -> Any:
    from primecloud.adapters import registry

    return json.loads(registry.crypto().decrypt_text(base64.b64decode(sealed), context=_seal_context(claim_id)))


def _store_outcome(app: APIGatewayHttpResolver, claim_id: UUID, response: Response[Any], *, sealed: bool) -> None:
    """Write the outcome into the claim in the request's own transaction (commits with it)."""
    from sqlalchemy import update

    from primecloud.models.system import IdempotencyKey

    session = session_in(app.context)
    session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.id == claim_id)
        .values(
            status_code=response.status_code,
            response_body={
                "content_type": response.content_type,
                **({"sealed": _seal(claim_id, response.body)} if sealed else {"body": response.body}),
            },
            locked_until=None,
        )
    )


Middleware = Callable[["APIGatewayHttpResolver", Callable[..., Response[Any]]], Any]


def idempotency_middleware(*, sealed: bool = False) -> Middleware:
    """Powertools middleware for POST routes; it runs inside the transaction middleware."""

    def middleware(app: APIGatewayHttpResolver, next_middleware: Callable[..., Response[Any]]) -> Any:
        return _handle(app, next_middleware, sealed=sealed)

    return middleware


def _handle(app: APIGatewayHttpResolver, next_middleware: Callable[..., Response[Any]], *, sealed: bool) -> Any:
    event = app.current_event
    key = event.headers.get(HEADER)
    if key is None or event.http_method.upper() != "POST":
        return next_middleware(app)
    if not _KEY_PATTERN.fullmatch(key):
        message = "must be 1-255 printable ASCII characters without spaces"
        raise Invalid(
            f"{HEADER}: {message}", errors=[{"field": HEADER, "message": message, "type": "string_pattern_mismatch"}]
        )
    principal = principal_from_event(event.raw_event)
    if principal is None:  # public routes have no caller to scope keys to
        return next_middleware(app)
    user_id = principal.user_id  # for an API key, the user who made it: keys are per user
    path = event.raw_event.get("rawPath") or event.path
    # No session is open yet (the route's dependencies resolve later): the claim's own short transaction
    # is the only connection in use.
    keyed = KeyedRequest(
        user_id=user_id,
        key=key,
        method=event.http_method.upper(),
        path=path,
        fingerprint=request_fingerprint(event.http_method, path, event.decoded_body),
        account_id=_account_id(event.path_parameters),
    )
    try:
        claim = _claim(keyed)
    except PrimeCloudError:  # 409/422 about an earlier request with this key
        _check_access_as_the_route(app)
        raise
    if isinstance(claim, Response):
        _check_access_as_the_route(app)
        return claim

    def release_unless_committed(committed: bool) -> None:
        if not committed:
            _release(claim, keyed.user_id)

    after_transaction(app, release_unless_committed)
    response = next_middleware(app)
    if response.status_code < 400:
        _store_outcome(app, claim, response, sealed=sealed)
    return response


def _check_access_as_the_route(app: APIGatewayHttpResolver) -> None:
    """Pass the route's own access check before answering from an earlier request.

    Resolves the route's ``Depends()`` as Powertools' final adapter would (``_registered_api_adapter``),
    sharing its per-request cache; whatever the access dependency raises (401/403/404) is the answer.
    Only called when the route itself does not run, so the check never runs twice.
    """
    from aws_lambda_powertools.event_handler.api_gateway import _DEPENDS_CACHE_KEY
    from aws_lambda_powertools.event_handler.depends import build_dependency_tree, solve_dependencies

    route = app.context.get("_route")
    if route is None or not route.has_dependencies:
        return
    solve_dependencies(
        dependant=build_dependency_tree(route.func),
        request=app.request,
        dependency_overrides=app.dependency_overrides or None,
        dependency_cache=app.context.setdefault(_DEPENDS_CACHE_KEY, {}),
    )
