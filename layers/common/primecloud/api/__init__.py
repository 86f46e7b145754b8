"""The HTTP edge shared by every API handler; handlers import what they use from here.

- ``request``: the caller from the Lambda authorizer's context, the request's session, one transaction
  per request (the bottom: it imports nothing else of this package);
- ``problems``: JSON on the wire and errors as RFC 9457 problem+json;
- ``dependencies``: the access dependencies (``account_access``, ``bucket_access``, ...) and the
  contexts they give;
- ``app``: the resolver (``App``, ``app_for``), its Lambda entry point, response helpers, list parameters;
- ``idempotency``: Idempotency-Key handling, imported only by an ``app_for(..., idempotent=True)``.
"""

from primecloud.api.app import App, Cursor, IsoDateTime, Limit, accepted, app_for, created, no_content
from primecloud.api.dependencies import (
    ACCESS_PROBLEMS,
    AccountContext,
    BucketContext,
    PublicContext,
    UserContext,
    account_access,
    bucket_access,
    platform_admin_access,
    public_access,
    user_access,
)
from primecloud.api.problems import (
    MAX_JSON_DEPTH,
    PROBLEM_BASE,
    PROBLEM_JSON,
    json_dumps,
    parse_json_body,
    problem_response,
    request_id_of,
    validation_problem,
)
from primecloud.api.request import (
    actor_of,
    after_transaction,
    db_session,
    principal_from_event,
    principal_of,
    refuse_when_unavailable,
    session_in,
)

__all__ = [
    "ACCESS_PROBLEMS",
    "MAX_JSON_DEPTH",
    "PROBLEM_BASE",
    "PROBLEM_JSON",
    "AccountContext",
    "App",
    "BucketContext",
    "Cursor",
    "IsoDateTime",
    "Limit",
    "PublicContext",
    "UserContext",
    "accepted",
    "account_access",
    "actor_of",
    "after_transaction",
    "app_for",
    "bucket_access",
    "created",
    "db_session",
    "json_dumps",
    "no_content",
    "parse_json_body",
    "platform_admin_access",
    "principal_from_event",
    "principal_of",
    "problem_response",
    "public_access",
    "refuse_when_unavailable",
    "request_id_of",
    "session_in",
    "user_access",
    "validation_problem",
]
