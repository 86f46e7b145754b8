"""GET /v1/shares/{token}: public download of a share link (302 to a presigned URL valid 5 minutes)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Depends, Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Query

from primecloud.adapters import registry
from primecloud.api import PublicContext, app_for, public_access
from primecloud.services import shares

app = app_for(__name__)


@app.get(
    "/v1/shares/<token>",
    status_code=302,
    responses={
        302: {
            "description": "A redirect to the object; each redirect counts as a download",
            "headers": {
                "Location": {
                    "description": "A presigned GET of the object, valid 5 minutes",
                    "schema": {"type": "string", "format": "uri"},
                }
            },
        },
        401: {"description": "The link is usable but needs its password, and it was missing or wrong"},
        404: {"description": "Unknown, expired, revoked or used-up link (one answer for all)"},
        429: {"description": "Too many wrong passwords for this link (Retry-After)"},
    },
)
def download_share(
    token: str,
    ctx: Annotated[PublicContext, Depends(public_access)],
    x_share_password: Annotated[
        str | None, Header(max_length=256, description="The link's password, if it has one (preferred)")
    ] = None,
    password: Annotated[
        str | None,
        Query(max_length=256, description="The password for plain browser links; it may end up in browser history"),
    ] = None,
) -> Response[Any]:
    """Password-protected links take the password in the X-Share-Password header, or else in ?password=."""
    given = x_share_password if x_share_password is not None else password
    location = shares.download(ctx.session, registry.storage(), token, password=given)
    # no-store: every redirect counts a download and carries a short-lived URL.
    headers = {"Location": location, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    return Response(status_code=302, headers=headers, body="")


lambda_handler = app.handler
