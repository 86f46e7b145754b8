"""GET /v1/admin/jobs/runs/{run_id}: platform staff read one job run (status, counts, failures)."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends

from primecloud.api import UserContext, app_for, platform_admin_access
from primecloud.schemas.jobs import JobRunOut
from primecloud.services import job_admin

app = app_for(__name__)


@app.get("/v1/admin/jobs/runs/<run_id>", responses={404: {"description": "No such job run"}})
def get_job_run(run_id: UUID, ctx: Annotated[UserContext, Depends(platform_admin_access)]) -> JobRunOut:
    return job_admin.get_run(ctx.session, run_id)


lambda_handler = app.handler
