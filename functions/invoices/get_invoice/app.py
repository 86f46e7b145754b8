"""GET /v1/accounts/{account_id}/invoices/{invoice_id}: one invoice with its lines, amount paid and balance due."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends

from primecloud.api import AccountContext, account_access, app_for
from primecloud.schemas.invoices import InvoiceDetail
from primecloud.services.billing import invoices

app = app_for(__name__)


@app.get("/v1/accounts/<account_id>/invoices/<invoice_id>", responses={404: {"description": "No such invoice"}})
def get_invoice(
    account_id: UUID,
    invoice_id: UUID,
    ctx: Annotated[AccountContext, Depends(account_access("admin", "billing:read"))],
) -> InvoiceDetail:
    return invoices.get_invoice(ctx.session, ctx.account, invoice_id)


lambda_handler = app.handler
