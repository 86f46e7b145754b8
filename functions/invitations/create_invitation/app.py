"""POST /v1/accounts/{account_id}/invitations: invite an email address (the token goes out by email)."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends, Response

from primecloud.adapters.email import default_mailer
from primecloud.api import AccountContext, account_access, app_for, created
from primecloud.config import get_settings
from primecloud.schemas.invitations import InvitationCreate, InvitationOut
from primecloud.services import invitations

app = app_for(__name__)


@app.post("/v1/accounts/<account_id>/invitations")
def create_invitation(
    account_id: UUID,
    body: InvitationCreate,
    ctx: Annotated[AccountContext, Depends(account_access("admin", "members:write"))],
) -> Response[InvitationOut]:
    return created(
        invitations.create(
            ctx.session,
            default_mailer(),
            ctx.actor,
            ctx.account,
            body,
            inviter_role=ctx.role,
            settings=get_settings(),
        )
    )


lambda_handler = app.handler
