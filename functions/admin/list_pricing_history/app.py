"""GET /v1/admin/pricing/history: every price change (who, when, old and new), newest first."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query

from primecloud.api import Cursor, Limit, UserContext, app_for, platform_admin_access
from primecloud.schemas.common import Page
from primecloud.schemas.pricing import PricingHistoryOut
from primecloud.services.billing import pricing

app = app_for(__name__)


@app.get("/v1/admin/pricing/history")
def list_pricing_history(
    ctx: Annotated[UserContext, Depends(platform_admin_access)],
    limit: Limit = 50,
    cursor: Cursor = None,
    metric: Annotated[str | None, Query(max_length=32, description="Only this metric")] = None,
) -> Page[PricingHistoryOut]:
    return pricing.history(ctx.session, limit=limit, cursor=cursor, metric=metric)


lambda_handler = app.handler
