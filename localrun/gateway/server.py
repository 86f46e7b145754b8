"""A local API Gateway HTTP API: serves a SAM template's routes with payload-2.0 events and its authorizer.

``Gateway`` turns one HTTP request into a response (routes.py picks the route, events.py builds the
event and reads the result, authorizer.py runs the authorizer); ``GatewayServer`` puts it on a socket.
"""

from __future__ import annotations

import binascii
import json
import logging
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from localrun.gateway.authorizer import Authorizers, Refusal
from localrun.gateway.events import (
    INTERNAL_ERROR,
    HttpRequest,
    HttpResponse,
    api_request_id,
    header,
    lambda_result_to_response,
    request_event,
)
from localrun.gateway.routes import RouteTable
from localrun.invoke import LocalLambda, scheduled_event
from localrun.template import DEFAULT_TEMPLATE, Cors, Route, Template, load_template

logger = logging.getLogger("localrun.gateway")

LOCAL_PREFIX = "/__local/"
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's payload quota


# --- the gateway ----------------------------------------------------------------------------------


class Gateway:
    """Turns HTTP requests into handler invocations; knows nothing about sockets (see ``make_server``)."""

    def __init__(self, template: Template, runtime: LocalLambda | None = None, authorizer_cache: bool = False):
        self.template = template
        self.runtime = runtime or LocalLambda(template)
        self.routes = RouteTable(template.routes)
        self.authorizer_cache = authorizer_cache
        self.authorizers = Authorizers(self.runtime, cache=authorizer_cache)

    # one request, start to end

    def handle(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        request_id = api_request_id()
        target = "-"
        try:
            response, target = self._dispatch(request, request_id)
        except Exception:
            logger.exception("gateway failure on %s", self._logged_route(request, "-"))
            response = HttpResponse.message(*INTERNAL_ERROR)
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
        origin = header(request.headers, "origin")
        if cors and origin and request.method == "OPTIONS" and header(request.headers, "access-control-request-method"):
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
        event = request_event(request, route, path_parameters, request_id)
        try:
            if route.authorizer is not None:
                event["requestContext"]["authorizer"] = {"lambda": self.authorizers.authorize(route.authorizer, event)}
            response = self._invoke_route(route, event)
        except Refusal as refusal:
            response = refusal.response
        if cors and origin:
            _decorate_cors(cors, origin, response)
        return response, route.function_id

    # integration

    def _invoke_route(self, route: Route, event: dict[str, Any]) -> HttpResponse:
        try:
            result = self.runtime.invoke(route.function_id, event, request_id=str(uuid.uuid4()))
        except Exception:
            logger.exception("%s failed on %s", route.function_id, route.route_key)
            return HttpResponse.message(*INTERNAL_ERROR)
        try:
            return lambda_result_to_response(result)
        except (TypeError, ValueError, binascii.Error) as error:
            logger.error("%s returned a malformed response: %s", route.function_id, error)
            return HttpResponse.message(*INTERNAL_ERROR)

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
        if raw_path.rstrip("/") == "/__local/mail" and method == "GET":
            return _sent_mail()
        return HttpResponse.message(404, "Not Found")

    def _docs_route(self, method: str, raw_path: str) -> HttpResponse | None:
        """GET /openapi.json (the committed file), /docs (Swagger UI) and its assets under /docs/."""
        if method not in ("GET", "HEAD"):
            return None
        from localrun.tools.openapi import docs_file

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


def _sent_mail() -> HttpResponse:
    """What the functions sent through SES (moto keeps it; nothing is delivered), newest first."""
    import os

    from localrun.services.moto import sent_mail

    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        return HttpResponse.message(404, "No local AWS endpoint (AWS_ENDPOINT_URL): mail goes to real SES")
    try:
        messages = sent_mail(endpoint, os.environ.get("AWS_REGION") or "us-east-1")
    except (OSError, ValueError) as error:
        logger.warning("cannot read sent mail from moto at %s: %s", endpoint, error)
        return HttpResponse.message(503, f"moto at {endpoint} did not answer")
    return HttpResponse.json(200, {"mail": messages})


def _origin_allowed(cors: Cors, origin: str) -> bool:
    return "*" in cors.allow_origins or origin in cors.allow_origins


def _preflight(cors: Cors, origin: str, headers: list[tuple[str, str]]) -> HttpResponse:
    response = HttpResponse(204)
    requested_method = (header(headers, "access-control-request-method") or "").upper()
    requested_headers = header(headers, "access-control-request-headers") or ""
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

    def __getattr__(self, name: str) -> Any:
        """Any other method (TRACE, QUERY, ...) reaches the gateway too: no route declares it, so 404
        as API Gateway answers, not http.server's 501 HTML page."""
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

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
