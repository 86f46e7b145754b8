"""The EMF metrics: one ``Responses`` count per API answer (route and status class, never the account)
and one ``JobRuns`` count per scheduled job's result, as CloudWatch reads them from stdout."""

# No `from __future__ import annotations`: the test routes' dependencies are local names Powertools must see.

import json
import uuid
from typing import Any

import pytest

from primecloud import jobs
from primecloud.access import unavailable_context
from primecloud.api import app_for, created
from primecloud.errors import Conflict, NotFound

NAMESPACE = "PrimeCloudTest"


class _LambdaContext:
    function_name = "test"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id = "req-1"


@pytest.fixture(autouse=True)
def metrics_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.setenv("POWERTOOLS_DEV", "false")


def _emf_lines(out: str) -> list[dict[str, Any]]:
    """The EMF documents among the lines on stdout (the Logger writes its JSON lines there too)."""
    documents = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [document for document in documents if "_aws" in document]


def _only_count(out: str, metric: str) -> dict[str, str]:
    """The one EMF document of ``out``: it counts ``metric`` once; its dimensions and their values."""
    (document,) = _emf_lines(out)
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == NAMESPACE
    assert directive["Metrics"] == [{"Name": metric, "Unit": "Count"}]
    assert document[metric] == [1.0]
    (dimensions,) = directive["Dimensions"]
    return {name: document[name] for name in dimensions}


def _event(method: str, path: str, authorizer: dict[str, Any] | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {path.replace('/42', '/{thing_id}')}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "http": {"method": method, "path": path, "sourceIp": "127.0.0.1", "userAgent": "t"},
            "requestId": "req-1",
            "stage": "$default",
        },
        "body": "{}",
        "isBase64Encoded": False,
    }
    if authorizer is not None:
        event["requestContext"]["authorizer"] = {"lambda": authorizer}
    return event


def test_every_answer_is_counted_by_route_and_status_class(capsys: pytest.CaptureFixture[str]) -> None:
    app = app_for("test_metrics_routes")

    @app.post("/v1/things/<thing_id>")
    def make(thing_id: str) -> Any:
        if thing_id != "42":
            raise NotFound("No such thing.")
        return created({"id": thing_id})

    capsys.readouterr()
    assert app.handler(_event("POST", "/v1/things/42"), _LambdaContext())["statusCode"] == 201  # type: ignore[arg-type]
    assert _only_count(capsys.readouterr().out, "Responses") == {
        "route": "POST /v1/things/{thing_id}",
        "status_class": "2xx",
        "service": "primecloud",
    }

    assert app.handler(_event("POST", "/v1/things/7"), _LambdaContext())["statusCode"] == 404  # type: ignore[arg-type]
    assert _only_count(capsys.readouterr().out, "Responses")["status_class"] == "4xx"

    # The entry point's own 503 (the authorizer could not reach the database) is an answer too.
    unchecked = _event("POST", "/v1/things/42", unavailable_context())
    assert app.handler(unchecked, _LambdaContext())["statusCode"] == 503  # type: ignore[arg-type]
    assert _only_count(capsys.readouterr().out, "Responses") == {
        "route": "POST /v1/things/{thing_id}",
        "status_class": "5xx",
        "service": "primecloud",
    }


def test_metrics_are_silent_when_disabled(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    app = app_for("test_metrics_disabled")

    @app.get("/v1/quiet")
    def quiet() -> dict[str, str]:
        return {"ok": "yes"}

    capsys.readouterr()
    assert app.handler(_event("GET", "/v1/quiet"), _LambdaContext())["statusCode"] == 200  # type: ignore[arg-type]
    assert _emf_lines(capsys.readouterr().out) == []


@pytest.mark.parametrize("status", ["succeeded", "partial", "failed"])
def test_every_job_result_is_counted_by_job_and_status(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, status: str
) -> None:
    def finished(job: str, *_args: Any, **_kwargs: Any) -> jobs.JobRunResult:
        return jobs.JobRunResult(run_id=uuid.uuid4(), job=job, status=status, stats={})

    monkeypatch.setattr(jobs, "run_job", finished)
    handler = jobs.scheduled_job_handler("purge_retention", lambda _params: lambda _stats: None)

    capsys.readouterr()
    assert handler({"trigger": "manual"}, _LambdaContext())["status"] == status
    assert _only_count(capsys.readouterr().out, "JobRuns") == {
        "job": "purge_retention",
        "status": status,
        "service": "primecloud",
    }


def test_a_skipped_or_unrecorded_job_run_is_counted_too(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def already_running(job: str, *_args: Any, **_kwargs: Any) -> jobs.JobRunResult:
        raise Conflict(f"The {job} job is already running.")

    monkeypatch.setattr(jobs, "run_job", already_running)
    handler = jobs.scheduled_job_handler("check_overdue", lambda _params: lambda _stats: None)
    capsys.readouterr()
    assert handler({"trigger": "manual"}, _LambdaContext())["status"] == "skipped"
    assert _only_count(capsys.readouterr().out, "JobRuns")["status"] == "skipped"

    def database_down(job: str, *_args: Any, **_kwargs: Any) -> jobs.JobRunResult:
        raise ConnectionRefusedError("no database")

    monkeypatch.setattr(jobs, "run_job", database_down)
    with pytest.raises(ConnectionRefusedError):
        handler({"trigger": "manual"}, _LambdaContext())
    assert _only_count(capsys.readouterr().out, "JobRuns") == {
        "job": "check_overdue",
        "status": "failed",
        "service": "primecloud",
    }
