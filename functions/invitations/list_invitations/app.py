"""GET /v1/accounts/{account_id}/invitations: the account's invitations with their status, newest first."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends

from primecloud.api import AccountContext, Cursor, Limit, account_access, app_for
from primecloud.schemas.common import Page
from primecloud.schemas.invitations import InvitationOut
from primecloud.services import invitations

app = app_for(__name__)


@app.get("/v1/accounts/<account_id>/invitations")
def list_invitations(
    account_id: UUID,
    ctx: Annotated[AccountContext, Depends(account_access("admin", "members:read"))],
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[InvitationOut]:
    return invitations.list_invitations(ctx.session, ctx.account, limit=limit, cursor=cursor)


lambda_handler = app.handler
