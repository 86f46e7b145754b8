"""GET /v1/accounts/{account_id}/invoices/upcoming: this month's invoice so far and its month-end projection."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends

from primecloud import clock
from primecloud.api import AccountContext, account_access, app_for
from primecloud.schemas.billing import UpcomingInvoiceOut
from primecloud.services.billing import upcoming

app = app_for(__name__)


@app.get("/v1/accounts/<account_id>/invoices/upcoming")
def get_upcoming_invoice(
    account_id: UUID,
    ctx: Annotated[AccountContext, Depends(account_access("admin", "billing:read"))],
) -> UpcomingInvoiceOut:
    return upcoming.upcoming_invoice_out(ctx.session, ctx.account, now=clock.now())


lambda_handler = app.handler
