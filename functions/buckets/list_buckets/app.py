"""GET /v1/accounts/{account_id}/buckets: the buckets the caller can see, by name."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends

from primecloud.api import AccountContext, Cursor, Limit, account_access, app_for
from primecloud.schemas.buckets import BucketOut
from primecloud.schemas.common import Page
from primecloud.services import buckets

app = app_for(__name__)


@app.get("/v1/accounts/<account_id>/buckets")
def list_buckets(
    account_id: UUID,
    ctx: Annotated[AccountContext, Depends(account_access("viewer", "buckets:read"))],
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[BucketOut]:
    """Owners and admins see every bucket of the account; members and viewers the ones they were
    granted a permission on. Each item carries the caller's level in it (my_level)."""
    return buckets.list_buckets(ctx.session, ctx.account, ctx.role, ctx.principal.user_id, limit=limit, cursor=cursor)


lambda_handler = app.handler
