"""POST /v1/accounts/{account_id}/buckets/{bucket_id}/objects/upload-url: a presigned PUT of a declared size."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends

from primecloud.adapters import registry
from primecloud.api import BucketContext, app_for, bucket_access
from primecloud.schemas.objects import PresignedUrlOut, UploadUrlRequest
from primecloud.services import objects

app = app_for(__name__)


@app.post(
    "/v1/accounts/<account_id>/buckets/<bucket_id>/objects/upload-url",
    responses={409: {"description": "The upload would exceed the bucket's quota (quota-exceeded)"}},
)
def create_upload_url(
    account_id: UUID,
    bucket_id: UUID,
    body: UploadUrlRequest,
    ctx: Annotated[BucketContext, Depends(bucket_access("write", "objects:write"))],
) -> PresignedUrlOut:
    return objects.create_upload_url(ctx.session, registry.storage(), ctx.actor, ctx.bucket, body)


lambda_handler = app.handler
