"""GET /v1/accounts/{account_id}/members: who belongs to the account, with their roles."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends

from primecloud.api import AccountContext, Cursor, Limit, account_access, app_for
from primecloud.schemas.common import Page
from primecloud.schemas.iam import MemberOut
from primecloud.services import members

app = app_for(__name__)


@app.get("/v1/accounts/<account_id>/members")
def list_members(
    account_id: UUID,
    ctx: Annotated[AccountContext, Depends(account_access("viewer", "members:read"))],
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[MemberOut]:
    return members.list_members(ctx.session, ctx.account.id, limit=limit, cursor=cursor)


lambda_handler = app.handler
