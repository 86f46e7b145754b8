"""DELETE /v1/accounts/{account_id}/invitations/{invitation_id}: withdraw a pending invitation."""

from typing import Annotated, Any
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends, Response

from primecloud.api import AccountContext, account_access, app_for, no_content
from primecloud.services import invitations

app = app_for(__name__)


@app.delete("/v1/accounts/<account_id>/invitations/<invitation_id>")
def revoke_invitation(
    account_id: UUID,
    invitation_id: UUID,
    ctx: Annotated[AccountContext, Depends(account_access("admin", "members:write"))],
) -> Response[Any]:
    invitations.revoke(ctx.session, ctx.actor, ctx.account, invitation_id)
    return no_content()


lambda_handler = app.handler
