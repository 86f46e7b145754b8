"""Local stand-in for Lambda's SQS event source mapping: poll a (moto) queue, invoke the consumer.

For every function of the template with an ``SQS`` event whose queue the local environment
knows (``QUEUE_URL_VARIABLES``), a thread receives up to BatchSize messages, invokes the function
with the event Lambda would send, and deletes what succeeded; with ReportBatchItemFailures the
reported failures stay in the queue and come back after the visibility timeout, as in AWS.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from localrun.invoke import LocalLambda
from localrun.template import Template

logger = logging.getLogger("localrun.sqs")

# Template queue (logical id) -> the environment variable holding its local URL.
QUEUE_URL_VARIABLES = {"UsageQueue": "USAGE_QUEUE_URL", "PasswordResetQueue": "PASSWORD_RESET_QUEUE_URL"}


@dataclass(frozen=True)
class Consumer:
    function_id: str
    queue_id: str
    batch_size: int
    reports_failures: bool


def consumers(template: Template) -> Iterator[Consumer]:
    for function_id, spec in template.functions.items():
        for event in spec.events.values():
            if event.get("Type") != "SQS":
                continue
            properties = event.get("Properties") or {}
            queue = properties.get("Queue")
            if isinstance(queue, dict) and "Fn::GetAtt" in queue:
                queue_id = queue["Fn::GetAtt"][0] if isinstance(queue["Fn::GetAtt"], list) else queue["Fn::GetAtt"]
                queue_id = str(queue_id).split(".")[0]
                yield Consumer(
                    function_id=function_id,
                    queue_id=queue_id,
                    batch_size=int(properties.get("BatchSize", 10)),
                    reports_failures="ReportBatchItemFailures" in (properties.get("FunctionResponseTypes") or []),
                )


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS poller sends for ``messages`` (from ReceiveMessage)."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": message.get("MessageAttributes", {}),
                "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }


class QueuePoller:
    """One thread per consumer; ``stop()`` ends them within a second."""

    def __init__(self, template: Template, runtime: LocalLambda, *, wait_seconds: int = 1) -> None:
        self.template = template
        self.runtime = runtime
        self.wait_seconds = wait_seconds
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> list[Consumer]:
        started = []
        for consumer in consumers(self.template):
            url = os.environ.get(QUEUE_URL_VARIABLES.get(consumer.queue_id, ""), "")
            if not url:
                continue
            thread = threading.Thread(target=self._poll, args=(consumer, url), daemon=True, name=consumer.function_id)
            thread.start()
            self._threads.append(thread)
            started.append(consumer)
        return started

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def drain_once(self, consumer: Consumer, url: str, client: Any = None) -> int:
        """Receive one batch and hand it to the function; the number of messages it held."""
        import boto3

        sqs = client or boto3.client("sqs", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))
        received = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(consumer.batch_size, 10),
            WaitTimeSeconds=self.wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            return 0
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        region = sqs.meta.region_name
        try:
            result = self.runtime.invoke(consumer.function_id, sqs_event(received, arn, region))
        except Exception:
            logger.exception("%s failed: the batch returns to the queue", consumer.function_id)
            return len(received)
        failed = set()
        if consumer.reports_failures and isinstance(result, dict):
            failed = {item["itemIdentifier"] for item in result.get("batchItemFailures", [])}
        done = [message for message in received if message["MessageId"] not in failed]
        for message in done:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        logger.info("%s: %d messages, %d failed", consumer.function_id, len(received), len(failed))
        return len(received)

    def _poll(self, consumer: Consumer, url: str) -> None:
        import boto3

        sqs = boto3.client("sqs", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))
        while not self._stop.is_set():
            try:
                self.drain_once(consumer, url, sqs)
            except Exception:
                logger.exception("polling %s failed", consumer.queue_id)
                self._stop.wait(2)
