"""GET /v1/accounts/{account_id}/buckets/{bucket_id}/permissions: who holds which level on the bucket."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends

from primecloud.api import BucketContext, Cursor, Limit, app_for, bucket_access
from primecloud.schemas.buckets import BucketPermissionOut
from primecloud.schemas.common import Page
from primecloud.services import bucket_permissions

app = app_for(__name__)


@app.get("/v1/accounts/<account_id>/buckets/<bucket_id>/permissions")
def list_bucket_permissions(
    account_id: UUID,
    bucket_id: UUID,
    ctx: Annotated[BucketContext, Depends(bucket_access("admin", "buckets:read"))],
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[BucketPermissionOut]:
    """The grants on the bucket, oldest first (needs admin on the bucket). Owners and admins of the
    account reach every bucket without a grant and are listed only when granted one."""
    return bucket_permissions.list_permissions(ctx.session, ctx.bucket, limit=limit, cursor=cursor)


lambda_handler = app.handler
