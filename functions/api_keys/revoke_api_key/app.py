"""DELETE /v1/accounts/{account_id}/api-keys/{key_id}: revoke a key; the authorizer refuses it from then on."""

from typing import Annotated, Any
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends, Response

from primecloud.api import AccountContext, account_access, app_for, no_content
from primecloud.services import api_keys

app = app_for(__name__)


@app.delete("/v1/accounts/<account_id>/api-keys/<key_id>")
def revoke_api_key(
    account_id: UUID,
    key_id: UUID,
    ctx: Annotated[AccountContext, Depends(account_access("admin", "account:write"))],
) -> Response[Any]:
    api_keys.revoke(ctx.session, ctx.actor, ctx.account, key_id)
    return no_content()


lambda_handler = app.handler
