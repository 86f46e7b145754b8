"""The resolver every API handler uses (Powertools APIGatewayHttpResolver with pydantic validation),
its Lambda entry point, the response helpers and the query parameters list routes share.

A handler module is wiring only::

    app = app_for(__name__)

    @app.get("/v1/accounts/<account_id>")
    def get_account(account_id: UUID, ctx: Annotated[AccountContext, Depends(account_access("viewer"))]):
        return accounts.get(ctx.session, ctx.account)

    lambda_handler = app.handler
"""

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, cast

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from pydantic import BeforeValidator

from primecloud.api.problems import PROBLEM_JSON, json_dumps, parse_json_body, problem_response, register_error_handlers
from primecloud.api.request import RETRY_SOON, UNAVAILABLE_DETAIL, caller_unavailable, transaction_middleware
from primecloud.errors import Unavailable
from primecloud.observability import logger, publish_count

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


def _iso_datetime_only(value: Any) -> Any:
    # pydantic would read "12" or "0.5" as Unix timestamps; the API documents ISO 8601 date-times.
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value.strip())):
        raise ValueError("expected an ISO 8601 date-time such as 2026-10-01T00:00:00Z, not a number")
    return value


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
# A date-time query parameter: ISO 8601 only (UTC when it has no offset is the route's rule).
IsoDateTime = Annotated[datetime, BeforeValidator(_iso_datetime_only)]

# Query parameters every list route shares.
Limit = Annotated[int, Query(ge=1, le=100, description="Page size (1-100)")]
Cursor = Annotated[str | None, Query(max_length=512, description="Opaque cursor from next_cursor")]


# --------------------------------------------------------------------------- responses


def created(body: Any) -> Response[Any]:
    """201 with a JSON body (a pydantic model or a dict)."""
    return Response(status_code=201, content_type="application/json", body=body)


def no_content() -> Response[Any]:
    return Response(status_code=204, content_type="application/json", body="")


def accepted(body: Any = None) -> Response[Any]:
    return Response(status_code=202, content_type="application/json", body=body if body is not None else {})


# --------------------------------------------------------------------------- the app


def _unavailable_answer(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The entry point's 503 for a caller the authorizer could not check (the ``unavailable`` flag), before
    routing, validation, a transaction or a replay."""
    if not caller_unavailable(event):
        return None
    request_id = (event.get("requestContext") or {}).get("requestId")
    problem = problem_response(503, Unavailable.slug, Unavailable.title, UNAVAILABLE_DETAIL, request_id=request_id)
    return {
        "statusCode": 503,
        "headers": {"Content-Type": PROBLEM_JSON, **RETRY_SOON},
        "body": problem.body,
        "isBase64Encoded": False,
    }


def _count_response(event: Mapping[str, Any], response: Mapping[str, Any]) -> None:
    """The ``Responses`` metric: one per answer, by route key (a bounded set) and status class."""
    status = int(response.get("statusCode") or 500)
    publish_count("Responses", route=str(event.get("routeKey") or "unknown"), status_class=f"{status // 100}xx")


class App(APIGatewayHttpResolver):
    """The resolver every API function uses; ``handler`` is its Lambda entry point."""

    def __init__(self, name: str, *, idempotent: bool = False, sealed: bool = False) -> None:
        from http import HTTPStatus

        super().__init__(
            enable_validation=True,
            serializer=json_dumps,
            json_body_deserializer=parse_json_body,
            response_validation_error_http_code=HTTPStatus.INTERNAL_SERVER_ERROR,
        )
        self.name = name
        self.idempotent = idempotent
        self.use([transaction_middleware])
        if idempotent:
            from primecloud.api.idempotency import idempotency_middleware

            # Inside the transaction: the recorded outcome commits with the work it describes.
            self.use([idempotency_middleware(sealed=sealed)])
        register_error_handlers(self)
        self.handler = self._entry_point()

    def _entry_point(self) -> "Callable[[dict[str, Any], LambdaContext], dict[str, Any]]":
        resolver = self

        @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
        def lambda_handler(event: dict[str, Any], context: "LambdaContext") -> dict[str, Any]:
            response = _answer(event, context)
            _count_response(event, response)
            return response

        def _answer(event: dict[str, Any], context: "LambdaContext") -> dict[str, Any]:
            unavailable = _unavailable_answer(event)  # first: the access dependencies check it again
            if unavailable is not None:
                return unavailable
            response: dict[str, Any] = resolver.resolve(event, context)
            if response.get("statusCode") in (204, 304):
                response["body"] = ""  # a 204 has no body, also when validation serialized None as "null"
            return response

        return cast("Callable[[dict[str, Any], LambdaContext], dict[str, Any]]", lambda_handler)


def app_for(module_name: str, *, idempotent: bool = False, sealed: bool = False) -> App:
    """The module's resolver.

    ``idempotent=True`` honours an Idempotency-Key header (``primecloud.api.idempotency``); add
    ``sealed=True`` when the response holds a secret, so the replay copy is kept encrypted.
    """
    return App(module_name, idempotent=idempotent, sealed=sealed)
