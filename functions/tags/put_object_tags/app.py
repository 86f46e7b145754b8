"""PUT /v1/accounts/{account_id}/buckets/{bucket_id}/tags: replace an object's tags (?key=), mirrored to the backend."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends

from primecloud.adapters import registry
from primecloud.api import BucketContext, app_for, bucket_access
from primecloud.schemas.objects import ObjectKeyQuery, ObjectTagsIn, ObjectTagsOut
from primecloud.services import object_tags

app = app_for(__name__)


@app.put("/v1/accounts/<account_id>/buckets/<bucket_id>/tags")
def put_object_tags(
    account_id: UUID,
    bucket_id: UUID,
    key: ObjectKeyQuery,
    body: ObjectTagsIn,
    ctx: Annotated[BucketContext, Depends(bucket_access("write", "objects:write"))],
) -> ObjectTagsOut:
    return object_tags.put_tags(ctx.session, registry.storage(), ctx.actor, ctx.bucket, key, tags=body.tags)


lambda_handler = app.handler
