"""POST /v1/accounts/{account_id}/orders: order a VPS plan; its first-month invoice is issued at once."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends, Response

from primecloud import clock
from primecloud.adapters.documents import default_documents
from primecloud.adapters.email import default_mailer
from primecloud.api import AccountContext, account_access, app_for, created
from primecloud.config import get_settings
from primecloud.schemas.orders import OrderCreate, OrderOut
from primecloud.services.billing import orders

app = app_for(__name__, idempotent=True)


@app.post(
    "/v1/accounts/<account_id>/orders",
    responses={
        422: {"description": "Not an active plan, or priced in another currency than the account's"},
        503: {"description": "The invoice document could not be stored"},
    },
)
def create_order(
    account_id: UUID,
    body: OrderCreate,
    ctx: Annotated[AccountContext, Depends(account_access("admin", "billing:write"))],
) -> Response[OrderOut]:
    return created(
        orders.create_order(
            ctx.session,
            ctx.actor,
            ctx.account,
            body,
            now=clock.now(),
            storage=default_documents(),
            mailer=default_mailer(),
            settings=get_settings(),
        )
    )


lambda_handler = app.handler
