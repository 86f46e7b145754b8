"""GET /v1/accounts/{account_id}/orders: the account's orders with their invoices, newest first."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends

from primecloud.api import AccountContext, Cursor, Limit, account_access, app_for
from primecloud.schemas.common import Page
from primecloud.schemas.orders import OrderOut
from primecloud.services.billing import orders

app = app_for(__name__)


@app.get("/v1/accounts/<account_id>/orders")
def list_orders(
    account_id: UUID,
    ctx: Annotated[AccountContext, Depends(account_access("admin", "billing:read"))],
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[OrderOut]:
    return orders.list_orders(ctx.session, ctx.account, limit=limit, cursor=cursor)


lambda_handler = app.handler
