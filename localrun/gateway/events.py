"""Payload format 2.0 of an HTTP API, both ways: the event a function gets, and its result as HTTP.

``http_api_event`` is the one builder of the event: the gateway fills it from a live request
(``request_event``), and the samples (``http_event`` for events/, ``authorized_event`` for tests and
benchmarks) fill it with fixed, realistic values.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from localrun.template import LOCAL_ACCOUNT_ID, Route

LOCAL_API_ID = "localapi"
MAX_LAMBDA_RESPONSE_BYTES = 6 * 1024 * 1024  # Lambda's synchronous response limit
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"}
_TEXT_ENCODING = "utf-8"

SAMPLE_USER_ID = "3f0c8a52-1d2e-4b7a-9c61-5a8e2f7d9b10"
SAMPLE_ACCOUNT_ID = "8d1e6f4a-2b3c-4d5e-8f90-1a2b3c4d5e6f"
SAMPLE_SESSION_ID = "5b2f9c1e-7a3d-4e8f-9b6a-0c1d2e3f4a5b"
_SAMPLE_API_ID = "a1b2c3d4e5"
_SAMPLE_HOST = f"{_SAMPLE_API_ID}.execute-api.eu-central-1.amazonaws.com"
_SAMPLE_AWS_ACCOUNT = "123456789012"
_SAMPLE_SOURCE_IP = "203.0.113.10"
_SAMPLE_REQUEST_ID = "Kd9xUhAPFiAEJbw="
_SAMPLE_TIME = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)


# --- HTTP messages --------------------------------------------------------------------------------


@dataclass
class HttpRequest:
    method: str
    target: str  # the request target as sent: path and query string
    headers: list[tuple[str, str]]
    body: bytes = b""
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @classmethod
    def message(cls, status: int, text: str) -> HttpResponse:
        """API Gateway's own answers: ``{"message": "Not Found"}`` and friends."""
        return cls.json(status, {"message": text})

    @classmethod
    def json(cls, status: int, payload: Any) -> HttpResponse:
        return cls(status, [("content-type", "application/json")], json.dumps(payload).encode())


UNAUTHORIZED = (401, "Unauthorized")
FORBIDDEN = (403, "Forbidden")
INTERNAL_ERROR = (500, "Internal Server Error")


def header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in headers if key.lower() == name), None)


# --- the event ------------------------------------------------------------------------------------


