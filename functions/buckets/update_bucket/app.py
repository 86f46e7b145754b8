"""PATCH /v1/accounts/{account_id}/buckets/{bucket_id}: versioning, lifecycle rules, quota (owners and admins)."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends

from primecloud.adapters import registry
from primecloud.api import BucketContext, app_for, bucket_access
from primecloud.schemas.buckets import BucketOut, BucketUpdate
from primecloud.services import buckets

app = app_for(__name__)


@app.patch(
    "/v1/accounts/<account_id>/buckets/<bucket_id>",
    responses={503: {"description": "The storage backend is unavailable; nothing was changed"}},
)
def update_bucket(
    account_id: UUID,
    bucket_id: UUID,
    body: BucketUpdate,
    ctx: Annotated[BucketContext, Depends(bucket_access("admin", "buckets:write"))],
) -> BucketOut:
    """Needs the owner or admin role in the account: an admin permission on the bucket alone is not
    enough. Only the fields sent change; the backend is changed first-to-last and put back if a later
    step fails."""
    return buckets.update(
        ctx.session,
        registry.storage(),
        registry.tenant_credentials(),
        ctx.actor,
        body,
        bucket=ctx.bucket,
        role=ctx.role,
        my_level=ctx.level,
    )


lambda_handler = app.handler
