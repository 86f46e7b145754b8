"""API keys: minted by a signed-in admin, shown once, stored as a hash, revoked by setting revoked_at.

A key acts with its creator's current role in its one account (the central check), narrowed
by its scopes; so it never does more than the user who made it.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.orm import Session

from primecloud import clock
from primecloud.actor import Actor
from primecloud.errors import Forbidden, Invalid, NotFound
from primecloud.models.iam import Account, ApiKey
from primecloud.pagination import paginate
from primecloud.schemas.api_keys import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from primecloud.schemas.common import Page
from primecloud.services import audit
from primecloud.tokens import API_KEY_PREFIX, api_key_display_prefix, new_token

MAX_KEY_LIFETIME = timedelta(days=365)


def _invalid_expiry(message: str) -> Invalid:
    return Invalid(
        f"body.expires_at: {message}",
        errors=[{"field": "body.expires_at", "message": message, "type": "value_error"}],
    )


def create(session: Session, actor: Actor, account: Account, req: ApiKeyCreate) -> ApiKeyCreated:
    # A leaked key must not be able to mint fresh ones that outlive its revocation.
    if actor.api_key_id is not None:
        raise Forbidden("API keys cannot create API keys; sign in as a user.")
    now = clock.now()
    if req.expires_at is not None:
        if req.expires_at <= now:
            raise _invalid_expiry("must be in the future")
        if req.expires_at > now + MAX_KEY_LIFETIME:
            raise _invalid_expiry("must be at most one year away")
    raw_key, key_hash = new_token(API_KEY_PREFIX)
    key = ApiKey(
        account_id=account.id,
        created_by=actor.user_id,
        name=req.name,
        prefix=api_key_display_prefix(raw_key),
        key_hash=key_hash,
        scopes=req.scopes,
        expires_at=req.expires_at,
    )
    session.add(key)
    session.flush()
    audit.record(
        session,
        actor,
        "api_key.create",
        account_id=account.id,
        target_type="api_key",
        target_id=key.id,
        new={
            "name": key.name,
            "prefix": key.prefix,
            "scopes": key.scopes,
            "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        },
    )
    return ApiKeyCreated(**ApiKeyOut.model_validate(key).model_dump(), secret=raw_key)


def list_api_keys(session: Session, account: Account, *, limit: int, cursor: str | None) -> Page[ApiKeyOut]:
    return paginate(
        session,
        select(ApiKey).where(ApiKey.account_id == account.id),
        keys=[ApiKey.created_at, ApiKey.id],
        limit=limit,
        cursor=cursor,
        to_item=ApiKeyOut.model_validate,
    )


def revoke(session: Session, actor: Actor, account: Account, key_id: UUID) -> None:
    """Revoke a key at once (the authorizer refuses it from now on); revoking it again changes nothing."""
    key = session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.account_id == account.id).with_for_update())
    if key is None:
        raise NotFound("No such API key.")
    if key.revoked_at is not None:
        return
    key.revoked_at = clock.now()
    audit.record(
        session,
        actor,
        "api_key.revoke",
        account_id=account.id,
        target_type="api_key",
        target_id=key.id,
        old={"name": key.name, "prefix": key.prefix, "scopes": key.scopes},
    )
