"""The local SQS event source: batches reach the consumer as Lambda's event, failures stay queued."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3

from localrun.sqs_poller import Consumer, QueuePoller, consumers
from localrun.template import load_template
from tests.template_loader import TEMPLATE


class _RecordingRuntime:
    def __init__(self, fail_bodies: set[str]) -> None:
        self.events: list[dict[str, Any]] = []
        self.fail_bodies = fail_bodies

    def invoke(self, function_id: str, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        failures = [
            {"itemIdentifier": record["messageId"]} for record in event["Records"] if record["body"] in self.fail_bodies
        ]
        return {"batchItemFailures": failures}


def test_the_template_usage_worker_is_a_consumer() -> None:
    found = list(consumers(load_template(TEMPLATE)))
    assert Consumer("CollectUsageWorkerFunction", "UsageQueue", 10, True) in found


def test_a_batch_is_delivered_and_only_reported_failures_stay(aws_server: dict[str, str]) -> None:
    sqs = boto3.client("sqs", endpoint_url=aws_server["AWS_ENDPOINT_URL"])
    url = sqs.create_queue(QueueName=f"poller-{uuid.uuid4().hex[:8]}", Attributes={"VisibilityTimeout": "0"})[
        "QueueUrl"
    ]
    bodies = [json.dumps({"n": n}) for n in range(3)]
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    runtime = _RecordingRuntime(fail_bodies={bodies[1]})
    poller = QueuePoller(load_template(TEMPLATE), runtime, wait_seconds=0)  # type: ignore[arg-type]
    consumer = Consumer("CollectUsageWorkerFunction", "UsageQueue", 10, True)

    assert poller.drain_once(consumer, url, sqs) == 3

    (event,) = runtime.events
    assert sorted(record["body"] for record in event["Records"]) == sorted(bodies)
    assert {record["eventSource"] for record in event["Records"]} == {"aws:sqs"}
    assert all(record["eventSourceARN"].endswith(url.rsplit("/", 1)[-1]) for record in event["Records"])
    left = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert [message["Body"] for message in left] == [bodies[1]]
