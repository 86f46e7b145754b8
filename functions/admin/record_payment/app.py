"""POST /v1/admin/invoices/{invoice_id}/payments: staff record a payment (once per gateway reference)."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends, Response

from primecloud import clock
from primecloud.adapters import registry
from primecloud.adapters.email import default_mailer
from primecloud.api import UserContext, app_for, created, platform_admin_access
from primecloud.config import get_settings
from primecloud.schemas.invoices import PaymentCreate, PaymentRecorded
from primecloud.services.billing import payments

app = app_for(__name__, idempotent=True)


@app.post(
    "/v1/admin/invoices/<invoice_id>/payments",
    responses={
        200: {"description": "This reference was recorded before: the existing payment, nothing changed"},
        404: {"description": "No such invoice (or it is not issued)"},
        409: {"description": "The invoice is paid or void, or the reference belongs to another payment"},
        422: {"description": "Wrong currency, too many decimals, or more than the balance due"},
    },
)
def record_payment(
    invoice_id: UUID,
    body: PaymentCreate,
    ctx: Annotated[UserContext, Depends(platform_admin_access)],
) -> Response[PaymentRecorded]:
    result, new = payments.record_payment(
        ctx.session,
        ctx.actor,
        invoice_id,
        body,
        now=clock.now(),
        mailer=default_mailer(),
        credentials=registry.tenant_credentials,
        sftpgo=registry.sftpgo,
        settings=get_settings(),
    )
    if new:
        return created(result)
    return Response(status_code=200, content_type="application/json", body=result)


lambda_handler = app.handler
