"""POST /v1/accounts/{account_id}/buckets: create a bucket in the storage backend (owners and admins)."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends, Response

from primecloud.adapters import registry
from primecloud.api import AccountContext, account_access, app_for, created
from primecloud.config import get_settings
from primecloud.schemas.buckets import BucketCreate, BucketOut
from primecloud.services import access_keys, buckets

app = app_for(__name__, idempotent=True)


@app.post(
    "/v1/accounts/<account_id>/buckets",
    responses={
        409: {
            "description": "The name is taken (by a live bucket, or still by a deleted one in the storage backend),"
            " or an 'every bucket' access key of the account cannot name one more bucket (the detail names the limit)"
        },
        503: {"description": "The storage backend is unavailable; nothing was created"},
    },
)
def create_bucket(
    account_id: UUID,
    body: BucketCreate,
    ctx: Annotated[AccountContext, Depends(account_access("admin", "buckets:write", lock=access_keys.BUCKET_CHANGE))],
) -> Response[BucketOut]:
    """Creates the bucket with its versioning and lifecycle rules. The quota is enforced by the backend
    where it can (MinIO) and otherwise by PrimeCloud when it hands out upload URLs (AWS)."""
    return created(
        buckets.create(
            ctx.session,
            registry.storage(),
            registry.tenant_credentials(),
            ctx.actor,
            body,
            account=ctx.account,
            default_region=get_settings().storage_region,
        )
    )


lambda_handler = app.handler
