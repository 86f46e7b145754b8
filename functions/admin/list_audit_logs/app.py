"""GET /v1/admin/audit-logs: the platform-wide audit log (platform staff), newest first."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query

from primecloud.api import Cursor, IsoDateTime, Limit, UserContext, app_for, platform_admin_access
from primecloud.enums import AuditSeverity
from primecloud.schemas.audit import AuditLogOut
from primecloud.schemas.common import Page
from primecloud.services import audit_logs

app = app_for(__name__)


@app.get("/v1/admin/audit-logs")
def list_all_audit_logs(
    ctx: Annotated[UserContext, Depends(platform_admin_access)],
    *,
    account_id: Annotated[UUID | None, Query(description="Entries of this account")] = None,
    action: Annotated[
        str | None, Query(max_length=64, description='An action ("bucket.create") or a prefix ("bucket.")')
    ] = None,
    actor_user_id: Annotated[UUID | None, Query(description="Entries by this user")] = None,
    target_type: Annotated[str | None, Query(max_length=64)] = None,
    target_id: Annotated[str | None, Query(max_length=255)] = None,
    severity: Annotated[AuditSeverity | None, Query()] = None,
    from_: Annotated[IsoDateTime | None, Query(alias="from", description="From this time (inclusive)")] = None,
    to: Annotated[IsoDateTime | None, Query(description="Until this time (exclusive)")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[AuditLogOut]:
    where = audit_logs.AuditFilter(
        action=action,
        actor_user_id=actor_user_id,
        target_type=target_type,
        target_id=target_id,
        severity=severity.value if severity else None,
        since=from_,
        until=to,
        account_id=account_id,
    )
    return audit_logs.list_all(ctx.session, where, limit=limit, cursor=cursor)


lambda_handler = app.handler
