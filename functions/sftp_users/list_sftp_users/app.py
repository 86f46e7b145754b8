"""GET /v1/accounts/{account_id}/sftp-users: the account's SFTP users, newest first."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends

from primecloud.api import AccountContext, Cursor, Limit, account_access, app_for
from primecloud.schemas.common import Page
from primecloud.schemas.sftp_users import SftpUserOut
from primecloud.services import sftp_users

app = app_for(__name__)


@app.get("/v1/accounts/<account_id>/sftp-users")
def list_sftp_users(
    account_id: UUID,
    ctx: Annotated[AccountContext, Depends(account_access("admin", "sftp:read"))],
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[SftpUserOut]:
    return sftp_users.list_sftp_users(ctx.session, ctx.account, limit=limit, cursor=cursor)


lambda_handler = app.handler
