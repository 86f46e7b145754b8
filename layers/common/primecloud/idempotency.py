"""Idempotency-Key for POSTs that create money or resources (orders, payments, buckets, keys).

A client sends ``Idempotency-Key: <its own unique string>``; retrying the same request with
the same key within 24 hours replays the first outcome (same status and body, header
``Idempotent-Replayed: true``) instead of doing the work again. The same key with another
body is 422; a retry while the first request is still running is 409.

How: the key is *claimed* in its own short, committed transaction (INSERT ... ON CONFLICT DO
NOTHING on the unique (user_id, key)), so a concurrent duplicate sees the claim at once. The
outcome of a successful request is written into the claim *inside the request's transaction*,
so the resource and its recorded response commit together or not at all. A request that fails
(4xx/5xx or an exception) releases its claim: a retry runs again, as nothing was changed.
A claim left by a crashed container expires after ``LOCK_SECONDS`` and may be taken over.
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
from primecloud.api import principal_from_event, session_in
from primecloud.errors import BadRequest, Conflict, Invalid

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
TTL = timedelta(hours=24)
LOCK_SECONDS = 60
_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces


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

    from primecloud.db import get_engine
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


def _release(claim_id: UUID) -> None:
    from sqlalchemy import delete

    from primecloud.db import get_engine
    from primecloud.models.system import IdempotencyKey

    with get_engine().begin() as connection:
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
    if not _KEY_PATTERN.match(key):
        raise BadRequest(f"{HEADER} must be 1-255 printable ASCII characters without spaces.")
    principal = principal_from_event(event.raw_event)
    if principal is None:  # public routes have no caller to scope keys to
        return next_middleware(app)
    user_id = principal.user_id  # for an API key, the user who made it: keys are per user
    path = event.raw_event.get("rawPath") or event.path
    claim = _claim(
        KeyedRequest(
            user_id=user_id,
            key=key,
            method=event.http_method.upper(),
            path=path,
            fingerprint=request_fingerprint(event.http_method, path, event.decoded_body),
            account_id=_account_id(event.path_parameters),
        )
    )
    if isinstance(claim, Response):
        return claim
    try:
        response = next_middleware(app)
    except BaseException:
        _release(claim)
        raise
    if response.status_code >= 400:
        _release(claim)
        return response
    _store_outcome(app, claim, response, sealed=sealed)
    return response
