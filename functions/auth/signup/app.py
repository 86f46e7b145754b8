"""POST /v1/auth/signup: a new user, their first account (owner) and a session's tokens."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Depends, Response

from primecloud.api import PublicContext, app_for, created, public_access
from primecloud.config import get_settings
from primecloud.schemas.auth import SignupOut, SignupRequest
from primecloud.services import auth

app = app_for(__name__)


@app.post("/v1/auth/signup")
def signup(body: SignupRequest, ctx: Annotated[PublicContext, Depends(public_access)]) -> Response[SignupOut]:
    return created(auth.signup(ctx.session, ctx.actor, body, get_settings()))


lambda_handler = app.handler
