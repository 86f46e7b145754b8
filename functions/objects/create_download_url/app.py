"""POST /v1/accounts/{account_id}/buckets/{bucket_id}/objects/download-url: a short-lived presigned GET."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends

from primecloud.adapters import registry
from primecloud.api import BucketContext, app_for, bucket_access
from primecloud.schemas.objects import DownloadUrlOut, DownloadUrlRequest
from primecloud.services import objects

app = app_for(__name__)


@app.post("/v1/accounts/<account_id>/buckets/<bucket_id>/objects/download-url")
def create_download_url(
    account_id: UUID,
    bucket_id: UUID,
    body: DownloadUrlRequest,
    ctx: Annotated[BucketContext, Depends(bucket_access("read", "objects:read", allow_when_suspended=True))],
) -> DownloadUrlOut:
    return objects.create_download_url(registry.storage(), ctx.bucket, body.key)


lambda_handler = app.handler
