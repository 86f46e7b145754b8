"""SQS: send JSON messages in batches of ten (boto3 loaded on first use)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from primecloud.errors import Unavailable


class MessageQueue(Protocol):
    def send_all(self, messages: Sequence[dict[str, Any]]) -> int: ...


class Queue:
    def __init__(self, queue_url: str, client: Any = None) -> None:
        self.queue_url = queue_url
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            from primecloud.config import get_settings

            timeout = get_settings().outbound_timeout_seconds
            self._client = boto3.client(
                "sqs",
                config=Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 3}),
            )
        return self._client

    def send_all(self, messages: Sequence[dict[str, Any]]) -> int:
        """Send every message; raise Unavailable when SQS refuses any of them."""
        sent = 0
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            response = self.client.send_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(index), "MessageBody": json.dumps(body)} for index, body in enumerate(chunk)],
            )
            if response.get("Failed"):
                raise Unavailable(f"SQS refused {len(response['Failed'])} message(s)")
            sent += len(chunk)
        return sent
