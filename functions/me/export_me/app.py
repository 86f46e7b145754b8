"""GET /v1/me/export: everything stored about the caller, as one JSON document (GDPR)."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Depends

from primecloud.api import UserContext, app_for, user_access
from primecloud.schemas.iam import UserExport
from primecloud.services import users

app = app_for(__name__)


@app.get("/v1/me/export")
def export_me(ctx: Annotated[UserContext, Depends(user_access())]) -> UserExport:
    return users.export(ctx.session, ctx.actor)


lambda_handler = app.handler
