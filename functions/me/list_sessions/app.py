"""GET /v1/me/sessions: the caller's live sign-in sessions."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Depends

from primecloud.api import Cursor, Limit, UserContext, app_for, user_access
from primecloud.schemas.auth import SessionOut
from primecloud.schemas.common import Page
from primecloud.services import auth

app = app_for(__name__)


@app.get("/v1/me/sessions")
def list_sessions(
    ctx: Annotated[UserContext, Depends(user_access())], limit: Limit = 50, cursor: Cursor = None
) -> Page[SessionOut]:
    return auth.list_sessions(ctx.session, ctx.principal, limit=limit, cursor=cursor)


lambda_handler = app.handler
