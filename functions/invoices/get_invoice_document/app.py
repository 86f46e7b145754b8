"""GET /v1/accounts/{account_id}/invoices/{invoice_id}/document: a five-minute download link to the PDF or CSV."""

from typing import Annotated, Literal
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query

from primecloud.adapters.documents import default_documents
from primecloud.api import AccountContext, account_access, app_for
from primecloud.config import get_settings
from primecloud.schemas.invoices import InvoiceDocumentLink
from primecloud.services.billing import invoices

app = app_for(__name__)


@app.get(
    "/v1/accounts/<account_id>/invoices/<invoice_id>/document",
    responses={404: {"description": "No such invoice"}, 409: {"description": "The invoice has no such document"}},
)
def get_invoice_document(
    account_id: UUID,
    invoice_id: UUID,
    ctx: Annotated[AccountContext, Depends(account_access("admin", "billing:read"))],
    format: Annotated[Literal["pdf", "csv"], Query(description="pdf (default) or csv")] = "pdf",
) -> InvoiceDocumentLink:
    return invoices.document_link(
        ctx.session,
        store=default_documents(),
        settings=get_settings(),
        account=ctx.account,
        invoice_id=invoice_id,
        document_format=format,
    )


lambda_handler = app.handler
