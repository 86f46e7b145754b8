"""Sample payload-2.0 events for events/: what API Gateway sends a function after the authorizer."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SAMPLE_USER_ID = "3f0c8a52-1d2e-4b7a-9c61-5a8e2f7d9b10"
SAMPLE_ACCOUNT_ID = "8d1e6f4a-2b3c-4d5e-8f90-1a2b3c4d5e6f"
SAMPLE_SESSION_ID = "5b2f9c1e-7a3d-4e8f-9b6a-0c1d2e3f4a5b"
_HOST = "a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com"


def http_event(method: str, route_path: str, *, body: Any = None, public: bool = False) -> dict[str, Any]:
    """A realistic event for ``METHOD route_path`` with sample ids filled into its parameters."""
    samples = {"account_id": SAMPLE_ACCOUNT_ID, "user_id": SAMPLE_USER_ID}
    parameters = {name: samples.get(name, SAMPLE_ACCOUNT_ID) for name in re.findall(r"{(\w+)\+?}", route_path)}
    raw_path = route_path
    for name, value in parameters.items():
        raw_path = raw_path.replace("{" + name + "}", value)
    route_key = f"{method} {route_path}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": "",
        "headers": {
            "accept": "application/json",
            "host": _HOST,
            "user-agent": "curl/8.5.0",
            "x-forwarded-for": "203.0.113.10",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "a1b2c3d4e5",
            "domainName": _HOST,
            "domainPrefix": "a1b2c3d4e5",
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "curl/8.5.0",
            },
            "requestId": "Kd9xUhAPFiAEJbw=",
            "routeKey": route_key,
            "stage": "$default",
            "time": "01/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1793527200000,
        },
        "isBase64Encoded": False,
    }
    if not public:
        event["headers"]["authorization"] = "Bearer pca_sample-token-hash-checked-by-the-authorizer"
        event["requestContext"]["authorizer"] = {
            "lambda": {
                "user_id": SAMPLE_USER_ID,
                "is_platform_admin": False,
                "api_key_id": "",
                "api_key_account_id": "",
                "scopes": "",
                "session_id": SAMPLE_SESSION_ID,
            }
        }
    if parameters:
        event["pathParameters"] = parameters
    if body is not None:
        event["headers"]["content-type"] = "application/json"
        event["body"] = json.dumps(body)
    return event


def write_event(path: Path, event: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(event, indent=2) + "\n", encoding="utf-8")


def authorized_event(
    method: str,
    route_path: str,
    path_values: Mapping[str, str],
    user_id: str,
    *,
    query: Mapping[str, str] | None = None,
    body: Any = None,
) -> dict[str, Any]:
    """The event a function gets after the authorizer let ``user_id`` in (a session token)."""
    from urllib.parse import urlencode

    event = http_event(method, route_path, body=body)
    raw_path = route_path
    for name, value in path_values.items():
        raw_path = raw_path.replace("{" + name + "}", value)
    event["rawPath"] = event["requestContext"]["http"]["path"] = raw_path
    if path_values:
        event["pathParameters"] = dict(path_values)
    if query:
        event["queryStringParameters"] = dict(query)
        event["rawQueryString"] = urlencode(query)
    event["requestContext"]["authorizer"]["lambda"].update({"user_id": user_id, "session_id": ""})
    return event
