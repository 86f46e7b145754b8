"""POST /v1/auth/signup: a new user, their first account (owner) and a session's tokens."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Depends, Response

from primecloud.api import PublicContext, app_for, created, public_access
from primecloud.config import get_settings
from primecloud.schemas.auth import SignupOut, SignupRequest
from primecloud.services import auth

app = app_for(__name__)


@app.post(
    "/v1/auth/signup",
    responses={
        403: {"description": "The invitation was sent to another email address"},
        404: {"description": "The invitation token is unknown, expired, revoked or used"},
        409: {"description": "The email is taken (or the invitee is already a member)"},
    },
)
def signup(body: SignupRequest, ctx: Annotated[PublicContext, Depends(public_access)]) -> Response[SignupOut]:
    return created(auth.signup(ctx.session, ctx.actor, body, get_settings()))


lambda_handler = app.handler
