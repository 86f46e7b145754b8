"""POST /v1/me/notifications/read-all: mark every unread notification of the caller read."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Depends

from primecloud import clock
from primecloud.api import UserContext, app_for, user_access
from primecloud.schemas.notifications import ReadAllResult
from primecloud.services import notifications

app = app_for(__name__)


@app.post("/v1/me/notifications/read-all")
def mark_all_notifications_read(ctx: Annotated[UserContext, Depends(user_access())]) -> ReadAllResult:
    return notifications.mark_all_read(ctx.session, ctx.principal, clock.now())


lambda_handler = app.handler
