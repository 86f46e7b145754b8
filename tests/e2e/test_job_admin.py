"""Job administration through HTTP: platform staff start a job (202 with its run, which then finishes in
the background), list and read runs; a second start while the job runs is 409; others get 403."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from primecloud.jobs import ABANDONED, JOB_TIMEOUTS, advisory_lock, run_job
from primecloud.models.system import AuditLog, JobRun
from tests.conftest import ApiClient, assert_problem
from tests.factories import Tenant, make_api_key, make_session_token, make_tenant, make_user


@pytest.fixture
def staff(db: sa.Engine) -> tuple[uuid.UUID, str]:
    with Session(db) as session, session.begin():
        user = make_user(session, platform_admin=True)
        token, _ = make_session_token(session, user.id)
        return user.id, token


@pytest.fixture
def acme(db: sa.Engine) -> Tenant:
    return make_tenant(db, "Acme")


def runs_url(job: str) -> str:
    return f"/v1/admin/jobs/{job}/runs"


def wait_until_finished(api: ApiClient, token: str, run_id: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = api.get(f"/v1/admin/jobs/runs/{run_id}", token=token)
        assert r.status == 200, r
        if r.json["status"] != "running":
            return dict(r.json)
        assert time.monotonic() < deadline, f"run {run_id} still running"
        time.sleep(0.2)


def job_runs(db: sa.Engine) -> list[JobRun]:
    with Session(db) as session:
        return list(session.scalars(sa.select(JobRun).order_by(JobRun.started_at)))


def test_staff_start_a_job_and_see_its_run_finish(api: ApiClient, db: sa.Engine, staff: tuple[uuid.UUID, str]) -> None:
    staff_id, token = staff
    r = api.post(runs_url("purge_retention"), token=token, json={"params": {"dry_run": True}})
    assert r.status == 202, r
    started = r.json
    assert (started["job"], started["trigger"], started["status"]) == ("purge_retention", "manual", "running")
    assert started["params"] == {"dry_run": True}

    finished = wait_until_finished(api, token, started["id"])
    assert finished["status"] == "succeeded", finished
    assert finished["finished_at"] is not None and finished["error"] is None
    assert finished["details"]["dry_run"] is True
    assert finished["counts"]["sessions"] == 0 and "audit_logs" in finished["counts"]

    listed = api.get("/v1/admin/jobs/runs", token=token, params={"job": "purge_retention"})
    assert listed.status == 200, listed
    assert [run["id"] for run in listed.json["items"]] == [started["id"]]
    assert listed.json["items"][0]["status"] == "succeeded"
    assert api.get("/v1/admin/jobs/runs", token=token, params={"job": "run_billing"}).json["items"] == []
    assert api.get("/v1/admin/jobs/runs", token=token, params={"status": "failed"}).json["items"] == []
    assert [run.id for run in job_runs(db)] == [uuid.UUID(started["id"])], "the run fills in the row made up front"

    with Session(db) as session:
        entry = session.scalars(sa.select(AuditLog).where(AuditLog.action == "job.start")).one()
        assert (entry.actor_user_id, entry.target_id) == (staff_id, started["id"])


def test_a_start_while_the_job_runs_is_409(api: ApiClient, db: sa.Engine, staff: tuple[uuid.UUID, str]) -> None:
    _, token = staff
    # a scheduled run of purge_retention (another container) holds the job's lock
    with db.connect() as other_container, advisory_lock(other_container, "purge_retention"):
        assert_problem(api.post(runs_url("purge_retention"), token=token, json={}), 409, "conflict")
    assert job_runs(db) == [], "a refused start leaves no run"

    # a run created moments ago whose function has not taken the lock yet blocks too
    with Session(db) as session, session.begin():
        session.add(JobRun(job="purge_retention", trigger="manual", status="running", started_at=datetime.now(UTC)))
    assert_problem(api.post(runs_url("purge_retention"), token=token, json={}), 409, "conflict")


def test_a_run_that_died_does_not_block_for_ever(api: ApiClient, db: sa.Engine, staff: tuple[uuid.UUID, str]) -> None:
    _, token = staff
    with Session(db) as session, session.begin():
        dead = JobRun(
            job="purge_retention",
            trigger="schedule",
            status="running",
            started_at=datetime.now(UTC) - timedelta(hours=2),
        )
        session.add(dead)
        session.flush()
        dead_id = dead.id
    r = api.post(runs_url("purge_retention"), token=token, json={"params": {"dry_run": True}})
    assert r.status == 202, r
    wait_until_finished(api, token, r.json["id"])
    old = api.get(f"/v1/admin/jobs/runs/{dead_id}", token=token).json
    assert old["status"] == "failed" and old["error"].startswith("Abandoned")


def test_a_killed_run_is_closed_by_the_rerun_and_listed(
    api: ApiClient, db: sa.Engine, staff: tuple[uuid.UUID, str]
) -> None:
    _, token = staff
    timeout = JOB_TIMEOUTS["purge_retention"]
    now = datetime.now(UTC)
    with Session(db) as session, session.begin():
        # a scheduled run that Lambda stopped at its timeout, and a run that crashed more recently
        killed = JobRun(
            job="purge_retention", trigger="schedule", status="running", started_at=now - timeout - timedelta(seconds=5)
        )
        crashed = JobRun(
            job="purge_retention", trigger="schedule", status="running", started_at=now - timedelta(minutes=6)
        )
        session.add_all([killed, crashed])
        session.flush()
        killed_id, crashed_id = str(killed.id), str(crashed.id)
    # the younger one may still be a run whose function has not started: it blocks an on-demand start
    blocked = assert_problem(api.post(runs_url("purge_retention"), token=token, json={}), 409, "conflict")
    assert crashed_id in blocked["detail"]
    # the scheduled rerun closes the killed run before it starts
    assert run_job("purge_retention", "schedule", lambda stats: None).status == "succeeded"
    failed = api.get("/v1/admin/jobs/runs", token=token, params={"job": "purge_retention", "status": "failed"})
    assert failed.status == 200, failed
    assert [(run["id"], run["error"]) for run in failed.json["items"]] == [(killed_id, ABANDONED)]
    assert api.get(f"/v1/admin/jobs/runs/{crashed_id}", token=token).json["status"] == "running"
    # once the crashed run is older than the timeout, staff may start the job: it is closed first
    with Session(db) as session, session.begin():
        session.execute(sa.update(JobRun).where(JobRun.id == uuid.UUID(crashed_id)).values(started_at=now - timeout))
    r = api.post(runs_url("purge_retention"), token=token, json={"params": {"dry_run": True}})
    assert r.status == 202, r
    assert wait_until_finished(api, token, r.json["id"])["status"] == "succeeded"
    assert api.get(f"/v1/admin/jobs/runs/{crashed_id}", token=token).json["error"] == ABANDONED


def test_unknown_jobs_and_bad_params(api: ApiClient, staff: tuple[uuid.UUID, str]) -> None:
    _, token = staff
    assert_problem(api.post(runs_url("make_coffee"), token=token, json={}), 404, "not-found")
    bad = assert_problem(
        api.post(runs_url("run_billing"), token=token, json={"params": {"period": "2026-13"}}), 422, "validation-error"
    )
    assert bad["errors"][0]["field"] == "body.params.period"
    unknown = assert_problem(
        api.post(runs_url("purge_retention"), token=token, json={"params": {"really": True}}), 422, "validation-error"
    )
    assert unknown["errors"][0]["field"] == "body.params.really"
    assert_problem(api.get("/v1/admin/jobs/runs", token=token, params={"job": "nope"}), 422, "validation-error")
    assert_problem(api.get(f"/v1/admin/jobs/runs/{uuid.uuid4()}", token=token), 404, "not-found")


def test_only_platform_staff_administer_jobs(api: ApiClient, db: sa.Engine, acme: Tenant) -> None:
    for role in ("owner", "admin"):
        assert_problem(api.post(runs_url("purge_retention"), token=acme.token(role), json={}), 403, "forbidden")
        assert_problem(api.get("/v1/admin/jobs/runs", token=acme.token(role)), 403, "forbidden")
    with Session(db) as session, session.begin():
        staff_user = make_user(session, platform_admin=True)
        from primecloud.models.iam import Account

        raw, _ = make_api_key(session, session.get_one(Account, acme.account_id), staff_user.id, ["account:write"])
    assert_problem(api.post(runs_url("purge_retention"), token=raw, json={}), 403, "forbidden")
    assert job_runs(db) == []
