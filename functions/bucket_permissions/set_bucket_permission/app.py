"""PUT /v1/accounts/{account_id}/buckets/{bucket_id}/permissions/{user_id}: grant or change a member's level."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends

from primecloud.api import BucketContext, app_for, bucket_access
from primecloud.schemas.buckets import BucketPermissionOut, BucketPermissionSet
from primecloud.services import bucket_permissions

app = app_for(__name__)


@app.put("/v1/accounts/<account_id>/buckets/<bucket_id>/permissions/<user_id>")
def set_bucket_permission(
    account_id: UUID,
    bucket_id: UUID,
    user_id: UUID,
    body: BucketPermissionSet,
    ctx: Annotated[BucketContext, Depends(bucket_access("admin", "buckets:write"))],
) -> BucketPermissionOut:
    """Needs admin on the bucket; the user must be a member of the account (else 404). The level is
    stored as granted: a viewer still reads at most, and owners and admins reach every bucket anyway
    (see effective_level)."""
    return bucket_permissions.set_level(ctx.session, ctx.actor, ctx.bucket, user_id, body.level)


lambda_handler = app.handler
