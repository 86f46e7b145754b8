"""GET /v1/accounts/{account_id}/access-keys: the account's S3 access keys (never their secrets), newest first."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends

from primecloud.api import AccountContext, Cursor, Limit, account_access, app_for
from primecloud.schemas.access_keys import AccessKeyOut
from primecloud.schemas.common import Page
from primecloud.services import access_keys

app = app_for(__name__)


@app.get("/v1/accounts/<account_id>/access-keys")
def list_access_keys(
    account_id: UUID,
    ctx: Annotated[AccountContext, Depends(account_access("admin", "access-keys:read"))],
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[AccessKeyOut]:
    return access_keys.list_access_keys(ctx.session, ctx.account, limit=limit, cursor=cursor)


lambda_handler = app.handler
