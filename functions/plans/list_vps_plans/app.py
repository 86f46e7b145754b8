"""GET /v1/vps-plans: the VPS plans that can be ordered, cheapest first (public, like pricing)."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Depends

from primecloud.api import PublicContext, app_for, public_access
from primecloud.schemas.orders import VpsPlanList
from primecloud.services.billing import orders

app = app_for(__name__)


@app.get("/v1/vps-plans")
def list_vps_plans(ctx: Annotated[PublicContext, Depends(public_access)]) -> VpsPlanList:
    return orders.list_plans(ctx.session)


lambda_handler = app.handler
