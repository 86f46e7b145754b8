"""GET /v1/accounts/{account_id}/usage: the account's metered usage per hour, day or month."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query

from primecloud import clock
from primecloud.api import AccountContext, IsoDateTime, account_access, app_for
from primecloud.schemas.usage import Granularity, UsageReport
from primecloud.services import usage

app = app_for(__name__)


@app.get(
    "/v1/accounts/<account_id>/usage",
    responses={422: {"description": "Unknown metric, `from` not before `to`, or a range too long for the granularity"}},
)
def get_usage(
    account_id: UUID,
    *,
    ctx: Annotated[AccountContext, Depends(account_access("viewer", "usage:read"))],
    start: Annotated[
        IsoDateTime | None,
        Query(alias="from", description="Start (ISO 8601; UTC when no offset); default: start of this month"),
    ] = None,
    end: Annotated[
        IsoDateTime | None,
        Query(alias="to", description="End, exclusive (ISO 8601; UTC when no offset); default: end of this hour"),
    ] = None,
    metric: Annotated[
        str | None,
        Query(max_length=200, description="Comma-separated metrics (storage_bytes, egress_bytes, ...); default all"),
    ] = None,
    granularity: Annotated[
        Granularity, Query(description="hour (up to 31 days), day (up to 366 days) or month (up to 36 months)")
    ] = "day",
) -> UsageReport:
    """Stored amounts are time-weighted averages (plus the last value), traffic and requests are sums."""
    return usage.report(
        ctx.session, ctx.account, start=start, end=end, granularity=granularity, metric=metric, now=clock.now()
    )


lambda_handler = app.handler
