"""POST /v1/auth/password-reset: queue a reset mail; always 202 (no user oracle)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Depends, Response

from primecloud.adapters import registry
from primecloud.api import PublicContext, accepted, app_for, public_access
from primecloud.schemas.auth import PasswordResetAccepted, PasswordResetRequest
from primecloud.services import auth

app = app_for(__name__)


@app.post("/v1/auth/password-reset")
def request_password_reset(
    body: PasswordResetRequest, ctx: Annotated[PublicContext, Depends(public_access)]
) -> Response[Any]:
    auth.request_password_reset(ctx.session, registry.password_reset_queue(), ctx.actor, body.email)
    return accepted(PasswordResetAccepted())


lambda_handler = app.handler
