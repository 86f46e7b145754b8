"""DELETE /v1/accounts/{account_id}/buckets/{bucket_id}/shares/{share_id}: revoke a link; it stops working at once."""

from typing import Annotated, Any
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends, Response

from primecloud.api import BucketContext, app_for, bucket_access, no_content
from primecloud.services import shares

app = app_for(__name__)


# Allowed on a suspended account: closing a link only ever reduces what is exposed.
@app.delete("/v1/accounts/<account_id>/buckets/<bucket_id>/shares/<share_id>")
def revoke_share(
    account_id: UUID,
    bucket_id: UUID,
    share_id: UUID,
    ctx: Annotated[BucketContext, Depends(bucket_access("admin", "objects:write", allow_when_suspended=True))],
) -> Response[Any]:
    shares.revoke(ctx.session, ctx.actor, ctx.bucket, share_id)
    return no_content()


lambda_handler = app.handler
