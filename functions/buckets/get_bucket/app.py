"""GET /v1/accounts/{account_id}/buckets/{bucket_id}: one bucket and the caller's level in it."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends

from primecloud.api import BucketContext, app_for, bucket_access
from primecloud.schemas.buckets import BucketOut
from primecloud.services import buckets

app = app_for(__name__)


@app.get("/v1/accounts/<account_id>/buckets/<bucket_id>")
def get_bucket(
    account_id: UUID,
    bucket_id: UUID,
    ctx: Annotated[BucketContext, Depends(bucket_access("read", "buckets:read"))],
) -> BucketOut:
    return buckets.bucket_out(ctx.bucket, ctx.level)


lambda_handler = app.handler
