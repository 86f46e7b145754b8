"""JSON on the wire and errors as RFC 9457 problem+json: the one place an exception becomes an answer.

Malformed JSON is 400, validation 422 (``errors[].field``), a domain error its own status, a database
outage 503 with ``Retry-After``, anything else 500. Rejected input is never echoed back.
"""

import base64
import json
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from primecloud.api.request import RETRY_SOON
from primecloud.errors import BadRequest, PrimeCloudError, Unavailable
from primecloud.observability import logger

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://primecloud.dev/problems/"


# --------------------------------------------------------------------------- serialization


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # money never passes through float
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default, separators=(",", ":"))


# No body this API takes nests deeper than a few levels (account settings are free-form: 32 is ample).
MAX_JSON_DEPTH = 32


def parse_json_body(text: str) -> Any:
    """A request body as JSON. Nesting past ``MAX_JSON_DEPTH`` (CPython's parser itself dies near 1,000
    levels with a RecursionError) or an integer past Python's 4,300-digit limit (a ValueError) is
    malformed JSON like any other: Powertools answers it as ``json_invalid``, which is our 400."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise
    except (RecursionError, ValueError):
        raise json.JSONDecodeError("nested too deeply or a number too long", "", 0) from None
    # str.count is cheap: only a body with that many brackets at all can nest that deep.
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _nests_deeper_than(value, MAX_JSON_DEPTH):
        raise json.JSONDecodeError(f"nested deeper than {MAX_JSON_DEPTH} levels", "", 0)
    return value


def _nests_deeper_than(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:  # iterative: a recursive walk is what this guards against
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


# --------------------------------------------------------------------------- problem+json


def request_id_of(app: APIGatewayHttpResolver) -> str | None:
    try:
        return str(app.current_event.request_context.request_id)
    except (AttributeError, KeyError, TypeError):
        return None


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    request_id: str | None,
    errors: list[dict[str, Any]] | None = None,
) -> Response[Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "request_id": request_id,
    }
    if errors:
        body["errors"] = errors
    return Response(status_code=status, content_type=PROBLEM_JSON, body=json_dumps(body))


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


def validation_problem(exc: RequestValidationError, request_id: str | None) -> Response[Any]:
    raw_errors = exc.errors()
    if any(error.get("type") == "json_invalid" for error in raw_errors):
        return problem_response(
            400, BadRequest.slug, BadRequest.title, "The request body is not valid JSON.", request_id=request_id
        )
    # Never echo the rejected input back: it may be a password or a token.
    errors = [
        {
            "field": _field_name(error.get("loc", ())),
            "message": error.get("msg", ""),
            "type": error.get("type"),
        }
        for error in raw_errors
    ]
    detail = "; ".join(f"{error['field']}: {error['message']}" for error in errors) or "Invalid request"
    return problem_response(422, "validation-error", "Invalid request", detail, request_id=request_id, errors=errors)


def _is_database_outage(exc: Exception) -> bool:
    from primecloud.db import is_database_outage  # the same rule as the authorizer's

    return is_database_outage(exc)


# SQLSTATEs of text PostgreSQL cannot store: a NUL character (22021 in text, 22P05 in jsonb).
_UNSTORABLE_TEXT = frozenset({"22021", "22P05"})


def _is_unstorable_text(exc: Exception) -> bool:
    """The input held text PostgreSQL refuses (a NUL byte): the caller's mistake, not ours."""
    from sqlalchemy.exc import DBAPIError

    if not isinstance(exc, DBAPIError):
        return False
    details = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
    return isinstance(details, dict) and details.get("C") in _UNSTORABLE_TEXT


def _body_is_malformed(event: dict[str, Any]) -> bool:
    """A body that is not UTF-8, or one sent as multipart/form-data (never what this API takes)."""
    headers = {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}
    if headers.get("content-type", "").strip().lower().startswith("multipart/"):
        return True
    body = event.get("body") or ""
    try:
        raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
        raw.decode()
    except (ValueError, UnicodeError):
        return True
    return False


def register_error_handlers(app: APIGatewayHttpResolver) -> None:
    @app.exception_handler(PrimeCloudError)
    def _domain_error(exc: PrimeCloudError) -> Response[Any]:
        response = problem_response(
            exc.status, exc.slug, exc.title, exc.detail, request_id=request_id_of(app), errors=exc.errors
        )
        response.headers.update(exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    def _validation_error(exc: RequestValidationError) -> Response[Any]:
        return validation_problem(exc, request_id_of(app))

    @app.exception_handler(RequestUnsupportedContentType)
    def _not_json(_exc: RequestUnsupportedContentType) -> Response[Any]:
        # A body sent as text/plain, a form, ...: bodies are JSON (400 is documented on every route with one).
        detail = "The request body must be JSON (Content-Type: application/json)."
        return problem_response(400, BadRequest.slug, BadRequest.title, detail, request_id=request_id_of(app))

    @app.exception_handler(NotFoundError)
    def _no_route(_exc: NotFoundError) -> Response[Any]:
        return problem_response(404, "not-found", "Not found", "No such route.", request_id=request_id_of(app))

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response[Any]:
        if isinstance(exc, ValueError) and _body_is_malformed(app.current_event.raw_event):
            # Powertools parses the body before validating it: it raises on binary garbage (UnicodeDecodeError)
            # and on a multipart body without a boundary (ValueError). Both are the caller's malformed request.
            detail = "The request body must be UTF-8 JSON (Content-Type: application/json)."
            return problem_response(400, BadRequest.slug, BadRequest.title, detail, request_id=request_id_of(app))
        if _is_unstorable_text(exc):
            return problem_response(
                422,
                "validation-error",
                "Invalid request",
                "Text values must not contain the NUL character (\\u0000).",
                request_id=request_id_of(app),
            )
        if _is_database_outage(exc):
            logger.warning("database unavailable", extra={"error": type(exc).__name__})
            outage = problem_response(
                503, Unavailable.slug, Unavailable.title, "The database is unavailable.", request_id=request_id_of(app)
            )
            outage.headers.update(RETRY_SOON)  # like the authorizer's outage answer: a retry may work soon
            return outage
        logger.exception("unhandled error")
        return problem_response(
            500, "internal", "Internal error", "An unexpected error occurred.", request_id=request_id_of(app)
        )
