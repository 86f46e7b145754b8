"""GET /v1/accounts/{account_id}/buckets/{bucket_id}/objects: a page of the bucket's objects, from the backend."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends

from primecloud.adapters import registry
from primecloud.api import BucketContext, Cursor, Limit, app_for, bucket_access
from primecloud.schemas.objects import DelimiterQuery, ObjectListing, PrefixQuery
from primecloud.services import objects

app = app_for(__name__)


@app.get("/v1/accounts/<account_id>/buckets/<bucket_id>/objects")
def list_objects(
    account_id: UUID,
    bucket_id: UUID,
    *,
    ctx: Annotated[BucketContext, Depends(bucket_access("read", "objects:read"))],
    prefix: PrefixQuery = "",
    delimiter: DelimiterQuery = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> ObjectListing:
    return objects.list_objects(
        registry.storage(), ctx.bucket, prefix=prefix, delimiter=delimiter, limit=limit, cursor=cursor
    )


lambda_handler = app.handler
