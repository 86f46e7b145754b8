"""POST /v1/auth/refresh: rotate a session's tokens (a replayed refresh token revokes the session)."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Depends

from primecloud.api import PublicContext, app_for, public_access
from primecloud.config import get_settings
from primecloud.schemas.auth import RefreshRequest, TokensOut
from primecloud.services import auth

app = app_for(__name__)


@app.post("/v1/auth/refresh", responses={401: {"description": "The refresh token is unknown, expired or revoked"}})
def refresh(body: RefreshRequest, ctx: Annotated[PublicContext, Depends(public_access)]) -> TokensOut:
    return auth.refresh(ctx.session, ctx.actor, body.refresh_token, get_settings())


lambda_handler = app.handler
