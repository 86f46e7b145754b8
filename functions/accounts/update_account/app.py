"""PATCH /v1/accounts/{account_id}: name, billing email, currency, tax rate, settings (admin+)."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends

from primecloud.api import AccountContext, account_access, app_for
from primecloud.schemas.iam import AccountDetails, AccountUpdate
from primecloud.services import accounts

app = app_for(__name__)


@app.patch("/v1/accounts/<account_id>")
def update_account(
    account_id: UUID,
    body: AccountUpdate,
    ctx: Annotated[AccountContext, Depends(account_access("admin", "account:write"))],
) -> AccountDetails:
    return accounts.update(ctx.session, ctx.actor, ctx.account, ctx.role, body)


lambda_handler = app.handler
