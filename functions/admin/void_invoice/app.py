"""POST /v1/admin/invoices/{invoice_id}/void: staff void an open or overdue invoice nothing was paid on."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends

from primecloud import clock
from primecloud.adapters import registry
from primecloud.api import UserContext, app_for, platform_admin_access
from primecloud.config import get_settings
from primecloud.schemas.invoices import InvoiceSummary
from primecloud.services.billing import payments

app = app_for(__name__)


@app.post(
    "/v1/admin/invoices/<invoice_id>/void",
    responses={
        404: {"description": "No such invoice (or it is not issued)"},
        409: {"description": "The invoice is paid, partially paid or already void"},
    },
)
def void_invoice(invoice_id: UUID, ctx: Annotated[UserContext, Depends(platform_admin_access)]) -> InvoiceSummary:
    return payments.void(
        ctx.session,
        ctx.actor,
        invoice_id,
        now=clock.now(),
        credentials=registry.tenant_credentials,
        sftpgo=registry.sftpgo,
        settings=get_settings(),
    )


lambda_handler = app.handler
