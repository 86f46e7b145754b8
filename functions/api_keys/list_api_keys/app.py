"""GET /v1/accounts/{account_id}/api-keys: the account's keys (prefix only, never the secret), newest first."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends

from primecloud.api import AccountContext, Cursor, Limit, account_access, app_for
from primecloud.schemas.api_keys import ApiKeyOut
from primecloud.schemas.common import Page
from primecloud.services import api_keys

app = app_for(__name__)


@app.get("/v1/accounts/<account_id>/api-keys")
def list_api_keys(
    account_id: UUID,
    ctx: Annotated[AccountContext, Depends(account_access("admin", "account:read"))],
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[ApiKeyOut]:
    return api_keys.list_api_keys(ctx.session, ctx.account, limit=limit, cursor=cursor)


lambda_handler = app.handler
