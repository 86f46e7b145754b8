"""The local API Gateway HTTP API.

- ``routes``: which template route a method and path reach (API Gateway's selection rules).
- ``events``: payload format 2.0: the one event builder (live requests and sample events) and the
  function's result as an HTTP response.
- ``authorizer``: the Lambda authorizer's REQUEST event, its answer and its cache.
- ``server``: ``Gateway`` (one request to one response) and the HTTP server around it.
"""

from __future__ import annotations

from localrun.gateway.events import HttpRequest, HttpResponse, lambda_result_to_response
from localrun.gateway.routes import RouteTable
from localrun.gateway.server import Gateway, GatewayServer, make_server, run, serve_in_thread

__all__ = [
    "Gateway",
    "GatewayServer",
    "HttpRequest",
    "HttpResponse",
    "RouteTable",
    "lambda_result_to_response",
    "make_server",
    "run",
    "serve_in_thread",
]
