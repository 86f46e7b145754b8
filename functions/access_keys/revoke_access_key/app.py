"""DELETE /v1/accounts/{account_id}/access-keys/{key_id}: remove an S3 access key from the storage backend for good."""

from typing import Annotated, Any
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends, Response

from primecloud.adapters import registry
from primecloud.api import AccountContext, account_access, app_for, no_content
from primecloud.services import access_keys

app = app_for(__name__)


# Allowed on a suspended account: taking a (possibly leaked) credential away only reduces access.
@app.delete(
    "/v1/accounts/<account_id>/access-keys/<key_id>",
    responses={404: {"description": "No such access key in this account"}},
)
def revoke_access_key(
    account_id: UUID,
    key_id: UUID,
    ctx: Annotated[AccountContext, Depends(account_access("admin", "access-keys:write", allow_when_suspended=True))],
) -> Response[Any]:
    access_keys.revoke(ctx.session, ctx.actor, ctx.account, key_id, credentials=registry.tenant_credentials())
    return no_content()


lambda_handler = app.handler
