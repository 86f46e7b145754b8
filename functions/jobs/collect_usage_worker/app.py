"""SQS worker of collect_usage: one message = a batch of accounts for one hour (and the run it belongs to).

Each account is collected in its own transaction (primecloud.services.metering); the message's
counts and failures go to the run's job_runs row. A message is reported as a batch item failure
(SQS redelivers it; after 5 receives it goes to the DLQ) only when retrying could help: an
account failed because a dependency was unavailable, or the database was. Redelivery is
harmless: rows already stored are skipped. A malformed message also fails (nothing to record it
against; the DLQ keeps it for inspection).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AwareDatetime, BaseModel, Field

from primecloud.observability import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

processor = BatchProcessor(event_type=EventType.SQS)
MAX_ACCOUNTS_PER_MESSAGE = 100


class UsageBatch(BaseModel):
    account_ids: list[UUID] = Field(max_length=MAX_ACCOUNTS_PER_MESSAGE)
    period_start: AwareDatetime
    run_id: UUID | None = None  # the dispatcher's job_runs row


class RetryLater(Exception):
    """Some accounts failed for a reason a later delivery may not meet."""


def record_handler(record: SQSRecord) -> None:
    from primecloud.adapters import registry
    from primecloud.config import get_settings
    from primecloud.db import unit_of_work
    from primecloud.services import metering

    batch = UsageBatch.model_validate_json(record.body)
    report = metering.collect_usage(
        batch.account_ids,
        batch.period_start,
        credentials=registry.tenant_credentials(),
        storage=registry.storage(),
        sftpgo=registry.sftpgo,
        sessions=unit_of_work,
        listing_fallback=get_settings().usage_listing_fallback,
    )
    with unit_of_work() as session:
        metering.record_run(session, batch.run_id, report, attempt=int(record.attributes.approximate_receive_count))
    logger.info(
        "usage batch collected",
        extra={
            "run_id": str(batch.run_id),
            "accounts": report.accounts_collected,
            "failed": len(report.failures),
            "rows_inserted": report.rows_inserted,
            "rows_skipped": report.rows_skipped,
        },
    )
    if report.retry:
        raise RetryLater(f"{sum(f.retryable for f in report.failures)} account(s) failed for a transient reason")


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    from primecloud.db import system_scope_throughout

    with system_scope_throughout("job collect_usage: worker"):  # it measures many tenants' buckets
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
