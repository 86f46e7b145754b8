"""The HTTP API's Lambda authorizer: its REQUEST event, its answer (simple or IAM policy), its cache."""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from localrun.gateway.events import FORBIDDEN, INTERNAL_ERROR, LOCAL_API_ID, UNAUTHORIZED, HttpResponse
from localrun.invoke import LocalLambda
from localrun.template import LOCAL_ACCOUNT_ID, LOCAL_REGION, Authorizer

logger = logging.getLogger("localrun.gateway")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    context: Any = None


class Refusal(Exception):
    """API Gateway answers the request itself (401, 403, 500): the route's function is not called."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.response = HttpResponse.message(status, text)


def policy_allows(result: Mapping[str, Any], route_arn: str) -> bool:
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


def authorizer_event(authorizer: Authorizer, route_event: Mapping[str, Any]) -> dict[str, Any]:
    """The payload-2.0 REQUEST event for ``authorizer``, made from the route's event."""
    context = route_event["requestContext"]
    identity = [route_event["headers"].get(name.lower(), "") for name in authorizer.identity_headers]
    query = route_event.get("queryStringParameters") or {}
    identity += [query.get(name, "") for name in authorizer.identity_query_strings]
    if not all(identity):
        raise Refusal(*UNAUTHORIZED)  # API Gateway refuses before calling the authorizer
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


class Authorizers:
    """Runs a route's authorizer; with ``cache``, keeps its decisions for ReauthorizeEvery seconds."""

    def __init__(self, runtime: LocalLambda, cache: bool = False) -> None:
        self.runtime = runtime
        self.cache = cache
        self._cache: dict[tuple[str, tuple[str, ...]], tuple[float, Decision]] = {}
        self._cache_lock = threading.Lock()

    def authorize(self, authorizer: Authorizer, route_event: dict[str, Any]) -> Any:
        """The authorizer's context for the route's event; ``Refusal`` when the request may not pass."""
        event = authorizer_event(authorizer, route_event)
        cache_key = (authorizer.name, tuple(event["identitySource"]))
        decision = self._cached(cache_key)
        if decision is None:
            decision = self._run(authorizer, event)
            if self.cache and authorizer.reauthorize_every > 0:
                with self._cache_lock:
                    self._cache[cache_key] = (time.monotonic() + authorizer.reauthorize_every, decision)
        if not decision.allowed:
            raise Refusal(*FORBIDDEN)
        return decision.context

    def _cached(self, key: tuple[str, tuple[str, ...]]) -> Decision | None:
        if not self.cache:
            return None
        with self._cache_lock:
            entry = self._cache.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def _run(self, authorizer: Authorizer, event: dict[str, Any]) -> Decision:
        try:
            result = self.runtime.invoke(authorizer.function_id, event, request_id=str(uuid.uuid4()))
        except Exception as error:
            if str(error) == "Unauthorized":
                raise Refusal(*UNAUTHORIZED) from None
            logger.exception("authorizer %s failed", authorizer.function_id)
            raise Refusal(*INTERNAL_ERROR) from None
        if not isinstance(result, Mapping):
            logger.error("authorizer %s returned %r, not a response", authorizer.function_id, result)
            raise Refusal(*INTERNAL_ERROR)
        if authorizer.simple_responses:
            allowed = result.get("isAuthorized")
            if not isinstance(allowed, bool):
                logger.error("authorizer %s: isAuthorized missing or not a boolean", authorizer.function_id)
                raise Refusal(*INTERNAL_ERROR)
        else:
            if "policyDocument" not in result:
                logger.error("authorizer %s: no policyDocument in its response", authorizer.function_id)
                raise Refusal(*INTERNAL_ERROR)
            allowed = policy_allows(result, event["routeArn"])
        context = result.get("context")
        if context is not None and not isinstance(context, Mapping):
            logger.error("authorizer %s: context is not an object", authorizer.function_id)
            raise Refusal(*INTERNAL_ERROR)
        return Decision(allowed=allowed, context=context)
