"""DELETE /v1/accounts/{account_id}/sftp-users/{sftp_user_id}: remove the login and its bucket credential."""

from typing import Annotated, Any
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends, Response

from primecloud.adapters import registry
from primecloud.api import AccountContext, account_access, app_for, no_content
from primecloud.config import get_settings
from primecloud.services import sftp_users

app = app_for(__name__)


# Allowed on a suspended account: removing a login only ever reduces access.
@app.delete(
    "/v1/accounts/<account_id>/sftp-users/<sftp_user_id>",
    responses={503: {"description": "SftpGo or the storage backend failed; the user is kept"}},
)
def delete_sftp_user(
    account_id: UUID,
    sftp_user_id: UUID,
    ctx: Annotated[AccountContext, Depends(account_access("admin", "sftp:write", allow_when_suspended=True))],
) -> Response[Any]:
    backends = sftp_users.SftpBackends(
        registry.sftpgo, registry.tenant_credentials, get_settings().storage_endpoint_url
    )
    sftp_users.delete(ctx.session, ctx.actor, ctx.account, sftp_user_id, backends)
    return no_content()


lambda_handler = app.handler
