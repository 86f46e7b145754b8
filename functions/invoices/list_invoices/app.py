"""GET /v1/accounts/{account_id}/invoices: the account's issued invoices, newest first, optionally of one status."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query

from primecloud.api import AccountContext, Cursor, Limit, account_access, app_for
from primecloud.enums import InvoiceStatus
from primecloud.schemas.common import Page
from primecloud.schemas.invoices import InvoiceSummary
from primecloud.services.billing import invoices

app = app_for(__name__)


@app.get("/v1/accounts/<account_id>/invoices")
def list_invoices(
    account_id: UUID,
    ctx: Annotated[AccountContext, Depends(account_access("admin", "billing:read"))],
    status: Annotated[InvoiceStatus | None, Query(description="Only invoices in this status")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[InvoiceSummary]:
    return invoices.list_invoices(ctx.session, ctx.account, status=status, limit=limit, cursor=cursor)


lambda_handler = app.handler
