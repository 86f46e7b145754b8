"""A local API Gateway HTTP API: serves a SAM template's routes with payload-2.0 events and its authorizer."""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from localrun.invoke import LocalLambda, scheduled_event
from localrun.template import (
    DEFAULT_TEMPLATE,
    LOCAL_ACCOUNT_ID,
    LOCAL_REGION,
    Authorizer,
    Cors,
    Route,
    Template,
    load_template,
)

logger = logging.getLogger("localrun.gateway")

LOCAL_API_ID = "localapi"
LOCAL_PREFIX = "/__local/"
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's payload quota
MAX_LAMBDA_RESPONSE_BYTES = 6 * 1024 * 1024  # Lambda's synchronous response limit
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"}
_TEXT_ENCODING = "utf-8"


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


# --- routes ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CompiledRoute:
    route: Route
    segments: tuple[str, ...]

    @property
    def priority(self) -> tuple[bool, bool, tuple[int, ...], bool]:
        """Lower sorts first: full matches before greedy ones before $default; literals before params."""
        greedy = bool(self.segments) and self.segments[-1].endswith("+}")
        return (
            self.route.path == "$default",
            greedy,
            tuple(1 if segment.startswith("{") else 0 for segment in self.segments),
            self.route.method == "ANY",
        )

    def match(self, method: str, path_segments: list[str]) -> dict[str, str] | None:
        if self.route.method not in {method, "ANY"}:
            return None
        if self.route.path == "$default":
            return {}
        return _match_segments(self.segments, path_segments)


