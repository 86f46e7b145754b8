"""PATCH /v1/accounts/{account_id}/access-keys/{key_id}: rename, enable/disable or re-scope an S3 access key."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends

from primecloud.adapters import registry
from primecloud.api import AccountContext, account_access, app_for
from primecloud.schemas.access_keys import AccessKeyOut, AccessKeyUpdate
from primecloud.services import access_keys

app = app_for(__name__)


@app.patch(
    "/v1/accounts/<account_id>/access-keys/<key_id>",
    responses={
        404: {"description": "No such access key in this account"},
        409: {"description": "The key is revoked, or its buckets do not fit the backend's policies for one key"},
    },
)
def update_access_key(
    account_id: UUID,
    key_id: UUID,
    body: AccessKeyUpdate,
    ctx: Annotated[AccountContext, Depends(account_access("admin", "access-keys:write", lock=access_keys.KEY_CHANGE))],
) -> AccessKeyOut:
    return access_keys.update(
        ctx.session, ctx.actor, ctx.account, key_id, body, credentials=registry.tenant_credentials()
    )


lambda_handler = app.handler
