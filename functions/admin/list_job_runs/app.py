"""GET /v1/admin/jobs/runs: platform staff list job runs, newest first, with status and counts."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query

from primecloud.api import Cursor, Limit, UserContext, app_for, platform_admin_access
from primecloud.enums import JobRunStatus
from primecloud.schemas.common import Page
from primecloud.schemas.jobs import JobName, JobRunOut
from primecloud.services import job_admin

app = app_for(__name__)


@app.get("/v1/admin/jobs/runs")
def list_job_runs(
    ctx: Annotated[UserContext, Depends(platform_admin_access)],
    job: Annotated[JobName | None, Query(description="Only this job's runs")] = None,
    status: Annotated[JobRunStatus | None, Query(description="Only runs in this state")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[JobRunOut]:
    return job_admin.list_runs(
        ctx.session,
        job=job.value if job else None,
        status=status.value if status else None,
        limit=limit,
        cursor=cursor,
    )


lambda_handler = app.handler
