"""PATCH /v1/accounts/{account_id}/members/{user_id}: change a member's role (admin+; owners for owners)."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends

from primecloud.api import AccountContext, account_access, app_for
from primecloud.schemas.iam import MemberOut, MemberUpdate
from primecloud.services import members

app = app_for(__name__)


@app.patch(
    "/v1/accounts/<account_id>/members/<user_id>",
    responses={409: {"description": "The account's last owner can't be demoted"}},
)
def update_member(
    account_id: UUID,
    user_id: UUID,
    body: MemberUpdate,
    ctx: Annotated[AccountContext, Depends(account_access("admin", "members:write", allow_when_suspended=True))],
) -> MemberOut:
    return members.change_role(ctx.session, ctx.actor, ctx.account, ctx.role, user_id, new_role=body.role)


lambda_handler = app.handler
