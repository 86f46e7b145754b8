"""GET /v1/accounts/{account_id}: the account, its size and the caller's role."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends

from primecloud.api import AccountContext, account_access, app_for
from primecloud.schemas.iam import AccountDetails
from primecloud.services import accounts

app = app_for(__name__)


@app.get("/v1/accounts/<account_id>")
def get_account(
    account_id: UUID, ctx: Annotated[AccountContext, Depends(account_access("viewer", "account:read"))]
) -> AccountDetails:
    return accounts.details(ctx.session, ctx.account, ctx.role)


lambda_handler = app.handler
