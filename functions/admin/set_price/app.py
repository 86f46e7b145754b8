"""PUT /v1/admin/pricing/{metric}: platform staff add a price version (never an edit in place)."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Depends, Response

from primecloud import clock
from primecloud.api import UserContext, app_for, created, platform_admin_access
from primecloud.schemas.pricing import PriceVersionIn, PriceVersionOut
from primecloud.services.billing import pricing

app = app_for(__name__)


@app.put(
    "/v1/admin/pricing/<metric>",
    responses={
        404: {"description": "No such metric"},
        409: {"description": "A version taking effect at or after effective_from exists"},
    },
)
def set_price(
    metric: str,
    body: PriceVersionIn,
    ctx: Annotated[UserContext, Depends(platform_admin_access)],
) -> Response[PriceVersionOut]:
    return created(pricing.create_version(ctx.session, ctx.actor, metric, body, now=clock.now()))


lambda_handler = app.handler
