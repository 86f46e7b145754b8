"""GET /v1/accounts/{account_id}/buckets/{bucket_id}/shares: the bucket's links (never their tokens), newest first."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends

from primecloud.api import BucketContext, Cursor, Limit, app_for, bucket_access
from primecloud.schemas.common import Page
from primecloud.schemas.shares import ShareOut
from primecloud.services import shares

app = app_for(__name__)


@app.get("/v1/accounts/<account_id>/buckets/<bucket_id>/shares")
def list_shares(
    account_id: UUID,
    bucket_id: UUID,
    ctx: Annotated[BucketContext, Depends(bucket_access("admin", "objects:read"))],
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[ShareOut]:
    return shares.list_shares(ctx.session, ctx.bucket, limit=limit, cursor=cursor)


lambda_handler = app.handler
