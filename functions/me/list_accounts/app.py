"""GET /v1/me/accounts: the caller's accounts with their role in each."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Depends

from primecloud.api import Cursor, Limit, UserContext, app_for, user_access
from primecloud.schemas.common import Page
from primecloud.schemas.iam import MyAccountOut
from primecloud.services import accounts

app = app_for(__name__)


@app.get("/v1/me/accounts")
def list_my_accounts(
    ctx: Annotated[UserContext, Depends(user_access("account:read"))], limit: Limit = 50, cursor: Cursor = None
) -> Page[MyAccountOut]:
    return accounts.list_mine(
        ctx.session,
        ctx.principal.user_id,
        only_account_id=ctx.principal.api_key_account_id,
        limit=limit,
        cursor=cursor,
    )


lambda_handler = app.handler
