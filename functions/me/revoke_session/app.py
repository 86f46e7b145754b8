"""DELETE /v1/me/sessions/{session_id}: sign out one of the caller's sessions."""

from typing import Annotated, Any
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends, Response

from primecloud.api import UserContext, app_for, no_content, user_access
from primecloud.services import auth

app = app_for(__name__)


@app.delete("/v1/me/sessions/<session_id>", responses={404: {"description": "No such session of the caller"}})
def revoke_session(session_id: UUID, ctx: Annotated[UserContext, Depends(user_access())]) -> Response[Any]:
    auth.revoke_session(ctx.session, ctx.actor, ctx.principal, session_id)
    return no_content()


lambda_handler = app.handler
