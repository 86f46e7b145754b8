"""DELETE /v1/accounts/{account_id}/buckets/{bucket_id}/objects: delete an object (?key=) and its tags."""

from typing import Annotated, Any
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends, Response

from primecloud.adapters import registry
from primecloud.api import BucketContext, app_for, bucket_access, no_content
from primecloud.schemas.objects import ObjectKeyQuery
from primecloud.services import objects

app = app_for(__name__)


@app.delete("/v1/accounts/<account_id>/buckets/<bucket_id>/objects")
def delete_object(
    account_id: UUID,
    bucket_id: UUID,
    key: ObjectKeyQuery,
    ctx: Annotated[BucketContext, Depends(bucket_access("write", "objects:write"))],
) -> Response[Any]:
    objects.delete_object(ctx.session, registry.storage(), ctx.actor, ctx.bucket, key)
    return no_content()


lambda_handler = app.handler
