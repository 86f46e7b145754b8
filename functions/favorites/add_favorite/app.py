"""PUT /v1/accounts/{account_id}/buckets/{bucket_id}/favorites: favorite an object (?key=); 204 if it already was."""

from typing import Annotated, Any
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends, Response

from primecloud.adapters import registry
from primecloud.api import BucketContext, app_for, bucket_access, created, no_content
from primecloud.schemas.objects import FavoriteOut, ObjectKeyQuery
from primecloud.services import favorites

app = app_for(__name__)


@app.put(
    "/v1/accounts/<account_id>/buckets/<bucket_id>/favorites",
    # 204 (it already was a favorite) is found in the source; 201 is declared for its body's schema.
    responses={201: {"description": "Favorited", "content": {"application/json": {"model": FavoriteOut}}}},
)
def add_favorite(
    account_id: UUID,
    bucket_id: UUID,
    key: ObjectKeyQuery,
    ctx: Annotated[BucketContext, Depends(bucket_access("read", "objects:read", allow_when_suspended=True))],
) -> Response[Any]:
    favorite = favorites.add(ctx.session, registry.storage(), ctx.principal.user_id, ctx.bucket, key)
    if favorite is None:
        return no_content()
    return created(favorite)


lambda_handler = app.handler
