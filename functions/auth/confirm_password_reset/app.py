"""POST /v1/auth/password-reset/confirm: set a new password with a reset token; every session ends."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Depends, Response

from primecloud.api import PublicContext, app_for, no_content, public_access
from primecloud.schemas.auth import PasswordResetConfirm
from primecloud.services import auth

app = app_for(__name__)


@app.post("/v1/auth/password-reset/confirm")
def confirm_password_reset(
    body: PasswordResetConfirm, ctx: Annotated[PublicContext, Depends(public_access)]
) -> Response[Any]:
    auth.confirm_password_reset(ctx.session, ctx.actor, body.token, body.new_password)
    return no_content()


lambda_handler = app.handler
