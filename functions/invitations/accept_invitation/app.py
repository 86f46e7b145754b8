"""POST /v1/invitations/accept: the signed-in user joins the account an emailed token invites them to."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Depends

from primecloud.api import UserContext, app_for, user_access
from primecloud.schemas.invitations import InvitationAccept, InvitationAccepted
from primecloud.services import invitations

app = app_for(__name__)


@app.post(
    "/v1/invitations/accept",
    responses={
        404: {"description": "The token is unknown, expired, revoked or used"},
        409: {"description": "Already a member of the account"},
    },
)
def accept_invitation(
    body: InvitationAccept, ctx: Annotated[UserContext, Depends(user_access())]
) -> InvitationAccepted:
    return invitations.accept(ctx.session, ctx.actor, ctx.principal.user_id, body.token)


lambda_handler = app.handler
