"""POST /v1/accounts/{account_id}/subscriptions/{subscription_id}/cancel: end it when the current period ends."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends

from primecloud.api import AccountContext, account_access, app_for
from primecloud.schemas.orders import SubscriptionOut
from primecloud.services.billing import orders

app = app_for(__name__)


# Allowed while suspended: stopping a charge is never something to hold back.
@app.post(
    "/v1/accounts/<account_id>/subscriptions/<subscription_id>/cancel",
    responses={404: {"description": "No such subscription"}, 409: {"description": "Already cancelled"}},
)
def cancel_subscription(
    account_id: UUID,
    subscription_id: UUID,
    ctx: Annotated[AccountContext, Depends(account_access("admin", "billing:write", allow_when_suspended=True))],
) -> SubscriptionOut:
    return orders.cancel_subscription(ctx.session, ctx.actor, ctx.account, subscription_id)


lambda_handler = app.handler
