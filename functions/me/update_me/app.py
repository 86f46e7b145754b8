"""PATCH /v1/me: change the caller's name, email or password (the latter two need the current one)."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Depends

from primecloud.api import UserContext, app_for, user_access
from primecloud.schemas.iam import MeUpdate, UserOut
from primecloud.services import users

app = app_for(__name__)


@app.patch("/v1/me", responses={409: {"description": "The email address belongs to another user"}})
def update_me(body: MeUpdate, ctx: Annotated[UserContext, Depends(user_access())]) -> UserOut:
    return users.update_me(ctx.session, ctx.actor, ctx.principal.session_id, body)


lambda_handler = app.handler
