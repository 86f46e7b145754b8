"""SQS worker of collect_usage: one message = a batch of accounts for one hour.

Partial batch failures are reported (Powertools BatchProcessor), so one bad message never
makes the others retry. The per-account collection lands with the Metering and billing issue.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from primecloud.observability import logger

processor = BatchProcessor(event_type=EventType.SQS)


class UsageBatch(BaseModel):
    account_ids: list[UUID]
    period_start: datetime


def record_handler(record: SQSRecord) -> None:
    batch = UsageBatch.model_validate_json(record.body)
    logger.info("usage batch received", extra={"accounts": len(batch.account_ids), "period": str(batch.period_start)})


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