def _match_segments(pattern: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
    """Path parameters when ``segments`` fit ``pattern``; ``{name+}`` takes one or more segments."""
    parameters: dict[str, str] = {}
    for index, part in enumerate(pattern):
        if part.startswith("{") and part.endswith("+}"):
            rest = "/".join(segments[index:])
            if not rest:
                return None
            parameters[part[1:-2]] = unquote(rest)
            return parameters
        value = segments[index] if index < len(segments) else None
        if part.startswith("{") and part.endswith("}"):
            fits = bool(value)
            if value:
                parameters[part[1:-1]] = unquote(value)
        else:
            fits = value is not None and part == unquote(value)
        if not fits:
            return None
    return parameters if len(segments) == len(pattern) else None


class RouteTable:
    """API Gateway HTTP API route selection: most specific path, then a method over ANY."""

    def __init__(self, routes: Iterable[Route]) -> None:
        compiled = [_CompiledRoute(route, tuple(route.path.split("/")[1:])) for route in routes]
        self._routes = sorted(compiled, key=lambda r: r.priority)

    def __iter__(self) -> Iterator[Route]:
        """The routes in the order they are tried."""
        return (compiled.route for compiled in self._routes)

    def match(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        segments = raw_path.split("/")[1:]
        for compiled in self._routes:
            parameters = compiled.match(method, segments)
            if parameters is not None:
                return compiled.route, parameters
        return None


# --- authorizer outcomes --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Decision:
    allowed: bool
    context: Any = None


class _Refusal(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.response = HttpResponse.message(status, text)


_UNAUTHORIZED = (401, "Unauthorized")
_FORBIDDEN = (403, "Forbidden")
_INTERNAL_ERROR = (500, "Internal Server Error")


def _policy_allows(result: Mapping[str, Any], route_arn: str) -> bool:
    """IAM-policy authorizer responses: an Allow that covers the route and no Deny that does."""
    statements = (result.get("policyDocument") or {}).get("Statement") or []
    if isinstance(statements, Mapping):
        statements = [statements]
    allowed = False
    for statement in statements:
        resources = statement.get("Resource") or []
        resources = [resources] if isinstance(resources, str) else resources
        if not any(fnmatch.fnmatchcase(route_arn, pattern) for pattern in resources):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


# --- the gateway ----------------------------------------------------------------------------------


class Gateway:
    """Turns HTTP requests into handler invocations; knows nothing about sockets (see ``make_server``)."""

    def __init__(self, template: Template, runtime: LocalLambda | None = None, authorizer_cache: bool = False):
        self.template = template
        self.runtime = runtime or LocalLambda(template)
        self.routes = RouteTable(template.routes)
        self.authorizer_cache = authorizer_cache
        self._cache: dict[tuple[str, tuple[str, ...]], tuple[float, _Decision]] = {}
        self._cache_lock = threading.Lock()

    # one request, start to end

    def handle(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        request_id = _api_request_id()
        target = "-"
        try:
            response, target = self._dispatch(request, request_id)
        except Exception:
            logger.exception("gateway failure on %s", self._logged_route(request, "-"))
            response = HttpResponse.message(*_INTERNAL_ERROR)
        response.headers.append(("apigw-requestid", request_id))
        logger.info(
            "%s -> %s %d %.1fms",
            self._logged_route(request, target),
            target,
            response.status,
            (time.perf_counter() - started) * 1000,
        )
        return response

    def _logged_route(self, request: HttpRequest, target: str) -> str:
        """What the request log names: the route key (``GET /v1/shares/{token}``), as API Gateway's
        access log does, never the raw path, which may hold a secret (a share token)."""
        path = urlsplit(request.target).path or "/"
        matched = self.routes.match(request.method, path)
        if matched is not None:
            return matched[0].route_key
        if target in ("docs", "local"):
            return f"{request.method} {path}"  # the gateway's own fixed paths
        return f"{request.method} (no route)"

    def _dispatch(self, request: HttpRequest, request_id: str) -> tuple[HttpResponse, str]:
        url = urlsplit(request.target)
        raw_path = url.path or "/"
        if len(request.body) > MAX_REQUEST_BYTES:
            return HttpResponse.message(413, "Request Entity Too Large"), "-"
        cors = self.template.cors
        origin = _header(request.headers, "origin")
        if (
            cors
            and origin
            and request.method == "OPTIONS"
            and _header(request.headers, "access-control-request-method")
        ):
            return _preflight(cors, origin, request.headers), "cors-preflight"
        matched = self.routes.match(request.method, raw_path)
        if matched is None:
            if raw_path.startswith(LOCAL_PREFIX):
                return self._local_route(request.method, raw_path, request.body), "local"
            docs = self._docs_route(request.method, raw_path)
            if docs is not None:
                return docs, "docs"
            return HttpResponse.message(404, "Not Found"), "-"
        route, path_parameters = matched
        event = self._route_event(request, route, path_parameters, url, request_id)
        try:
            if route.authorizer is not None:
                event["requestContext"]["authorizer"] = {"lambda": self._authorize(route.authorizer, event)}
            response = self._invoke_route(route, event)
        except _Refusal as refusal:
            response = refusal.response
        if cors and origin:
            _decorate_cors(cors, origin, response)
        return response, route.function_id

    # events

    def _route_event(
        self,
        request: HttpRequest,
        route: Route,
        path_parameters: dict[str, str],
        url: SplitResult,
        request_id: str,
    ) -> dict[str, Any]:
        raw_path, raw_query = url.path or "/", url.query
        headers, cookies = _event_headers(request)
        now = datetime.now(UTC)
        host = headers.get("host", "localhost")
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route.route_key,
            "rawPath": raw_path,
            "rawQueryString": raw_query,
        }
        if cookies:
            event["cookies"] = cookies
        event["headers"] = headers
        query = _joined(parse_qsl(raw_query, keep_blank_values=True))
        if query:
            event["queryStringParameters"] = query
        event["requestContext"] = {
            "accountId": LOCAL_ACCOUNT_ID,
            "apiId": LOCAL_API_ID,
            "domainName": host,
            "domainPrefix": host.split(".", 1)[0].split(":", 1)[0],
            "http": {
                "method": request.method,
                "path": raw_path,
                "protocol": request.protocol,
                "sourceIp": request.source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": route.route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        }
        if path_parameters:
            event["pathParameters"] = path_parameters
        if request.body:
            try:
                event["body"] = request.body.decode(_TEXT_ENCODING)
                event["isBase64Encoded"] = False
            except UnicodeDecodeError:
                event["body"] = base64.b64encode(request.body).decode("ascii")
                event["isBase64Encoded"] = True
        else:
            event["isBase64Encoded"] = False
        return event

    def _authorizer_event(self, authorizer: Authorizer, route_event: Mapping[str, Any]) -> dict[str, Any]:
        context = route_event["requestContext"]
        identity = [route_event["headers"].get(name.lower(), "") for name in authorizer.identity_headers]
        query = route_event.get("queryStringParameters") or {}
        identity += [query.get(name, "") for name in authorizer.identity_query_strings]
        if not all(identity):
            raise _Refusal(*_UNAUTHORIZED)  # API Gateway refuses before calling the authorizer
        event: dict[str, Any] = {
            "version": "2.0",
            "type": "REQUEST",
            "routeArn": (
                f"arn:aws:execute-api:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:{LOCAL_API_ID}/$default/"
                f"{context['http']['method']}{route_event['rawPath']}"
            ),
            "identitySource": identity,
        }
        for key in ("routeKey", "rawPath", "rawQueryString", "cookies", "headers", "queryStringParameters"):
            if key in route_event:
                event[key] = route_event[key]
        event["requestContext"] = dict(context)
        if "pathParameters" in route_event:
            event["pathParameters"] = route_event["pathParameters"]
        return event

    # authorizer

    def _authorize(self, authorizer: Authorizer, route_event: dict[str, Any]) -> Any:
        event = self._authorizer_event(authorizer, route_event)
        cache_key = (authorizer.name, tuple(event["identitySource"]))
        decision = self._cached(cache_key)
        if decision is None:
            decision = self._run_authorizer(authorizer, event)
            if self.authorizer_cache and authorizer.reauthorize_every > 0:
                with self._cache_lock:
                    self._cache[cache_key] = (time.monotonic() + authorizer.reauthorize_every, decision)
        if not decision.allowed:
            raise _Refusal(*_FORBIDDEN)
        return decision.context

    def _cached(self, key: tuple[str, tuple[str, ...]]) -> _Decision | None:
        if not self.authorizer_cache:
            return None
        with self._cache_lock:
            entry = self._cache.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def _run_authorizer(self, authorizer: Authorizer, event: dict[str, Any]) -> _Decision:
        try:
            result = self.runtime.invoke(authorizer.function_id, event, request_id=str(uuid.uuid4()))
        except Exception as error:
            if str(error) == "Unauthorized":
                raise _Refusal(*_UNAUTHORIZED) from None
            logger.exception("authorizer %s failed", authorizer.function_id)
            raise _Refusal(*_INTERNAL_ERROR) from None
        if not isinstance(result, Mapping):
            logger.error("authorizer %s returned %r, not a response", authorizer.function_id, result)
            raise _Refusal(*_INTERNAL_ERROR)
        if authorizer.simple_responses:
            allowed = result.get("isAuthorized")
            if not isinstance(allowed, bool):
                logger.error("authorizer %s: isAuthorized missing or not a boolean", authorizer.function_id)
                raise _Refusal(*_INTERNAL_ERROR)
        else:
            if "policyDocument" not in result:
                logger.error("authorizer %s: no policyDocument in its response", authorizer.function_id)
                raise _Refusal(*_INTERNAL_ERROR)
            allowed = _policy_allows(result, event["routeArn"])
        context = result.get("context")
        if context is not None and not isinstance(context, Mapping):
            logger.error("authorizer %s: context is not an object", authorizer.function_id)
            raise _Refusal(*_INTERNAL_ERROR)
        return _Decision(allowed=allowed, context=context)

    # integration

    def _invoke_route(self, route: Route, event: dict[str, Any]) -> HttpResponse:
        try:
            result = self.runtime.invoke(route.function_id, event, request_id=str(uuid.uuid4()))
        except Exception:
            logger.exception("%s failed on %s", route.function_id, route.route_key)
            return HttpResponse.message(*_INTERNAL_ERROR)
        try:
            return lambda_result_to_response(result)
        except (TypeError, ValueError, binascii.Error) as error:
            logger.error("%s returned a malformed response: %s", route.function_id, error)
            return HttpResponse.message(*_INTERNAL_ERROR)

    # local helpers (never shadowing the template's routes)

    def _local_route(self, method: str, raw_path: str, body: bytes) -> HttpResponse:
        if raw_path.rstrip("/") == "/__local/jobs" and method == "GET":
            jobs = [
                {
                    "function": schedule.function_id,
                    "event": schedule.event_name,
                    "type": schedule.kind,
                    "expression": schedule.expression,
                    "enabled": schedule.enabled,
                    "fire": f"POST /__local/jobs/{schedule.function_id}",
                }
                for schedule in self.template.schedules
            ]
            return HttpResponse.json(200, {"jobs": jobs})
        prefix = "/__local/jobs/"
        if raw_path.startswith(prefix) and method == "POST":
            return self._fire(unquote(raw_path[len(prefix) :].strip("/")), body)
        return HttpResponse.message(404, "Not Found")

    def _docs_route(self, method: str, raw_path: str) -> HttpResponse | None:
        """GET /openapi.json (the committed file), /docs (Swagger UI) and its assets under /docs/."""
        if method not in ("GET", "HEAD"):
            return None
        from localrun.openapi import docs_file

        found = docs_file(raw_path, self.template.root)
        if found is None:
            return None
        status, content_type, body = found
        return HttpResponse(status, [("content-type", content_type), ("cache-control", "no-cache")], body)

    def _fire(self, function_id: str, body: bytes) -> HttpResponse:
        try:
            schedule = self.template.schedule(function_id)
        except KeyError as error:
            return HttpResponse.message(404, str(error.args[0]))
        try:
            detail = (json.loads(body) if body.strip() else {}).get("detail") or {}
        except (ValueError, AttributeError):
            return HttpResponse.message(400, 'body must be JSON like {"detail": {...}}')
        event = scheduled_event(schedule, detail)
        try:
            result = self.runtime.invoke(function_id, event)
        except Exception as error:
            logger.exception("scheduled function %s failed", function_id)
            failure = {"function": function_id, "errorType": type(error).__name__, "errorMessage": str(error)}
            return HttpResponse.json(500, failure)
        return HttpResponse.json(200, {"function": function_id, "event": event, "result": result})


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


def _header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in headers if key.lower() == name), None)


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


def _api_request_id() -> str:
    """Shaped like API Gateway's ids (``JKJaXmPLvHcESHA=``)."""
    return base64.b64encode(os.urandom(10)).decode("ascii").rstrip("=") + "="


def _origin_allowed(cors: Cors, origin: str) -> bool:
    return "*" in cors.allow_origins or origin in cors.allow_origins


def _preflight(cors: Cors, origin: str, headers: list[tuple[str, str]]) -> HttpResponse:
    response = HttpResponse(204)
    requested_method = (_header(headers, "access-control-request-method") or "").upper()
    requested_headers = _header(headers, "access-control-request-headers") or ""
    if not _origin_allowed(cors, origin):
        return response
    if "*" not in cors.allow_methods and requested_method not in cors.allow_methods:
        return response
    _decorate_cors(cors, origin, response)
    methods = requested_method if "*" in cors.allow_methods else ",".join(cors.allow_methods)
    response.headers.append(("access-control-allow-methods", methods))
    allowed_headers = requested_headers if "*" in cors.allow_headers else ",".join(cors.allow_headers)
    if allowed_headers:
        response.headers.append(("access-control-allow-headers", allowed_headers))
    if cors.max_age is not None:
        response.headers.append(("access-control-max-age", str(cors.max_age)))
    return response


def _decorate_cors(cors: Cors, origin: str, response: HttpResponse) -> None:
    """With a CorsConfiguration, API Gateway's CORS headers replace the function's."""
    response.headers = [(k, v) for k, v in response.headers if not k.lower().startswith("access-control-")]
    if not _origin_allowed(cors, origin):
        return
    wildcard = "*" in cors.allow_origins and not cors.allow_credentials
    response.headers.append(("access-control-allow-origin", "*" if wildcard else origin))
    if cors.allow_credentials:
        response.headers.append(("access-control-allow-credentials", "true"))
    if cors.expose_headers:
        response.headers.append(("access-control-expose-headers", ",".join(cors.expose_headers)))


# --- HTTP server ----------------------------------------------------------------------------------


class _GatewayRequestHandler(BaseHTTPRequestHandler):
    server: GatewayServer
    protocol_version = "HTTP/1.1"  # keep-alive, as clients expect from API Gateway
    # Headers and body go out as two writes; without TCP_NODELAY a keep-alive client waits ~40 ms
    # for the delayed ACK on every request.
    disable_nagle_algorithm = True

    def version_string(self) -> str:
        return "localrun-gateway"

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except ValueError:
            self._write(HttpResponse.message(400, "Bad Request"))
            return
        request = HttpRequest(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
            protocol=self.request_version,
        )
        self._write(self.server.gateway.handle(request))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():  # trailers
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(length) if length else b""

    def _write(self, response: HttpResponse) -> None:
        if response.status in (204, 304):
            response.body = b""  # these carry no body (RFC 9110), whatever the function returned
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        if response.status not in (204, 304):
            self.send_header("content-length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        """The gateway logs one line per request itself; keep only the server's own complaints."""
        if args and isinstance(args[0], str) and args[0].startswith(("code", "Request timed out")):
            logger.warning(format, *args)


class GatewayServer(ThreadingHTTPServer):
    daemon_threads = True
    # Many short-lived connections from tests and clients; a deep backlog avoids connect resets.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], gateway: Gateway) -> None:
        self.gateway = gateway
        super().__init__(address, _GatewayRequestHandler)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


def make_server(
    template_path: Path | str = DEFAULT_TEMPLATE,
    host: str = "127.0.0.1",
    port: int = 3000,
    authorizer_cache: bool = False,
) -> GatewayServer:
    """A gateway server bound to ``host:port`` (port 0: any free port); call ``serve_forever()``."""
    return GatewayServer((host, port), Gateway(load_template(template_path), authorizer_cache=authorizer_cache))


def serve_in_thread(
    template_path: Path | str = DEFAULT_TEMPLATE,
    host: str = "127.0.0.1",
    port: int = 0,
    authorizer_cache: bool = False,
) -> tuple[GatewayServer, str]:
    """Start a gateway in a daemon thread; returns the server (``shutdown()`` it) and its base URL."""
    server = make_server(template_path, host, port, authorizer_cache)
    thread = threading.Thread(target=server.serve_forever, name="localrun-gateway", daemon=True)
    thread.start()
    return server, server.base_url


def run(
    template_path: Path | str = DEFAULT_TEMPLATE,
    host: str = "127.0.0.1",
    port: int = 3000,
    authorizer_cache: bool = False,
) -> None:
    """Serve until interrupted (the ``python -m localrun gateway`` command)."""
    server = make_server(template_path, host, port, authorizer_cache)
    template = server.gateway.template
    logger.info(
        "serving %d routes of %s on %s (%d scheduled jobs: GET %sjobs; API docs: %s/docs)",
        len(template.routes),
        template.path.name,
        server.base_url,
        len(template.schedules),
        LOCAL_PREFIX,
        server.base_url,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        logger.info("stopping")
    finally:
        server.server_close()
