"""DELETE /v1/me: delete the caller's user now (anonymized at once, purged later)."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Depends, Response

from primecloud.api import UserContext, accepted, app_for, user_access
from primecloud.schemas.iam import UserDeletion
from primecloud.services import users

app = app_for(__name__)


@app.delete(
    "/v1/me",
    responses={409: {"description": "The caller is the only owner of an account that has other members"}},
)
def delete_me(ctx: Annotated[UserContext, Depends(user_access())]) -> Response[UserDeletion]:
    return accepted(users.delete_me(ctx.session, ctx.actor))


lambda_handler = app.handler
