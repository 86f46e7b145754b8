"""SQS worker of PasswordResetQueue: look the address up and mail a reset link (off the request path).

The public route only throttles and queues, so known and unknown addresses cost it the same. Here an
unknown or inactive address is dropped; a known one gets a token row, an audit entry and the mail, in one
transaction. A mail or database outage fails the message (SQS redelivers it; after 5 receives it goes to
PasswordResetDLQ). A malformed message fails too (the DLQ keeps it for inspection). Addresses are never
logged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from primecloud.observability import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

processor = BatchProcessor(event_type=EventType.SQS)


class ResetRequest(BaseModel):
    email: str = Field(max_length=320)
    ip: str | None = Field(None, max_length=64)
    user_agent: str | None = Field(None, max_length=1024)
    request_id: str | None = Field(None, max_length=128)


def record_handler(record: SQSRecord) -> None:
    from primecloud.actor import Actor
    from primecloud.adapters.email import default_mailer
    from primecloud.config import get_settings
    from primecloud.db import unit_of_work
    from primecloud.services import auth

    request = ResetRequest.model_validate_json(record.body)
    actor = Actor(ip=request.ip, user_agent=request.user_agent, request_id=request.request_id)
    with unit_of_work() as session:
        mailed = auth.send_password_reset(session, default_mailer(), actor, request.email, get_settings())
    logger.info("password reset handled", extra={"mailed": mailed, "request_id": request.request_id})


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
