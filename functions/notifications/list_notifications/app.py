"""GET /v1/me/notifications: the caller's notifications, newest first (?unread=true: only unread ones)."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query

from primecloud.api import Cursor, Limit, UserContext, app_for, user_access
from primecloud.schemas.common import Page
from primecloud.schemas.notifications import NotificationOut
from primecloud.services import notifications

app = app_for(__name__)

Unread = Annotated[bool | None, Query(description="true: only unread; false: only read; absent: all")]


@app.get("/v1/me/notifications")
def list_notifications(
    ctx: Annotated[UserContext, Depends(user_access())],
    unread: Unread = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[NotificationOut]:
    return notifications.list_mine(ctx.session, ctx.principal, unread=unread, limit=limit, cursor=cursor)


lambda_handler = app.handler
