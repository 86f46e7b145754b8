"""A pytest plugin: every log line of the whole test session is kept and searched for secrets.

While the suite runs, each record any logger emits (formatted as Powertools writes it to
CloudWatch, extra keys included) is captured, and every secret the HTTP tests send or receive
is remembered: passwords in request bodies, bearer tokens, access/refresh/reset/share tokens,
API keys and S3 secret keys in responses. ``test_logs_of_the_whole_session_hold_no_secret``
(tests/e2e/test_zz_session_log_scan.py) is moved to the very end of the run and fails naming the
kind of secret (never the secret) and the logger that wrote it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

import pytest

SCAN_TEST = "test_logs_of_the_whole_session_hold_no_secret"
# JSON keys whose string values are secrets, wherever they appear in a request or response body.
_SECRET_KEYS = re.compile(
    r"(^|_)(password|token|secret|secret_access_key|refresh_token|access_token|api_key|key)$", re.IGNORECASE
)
_NOT_SECRET_KEYS = {"key", "object_key", "tag_key", "access_key_id", "prefix", "metric"}
_MIN_LENGTH = 8  # shorter values would match by chance (and are not what we hand out)


@dataclass
class SessionLogs:
    lines: list[tuple[str, str]] = field(default_factory=list)  # (logger name, formatted line)
    secrets: dict[str, str] = field(default_factory=dict)  # secret -> its kind

    def remember(self, value: Any, kind: str) -> None:
        if isinstance(value, str) and len(value) >= _MIN_LENGTH:
            self.secrets.setdefault(value, kind)

    def remember_body(self, body: Any, origin: str) -> None:
        if isinstance(body, dict):
            for name, value in body.items():
                if _SECRET_KEYS.search(name) and name not in _NOT_SECRET_KEYS:
                    self.remember(value, f"{origin} field {name!r}")
                self.remember_body(value, origin)
        elif isinstance(body, list):
            for item in body:
                self.remember_body(item, origin)


SESSION_LOGS = SessionLogs()


def find_leaks(logs: SessionLogs) -> list[str]:
    """What leaked where, naming the kind of secret and the logger, never the secret itself."""
    return sorted(
        {
            f"{kind} in a log line of {logger_name}"
            for logger_name, line in logs.lines
            for secret, kind in logs.secrets.items()
            if secret in line
        }
    )


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        from primecloud.observability import logger

        self.setFormatter(logger.registered_formatter)

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("moto", "werkzeug")):
            return  # the fake AWS's own logs: in production that side is AWS, not us
        try:
            line = self.format(record)
        except Exception:  # a record the JSON formatter can't render is still scanned as text
            line = record.getMessage()
        if record.exc_info:
            line += "\n" + logging.Formatter().formatException(record.exc_info)
        SESSION_LOGS.lines.append((record.name, line))


def _wrap_api_client() -> None:
    from tests.conftest import ApiClient

    original = ApiClient.request

    def request(self: ApiClient, method: str, path: str, **kwargs: Any) -> Any:
        token = kwargs.get("token")
        if token:
            SESSION_LOGS.remember(token, "bearer token")
        for name, value in (kwargs.get("headers") or {}).items():
            if name.lower() in ("authorization", "x-share-password"):
                SESSION_LOGS.remember(value.removeprefix("Bearer "), f"{name} header")
        SESSION_LOGS.remember_body(kwargs.get("json"), "request")
        for name, value in (kwargs.get("params") or {}).items():
            if name == "password":
                SESSION_LOGS.remember(value, "password query parameter")
        response = original(self, method, path, **kwargs)
        SESSION_LOGS.remember_body(response.json, "response")
        if path.startswith("/v1/shares/"):
            SESSION_LOGS.remember(path.removeprefix("/v1/shares/").split("?")[0], "share token")
        return response

    ApiClient.request = request  # type: ignore[method-assign]


def pytest_sessionstart(session: pytest.Session) -> None:
    root = logging.getLogger()
    root.addHandler(_Capture())
    _wrap_api_client()


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    # The scan must see every other test's logs: run it last.
    scans = [item for item in items if item.name == SCAN_TEST]
    for item in scans:
        items.remove(item)
    items.extend(scans)
