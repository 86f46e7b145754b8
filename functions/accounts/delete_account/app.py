"""DELETE /v1/accounts/{account_id}: close the account (owner only; also while suspended)."""

from typing import Annotated, Any
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends, Response

from primecloud.api import AccountContext, account_access, app_for, no_content
from primecloud.services import accounts

app = app_for(__name__)


@app.delete("/v1/accounts/<account_id>")
def delete_account(
    account_id: UUID,
    ctx: Annotated[AccountContext, Depends(account_access("owner", "account:write", allow_when_suspended=True))],
) -> Response[Any]:  # Response[None] would serialize the empty body as 'null'
    accounts.delete(ctx.session, ctx.actor, ctx.account)
    return no_content()


lambda_handler = app.handler
