"""POST /v1/admin/jobs/{job}/runs: platform staff start a job now (202 with the run; it finishes in the background)."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Depends, Response

from primecloud import clock
from primecloud.adapters import registry
from primecloud.api import UserContext, accepted, app_for, platform_admin_access
from primecloud.schemas.jobs import JobRunOut, JobRunStart
from primecloud.services import job_admin

app = app_for(__name__)


@app.post(
    "/v1/admin/jobs/<job>/runs",
    responses={
        404: {"description": "No such job"},
        409: {"description": "The job is already running"},
        503: {"description": "The job's function could not be started"},
    },
)
def start_job_run(
    job: str,
    ctx: Annotated[UserContext, Depends(platform_admin_access)],
    body: JobRunStart | None = None,
) -> Response[JobRunOut]:
    run = job_admin.start(ctx.session, ctx.actor, job, body or JobRunStart(), registry.job_invoker(), now=clock.now())
    return accepted(run)


lambda_handler = app.handler
