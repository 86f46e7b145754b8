"""DELETE /v1/accounts/{account_id}/buckets/{bucket_id}/permissions/{user_id}: take a member's grant away."""

from typing import Annotated, Any
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends, Response

from primecloud.api import BucketContext, app_for, bucket_access, no_content
from primecloud.services import bucket_permissions

app = app_for(__name__)


@app.delete("/v1/accounts/<account_id>/buckets/<bucket_id>/permissions/<user_id>")
def revoke_bucket_permission(
    account_id: UUID,
    bucket_id: UUID,
    user_id: UUID,
    ctx: Annotated[BucketContext, Depends(bucket_access("admin", "buckets:write"))],
) -> Response[Any]:  # Response[None] would serialize the empty body as 'null'
    """Needs admin on the bucket; 404 when the user holds no grant on it."""
    bucket_permissions.revoke(ctx.session, ctx.actor, ctx.bucket, user_id)
    return no_content()


lambda_handler = app.handler
