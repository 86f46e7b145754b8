"""GET /v1/accounts/{account_id}/buckets/{bucket_id}/tags: an object's tags (?key=)."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends

from primecloud.adapters import registry
from primecloud.api import BucketContext, app_for, bucket_access
from primecloud.schemas.objects import ObjectKeyQuery, ObjectTagsOut
from primecloud.services import object_tags

app = app_for(__name__)


@app.get("/v1/accounts/<account_id>/buckets/<bucket_id>/tags")
def get_object_tags(
    account_id: UUID,
    bucket_id: UUID,
    key: ObjectKeyQuery,
    ctx: Annotated[BucketContext, Depends(bucket_access("read", "objects:read"))],
) -> ObjectTagsOut:
    return object_tags.get_tags(ctx.session, registry.storage(), ctx.bucket, key)


lambda_handler = app.handler
