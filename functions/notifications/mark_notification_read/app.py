"""POST /v1/me/notifications/{notification_id}/read: mark one of the caller's notifications read."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends

from primecloud import clock
from primecloud.api import UserContext, app_for, user_access
from primecloud.schemas.notifications import NotificationOut
from primecloud.services import notifications

app = app_for(__name__)


@app.post(
    "/v1/me/notifications/<notification_id>/read",
    responses={404: {"description": "No such notification of the caller"}},
)
def mark_notification_read(
    notification_id: UUID, ctx: Annotated[UserContext, Depends(user_access())]
) -> NotificationOut:
    return notifications.mark_read(ctx.session, ctx.principal, notification_id, clock.now())


lambda_handler = app.handler
