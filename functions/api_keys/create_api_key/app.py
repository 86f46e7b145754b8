"""POST /v1/accounts/{account_id}/api-keys: create a key (its secret is shown once)."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends, Response

from primecloud.api import AccountContext, account_access, app_for, created
from primecloud.schemas.api_keys import ApiKeyCreate, ApiKeyCreated
from primecloud.services import api_keys

app = app_for(__name__)


# No scope: an API key is refused whatever its scopes (the service says why).
@app.post("/v1/accounts/<account_id>/api-keys")
def create_api_key(
    account_id: UUID,
    body: ApiKeyCreate,
    ctx: Annotated[AccountContext, Depends(account_access("admin"))],
) -> Response[ApiKeyCreated]:
    return created(api_keys.create(ctx.session, ctx.actor, ctx.account, body))


lambda_handler = app.handler
