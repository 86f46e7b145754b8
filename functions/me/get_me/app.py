"""GET /v1/me: the caller's own profile."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Depends

from primecloud.api import UserContext, app_for, user_access
from primecloud.schemas.iam import UserOut
from primecloud.services import users

app = app_for(__name__)


@app.get("/v1/me")
def get_me(ctx: Annotated[UserContext, Depends(user_access())]) -> UserOut:
    return users.get_me(ctx.session, ctx.principal.user_id)


lambda_handler = app.handler
