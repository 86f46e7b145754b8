"""DELETE /v1/accounts/{account_id}/buckets/{bucket_id}/favorites: forget a favorite (?key=); idempotent."""

from typing import Annotated, Any
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends, Response

from primecloud.api import BucketContext, app_for, bucket_access, no_content
from primecloud.schemas.objects import ObjectKeyQuery
from primecloud.services import favorites

app = app_for(__name__)


@app.delete("/v1/accounts/<account_id>/buckets/<bucket_id>/favorites")
def remove_favorite(
    account_id: UUID,
    bucket_id: UUID,
    key: ObjectKeyQuery,
    ctx: Annotated[BucketContext, Depends(bucket_access("read", "objects:read", allow_when_suspended=True))],
) -> Response[Any]:
    favorites.remove(ctx.session, ctx.principal.user_id, ctx.bucket, key)
    return no_content()


lambda_handler = app.handler
