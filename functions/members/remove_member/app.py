"""DELETE /v1/accounts/{account_id}/members/{user_id}: remove a member (admin+), or leave (anyone)."""

from typing import Annotated, Any
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends, Response

from primecloud.api import AccountContext, account_access, app_for, no_content
from primecloud.services import members

app = app_for(__name__)


# viewer: every member may remove themselves; the service asks admin+ for anyone else.
@app.delete(
    "/v1/accounts/<account_id>/members/<user_id>",
    responses={409: {"description": "The account's last owner can't be removed"}},
)
def remove_member(
    account_id: UUID,
    user_id: UUID,
    ctx: Annotated[AccountContext, Depends(account_access("viewer", "members:write", allow_when_suspended=True))],
) -> Response[Any]:  # Response[None] would serialize the empty body as 'null'
    members.remove(ctx.session, ctx.actor, ctx.account, ctx.role, user_id)
    return no_content()


lambda_handler = app.handler
