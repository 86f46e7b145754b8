"""POST /v1/accounts/{account_id}/sftp-users: an SFTP login in a bucket or a folder (password shown once)."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends, Response

from primecloud.adapters import registry
from primecloud.api import AccountContext, account_access, app_for, created
from primecloud.config import get_settings
from primecloud.schemas.sftp_users import SftpUserCreate, SftpUserCreated
from primecloud.services import sftp_users

app = app_for(__name__)


@app.post(
    "/v1/accounts/<account_id>/sftp-users",
    responses={
        404: {"description": "No such account, or bucket_id is not a bucket of the account"},
        409: {"description": "The account already has an SFTP user with this username"},
        503: {"description": "SftpGo or the storage backend failed; nothing was created"},
    },
)
def create_sftp_user(
    account_id: UUID,
    body: SftpUserCreate,
    ctx: Annotated[AccountContext, Depends(account_access("admin", "sftp:write"))],
) -> Response[SftpUserCreated]:
    backends = sftp_users.SftpBackends(
        registry.sftpgo, registry.tenant_credentials, get_settings().storage_endpoint_url
    )
    return created(sftp_users.create(ctx.session, ctx.actor, ctx.account, body, backends))


lambda_handler = app.handler
