"""POST /v1/auth/login: tokens for an email and password (failures throttled: 429 + Retry-After)."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Depends

from primecloud.api import PublicContext, app_for, public_access
from primecloud.config import get_settings
from primecloud.schemas.auth import LoginOut, LoginRequest
from primecloud.services import auth

app = app_for(__name__)


@app.post(
    "/v1/auth/login",
    responses={
        401: {"description": "Wrong email or password (or the user cannot sign in)"},
        429: {"description": "Too many failed sign-ins; Retry-After tells when to try again"},
    },
)
def login(body: LoginRequest, ctx: Annotated[PublicContext, Depends(public_access)]) -> LoginOut:
    return auth.login(ctx.session, ctx.actor, body, get_settings())


lambda_handler = app.handler
