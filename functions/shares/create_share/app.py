"""POST /v1/accounts/{account_id}/buckets/{bucket_id}/shares: a public link to one object (its token is shown once)."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends, Response

from primecloud.adapters import registry
from primecloud.api import BucketContext, app_for, bucket_access, created
from primecloud.config import get_settings
from primecloud.schemas.shares import ShareCreate, ShareCreated
from primecloud.services import shares

app = app_for(__name__)


@app.post(
    "/v1/accounts/<account_id>/buckets/<bucket_id>/shares",
    responses={404: {"description": "No such account, bucket or object"}},
)
def create_share(
    account_id: UUID,
    bucket_id: UUID,
    body: ShareCreate,
    ctx: Annotated[BucketContext, Depends(bucket_access("admin", "objects:write"))],
) -> Response[ShareCreated]:
    share = shares.create(
        ctx.session, registry.storage(), ctx.actor, ctx.bucket, body, public_base_url=get_settings().public_base_url
    )
    return created(share)


lambda_handler = app.handler
