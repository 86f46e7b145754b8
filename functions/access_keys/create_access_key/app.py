"""POST /v1/accounts/{account_id}/access-keys: create S3 credentials in the storage backend (secret shown once)."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends, Response

from primecloud.adapters import registry
from primecloud.api import AccountContext, account_access, app_for, created
from primecloud.schemas.access_keys import AccessKeyCreate, AccessKeyCreated
from primecloud.services import access_keys

app = app_for(__name__, idempotent=True, sealed=True)


@app.post(
    "/v1/accounts/<account_id>/access-keys",
    responses={
        409: {"description": "The buckets do not fit the backend's policies for one key (the detail names the limit)"},
        503: {"description": "The storage backend or the key service is unavailable; nothing was created"},
    },
)
def create_access_key(
    account_id: UUID,
    body: AccessKeyCreate,
    ctx: Annotated[AccountContext, Depends(account_access("admin", "access-keys:write", lock=access_keys.KEY_CHANGE))],
) -> Response[AccessKeyCreated]:
    return created(
        access_keys.create(
            ctx.session,
            ctx.actor,
            ctx.account,
            body,
            credentials=registry.tenant_credentials(),
            cipher=registry.crypto(),
        )
    )


lambda_handler = app.handler
