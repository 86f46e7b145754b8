"""POST /v1/admin/accounts/{account_id}/suspend: platform staff suspend an active account and its credentials."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends

from primecloud.adapters import registry
from primecloud.api import UserContext, app_for, platform_admin_access
from primecloud.schemas.iam import AccountOut, StatusChange
from primecloud.services import suspension

app = app_for(__name__)


@app.post(
    "/v1/admin/accounts/<account_id>/suspend",
    responses={
        404: {"description": "No such account (or it is closed)"},
        409: {"description": "The account is not active"},
        503: {"description": "The storage backend or SftpGo failed; the account stays active"},
    },
)
def suspend_account(
    account_id: UUID,
    ctx: Annotated[UserContext, Depends(platform_admin_access)],
    body: StatusChange = StatusChange(),  # optional; not "| None", which lets Powertools turn [null] into None
) -> AccountOut:
    return suspension.suspend_by_staff(
        ctx.session,
        ctx.actor,
        account_id,
        body.reason,
        credentials=registry.tenant_credentials,
        sftpgo=registry.sftpgo,
    )


lambda_handler = app.handler
