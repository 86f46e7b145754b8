"""POST /v1/auth/logout: revoke the caller's own session."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Depends, Response

from primecloud.api import UserContext, app_for, no_content, user_access
from primecloud.services import auth

app = app_for(__name__)


@app.post("/v1/auth/logout")
def logout(ctx: Annotated[UserContext, Depends(user_access())]) -> Response[Any]:
    auth.logout(ctx.session, ctx.actor, ctx.principal)
    return no_content()


lambda_handler = app.handler
