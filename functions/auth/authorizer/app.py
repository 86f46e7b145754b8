"""The HttpApi Lambda authorizer: a bearer token (session or API key) -> caller context."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.data_classes import event_source
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerEventV2,
    APIGatewayAuthorizerResponseV2,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from primecloud.access import unavailable_context
from primecloud.db import is_database_outage, unit_of_work
from primecloud.observability import logger
from primecloud.services.authorizer import authenticate, bearer_token


@logger.inject_lambda_context(clear_state=True)
@event_source(data_class=APIGatewayAuthorizerEventV2)
def lambda_handler(event: APIGatewayAuthorizerEventV2, context: LambdaContext) -> dict[str, Any]:
    token = bearer_token(event.headers.get("authorization"))
    if token is None:
        raise Exception("Unauthorized")  # API Gateway answers 401
    try:
        with unit_of_work() as session:
            # The wall clock, not primecloud.clock: a token's expiry is judged by real time, so a moved
            # service clock (tests move it days ahead) does not log the caller out.
            principal = authenticate(session, token, datetime.now(UTC))
    except Exception as error:
        if not is_database_outage(error):
            raise
        # Fail closed but answer 503, not API Gateway's bare 500: the request goes on with no identity,
        # only the flag, and the API's access check refuses it before anything else runs.
        logger.warning("database unavailable: caller passed on as unavailable", extra={"error": type(error).__name__})
        return APIGatewayAuthorizerResponseV2(authorize=True, context=unavailable_context()).asdict()
    if principal is None:
        logger.info("token refused")
        raise Exception("Unauthorized")
    return APIGatewayAuthorizerResponseV2(authorize=True, context=principal.to_authorizer_context()).asdict()