def http_api_event(
    *,
    method: str,
    route_key: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    cookies: Sequence[str] = (),
    path_parameters: Mapping[str, str] | None = None,
    body: bytes = b"",
    source_ip: str,
    protocol: str = "HTTP/1.1",
    request_id: str,
    account_id: str,
    api_id: str,
    at: datetime,
) -> dict[str, Any]:
    """The payload-2.0 event API Gateway sends the route's function (before any authorizer context).

    ``headers`` are lowercase and already joined; a body that is not UTF-8 goes base64-encoded.
    """
    event: dict[str, Any] = {"version": "2.0", "routeKey": route_key, "rawPath": raw_path, "rawQueryString": raw_query}
    if cookies:
        event["cookies"] = list(cookies)
    event["headers"] = dict(headers)
    query = _joined(parse_qsl(raw_query, keep_blank_values=True))
    if query:
        event["queryStringParameters"] = query
    host = headers.get("host", "localhost")
    event["requestContext"] = {
        "accountId": account_id,
        "apiId": api_id,
        "domainName": host,
        "domainPrefix": host.split(".", 1)[0].split(":", 1)[0],
        "http": {
            "method": method,
            "path": raw_path,
            "protocol": protocol,
            "sourceIp": source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": at.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(at.timestamp() * 1000),
    }
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if body:
        try:
            event["body"] = body.decode(_TEXT_ENCODING)
            event["isBase64Encoded"] = False
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    else:
        event["isBase64Encoded"] = False
    return event


def request_event(
    request: HttpRequest, route: Route, path_parameters: Mapping[str, str], request_id: str
) -> dict[str, Any]:
    """The event for a request the gateway received on ``route``."""
    url = urlsplit(request.target)
    headers, cookies = _event_headers(request)
    return http_api_event(
        method=request.method,
        route_key=route.route_key,
        raw_path=url.path or "/",
        raw_query=url.query,
        headers=headers,
        cookies=cookies,
        path_parameters=path_parameters,
        body=request.body,
        source_ip=request.source_ip,
        protocol=request.protocol,
        request_id=request_id,
        account_id=LOCAL_ACCOUNT_ID,
        api_id=LOCAL_API_ID,
        at=datetime.now(UTC),
    )


def api_request_id() -> str:
    """Shaped like API Gateway's ids (``JKJaXmPLvHcESHA=``)."""
    return base64.b64encode(os.urandom(10)).decode("ascii").rstrip("=") + "="


def _joined(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Duplicates combined with commas, as payload 2.0 does for headers and query strings."""
    joined: dict[str, str] = {}
    for name, value in pairs:
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    return joined


def _event_headers(request: HttpRequest) -> tuple[dict[str, str], list[str]]:
    cookies: list[str] = []
    plain: list[tuple[str, str]] = []
    for name, value in request.headers:
        if name.lower() == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
        else:
            plain.append((name.lower(), value))
    headers = _joined(plain)
    port = headers.get("host", "").rpartition(":")[2]
    headers.setdefault("x-forwarded-for", request.source_ip)
    headers.setdefault("x-forwarded-proto", "http")
    headers.setdefault("x-forwarded-port", port if port.isdigit() else "80")
    headers.setdefault("x-amzn-trace-id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}")
    return headers, cookies


# --- the function's result ------------------------------------------------------------------------


def lambda_result_to_response(result: Any) -> HttpResponse:
    """Payload format 2.0 response rules: a ``statusCode`` dict is taken apart; anything else is JSON."""
    if isinstance(result, bytes):
        raise TypeError("a handler must return JSON, not bytes")
    if not (isinstance(result, dict) and "statusCode" in result):
        text = result if isinstance(result, str) else json.dumps(result)
        return HttpResponse(200, [("content-type", "application/json")], text.encode(_TEXT_ENCODING))
    status = result["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError(f"statusCode {status!r} is not an HTTP status")
    headers: list[tuple[str, str]] = []
    for name, value in (result.get("headers") or {}).items():
        if value is not None and name.lower() not in _HOP_BY_HOP:
            headers.append((name, _header_value(value)))
    for name, values in (result.get("multiValueHeaders") or {}).items():
        if name.lower() not in _HOP_BY_HOP:
            headers.extend((name, _header_value(value)) for value in values)
    headers.extend(("set-cookie", str(cookie)) for cookie in result.get("cookies") or [])
    body = result.get("body")
    if body is None:
        payload = b""
    elif not isinstance(body, str):
        raise TypeError(f"body must be a string, not {type(body).__name__}")
    elif result.get("isBase64Encoded"):
        payload = base64.b64decode(body, validate=True)
    else:
        payload = body.encode(_TEXT_ENCODING)
    if len(payload) > MAX_LAMBDA_RESPONSE_BYTES:
        raise ValueError(f"response of {len(payload)} bytes is over Lambda's 6 MB limit")
    return HttpResponse(status, headers, payload)


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise TypeError(f"header value {value!r} is not a string")


# --- sample events (events/, tests, benchmarks) ---------------------------------------------------


def _sample_event(
    method: str,
    route_path: str,
    raw_path: str,
    path_parameters: Mapping[str, str],
    *,
    query: str = "",
    body: Any = None,
    public: bool = False,
) -> dict[str, Any]:
    headers = {
        "accept": "application/json",
        "host": _SAMPLE_HOST,
        "user-agent": "curl/8.5.0",
        "x-forwarded-for": _SAMPLE_SOURCE_IP,
        "x-forwarded-proto": "https",
    }
    if not public:
        headers["authorization"] = "Bearer pca_sample-token-hash-checked-by-the-authorizer"
    if body is not None:
        headers["content-type"] = "application/json"
    event = http_api_event(
        method=method,
        route_key=f"{method} {route_path}",
        raw_path=raw_path,
        raw_query=query,
        headers=headers,
        path_parameters=path_parameters,
        body=b"" if body is None else json.dumps(body).encode(_TEXT_ENCODING),
        source_ip=_SAMPLE_SOURCE_IP,
        request_id=_SAMPLE_REQUEST_ID,
        account_id=_SAMPLE_AWS_ACCOUNT,
        api_id=_SAMPLE_API_ID,
        at=_SAMPLE_TIME,
    )
    if not public:
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
    return event


def _filled(route_path: str, values: Mapping[str, str]) -> str:
    for name, value in values.items():
        route_path = route_path.replace("{" + name + "}", value)
    return route_path


def _sample_parameters(route_path: str) -> dict[str, str]:
    samples = {"account_id": SAMPLE_ACCOUNT_ID, "user_id": SAMPLE_USER_ID}
    return {name: samples.get(name, SAMPLE_ACCOUNT_ID) for name in re.findall(r"{(\w+)\+?}", route_path)}


def http_event(method: str, route_path: str, *, body: Any = None, public: bool = False) -> dict[str, Any]:
    """A realistic event for ``METHOD route_path`` with sample ids filled into its parameters."""
    parameters = _sample_parameters(route_path)
    return _sample_event(method, route_path, _filled(route_path, parameters), parameters, body=body, public=public)


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
    parameters = dict(path_values) or _sample_parameters(route_path)
    event = _sample_event(
        method,
        route_path,
        _filled(route_path, path_values),
        parameters,
        query=urlencode(query) if query else "",
        body=body,
    )
    event["requestContext"]["authorizer"]["lambda"].update({"user_id": user_id, "session_id": ""})
    return event
