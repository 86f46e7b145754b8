"""Starting a job's function: an asynchronous Lambda invoke of the function the template names, or,
locally, the invoker the local runtime installs in the registry."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.stub import ANY, Stubber

from localrun.job_invoker import LocalJobInvoker, install, local_function_id
from primecloud.adapters import job_invoker, registry
from primecloud.adapters.job_invoker import LambdaJobInvoker, parse_function_names
from primecloud.config import get_settings
from primecloud.errors import Unavailable

FUNCTION = "primecloud-PurgeRetentionFunction-AbC123"


@pytest.fixture
def lambda_client(monkeypatch: pytest.MonkeyPatch) -> Stubber:
    client = boto3.client("lambda", region_name="us-east-1")
    monkeypatch.setattr(job_invoker, "_lambda_client", lambda region, timeout: client)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def test_the_job_function_is_invoked_asynchronously(lambda_client: Stubber) -> None:
    event = {"trigger": "manual", "params": {"dry_run": True}, "run_id": "r-1"}
    lambda_client.add_response(
        "invoke", {"StatusCode": 202}, {"FunctionName": FUNCTION, "InvocationType": "Event", "Payload": ANY}
    )
    LambdaJobInvoker({"purge_retention": FUNCTION}).start("purge_retention", event)


def test_lambda_refusing_the_invoke_is_unavailable(lambda_client: Stubber) -> None:
    lambda_client.add_client_error("invoke", service_error_code="TooManyRequestsException", http_status_code=429)
    with pytest.raises(Unavailable, match="did not accept"):
        LambdaJobInvoker({"purge_retention": FUNCTION}).start("purge_retention", {})


def test_a_job_without_a_configured_function_is_unavailable() -> None:
    with pytest.raises(Unavailable, match="JOB_FUNCTIONS"):
        LambdaJobInvoker({}).start("run_billing", {})


def test_function_names_and_local_ids() -> None:
    configured = "collect_usage=fn-a, run_billing = arn:aws:lambda:eu-central-1:1:function:fn-b,,bad"
    assert parse_function_names(configured) == {
        "collect_usage": "fn-a",
        "run_billing": "arn:aws:lambda:eu-central-1:1:function:fn-b",
    }
    assert local_function_id("purge_retention") == "PurgeRetentionFunction"
    assert json.dumps(parse_function_names("")) == "{}"


@pytest.fixture
def job_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Settings read afresh from the environment; the installed local invoker put back afterwards."""
    installed = registry._local_job_invoker
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()
    registry.install_local_job_invoker(installed)


def test_the_registry_builds_the_lambda_invoker_from_the_settings(job_settings: pytest.MonkeyPatch) -> None:
    job_settings.setenv("JOB_INVOKER", "lambda")
    job_settings.setenv("JOB_FUNCTIONS", f"purge_retention={FUNCTION}")
    invoker = registry.job_invoker()
    assert isinstance(invoker, LambdaJobInvoker)
    assert invoker.function_names == {"purge_retention": FUNCTION}


def test_the_local_invoker_is_the_one_the_local_runtime_installs(job_settings: pytest.MonkeyPatch) -> None:
    """The layer never imports localrun: without an installed invoker, local runs are unavailable."""
    job_settings.setenv("JOB_INVOKER", "local")
    registry.install_local_job_invoker(None)
    with pytest.raises(Unavailable, match="JOB_INVOKER=lambda"):
        registry.job_invoker()
    install()
    assert isinstance(registry.job_invoker(), LocalJobInvoker)
    registry.reset()  # forgets built adapters, not what the local runtime installed
    assert isinstance(registry.job_invoker(), LocalJobInvoker)
