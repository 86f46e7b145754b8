"""POST /v1/accounts/{account_id}/transfer-ownership: a member becomes owner, the caller admin."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends

from primecloud.api import AccountContext, account_access, app_for
from primecloud.schemas.iam import AccountDetails, OwnershipTransfer
from primecloud.services import accounts

app = app_for(__name__)


@app.post(
    "/v1/accounts/<account_id>/transfer-ownership",
    responses={409: {"description": "The user_id is the caller"}},
)
def transfer_ownership(
    account_id: UUID,
    body: OwnershipTransfer,
    ctx: Annotated[AccountContext, Depends(account_access("owner", "members:write", allow_when_suspended=True))],
) -> AccountDetails:
    return accounts.transfer_ownership(ctx.session, ctx.actor, ctx.account, ctx.role, body.user_id)


lambda_handler = app.handler
