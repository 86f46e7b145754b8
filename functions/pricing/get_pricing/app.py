"""GET /v1/pricing: the prices in force now per metric, with the versions already scheduled."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query

from primecloud import clock
from primecloud.api import PublicContext, app_for, public_access
from primecloud.schemas.pricing import PriceList
from primecloud.services.billing import pricing

app = app_for(__name__)


@app.get("/v1/pricing")
def get_pricing(
    ctx: Annotated[PublicContext, Depends(public_access)],
    currency: Annotated[str | None, Query(pattern=r"^[A-Z]{3}$", description="Only this currency")] = None,
) -> PriceList:
    return pricing.price_list(ctx.session, now=clock.now(), currency=currency)


lambda_handler = app.handler
