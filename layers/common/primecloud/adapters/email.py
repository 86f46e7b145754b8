"""Outgoing mail through SES (boto3 loaded on first use). Bodies are never logged."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from primecloud.errors import Unavailable
from primecloud.observability import logger


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str


class Mailer(Protocol):
    def send(self, email: Email) -> None: ...


class SesMailer:
    def __init__(self, sender: str, client: Any = None) -> None:
        self.sender = sender
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            from primecloud.config import get_settings

            timeout = get_settings().outbound_timeout_seconds
            self._client = boto3.client(
                "ses", config=Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 2})
            )
        return self._client

    def send(self, email: Email) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.send_email(
                Source=self.sender,
                Destination={"ToAddresses": [email.to]},
                Message={
                    "Subject": {"Data": email.subject, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": email.text, "Charset": "UTF-8"}},
                },
            )
        except (BotoCoreError, ClientError) as exc:
            logger.warning("email not sent", extra={"error": type(exc).__name__, "subject": email.subject})
            raise Unavailable("The mail service is unavailable.") from exc


@lru_cache(maxsize=1)
def default_mailer() -> Mailer:
    from primecloud.config import get_settings

    return SesMailer(get_settings().sender_email)
