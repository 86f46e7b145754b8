"""DELETE /v1/accounts/{account_id}/buckets/{bucket_id}: delete a bucket (owners and admins)."""

from typing import Annotated, Any
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends, Response

from primecloud.adapters import registry
from primecloud.api import BucketContext, app_for, bucket_access, no_content
from primecloud.services import access_keys, buckets

app = app_for(__name__)


@app.delete(
    "/v1/accounts/<account_id>/buckets/<bucket_id>",
    responses={
        409: {"description": "SFTP users have their home in the bucket: delete them first"},
        503: {"description": "The access keys' policies could not be updated; nothing was deleted"},
    },
)
def delete_bucket(
    account_id: UUID,
    bucket_id: UUID,
    ctx: Annotated[BucketContext, Depends(bucket_access("admin", "buckets:write", lock=access_keys.BUCKET_CHANGE))],
) -> Response[Any]:  # Response[None] would serialize the empty body as 'null'
    """The bucket is gone for every caller at once, its share links stop working and the account's
    access keys lose it; its objects are removed from the storage backend by the purge job later
    (until then its name stays taken)."""
    buckets.delete(ctx.session, registry.tenant_credentials(), ctx.actor, ctx.bucket, ctx.role)
    return no_content()


lambda_handler = app.handler
