"""POST /v1/accounts: create another account; the caller becomes its owner."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Depends, Response

from primecloud.api import UserContext, app_for, created, user_access
from primecloud.config import get_settings
from primecloud.schemas.iam import AccountCreate, AccountDetails
from primecloud.services import accounts

app = app_for(__name__)


@app.post("/v1/accounts")
def create_account(
    body: AccountCreate, ctx: Annotated[UserContext, Depends(user_access())]
) -> Response[AccountDetails]:
    return created(accounts.create(ctx.session, ctx.actor, body, get_settings()))


lambda_handler = app.handler
