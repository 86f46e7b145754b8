"""GET /v1/accounts/{account_id}/favorites: my favorites in the account's buckets I can still read, newest first."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends

from primecloud.api import AccountContext, Cursor, Limit, account_access, app_for
from primecloud.schemas.common import Page
from primecloud.schemas.objects import FavoriteOut
from primecloud.services import favorites

app = app_for(__name__)


@app.get("/v1/accounts/<account_id>/favorites")
def list_favorites(
    account_id: UUID,
    ctx: Annotated[AccountContext, Depends(account_access("viewer", "objects:read"))],
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[FavoriteOut]:
    return favorites.list_mine(ctx.session, ctx.account, ctx.role, ctx.principal.user_id, limit=limit, cursor=cursor)


lambda_handler = app.handler
