"""Starting a job's function: an asynchronous Lambda invoke of the function the template names."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import ANY, Stubber

from primecloud.adapters import job_invoker
from primecloud.adapters.job_invoker import LambdaJobInvoker, local_function_id, parse_function_names
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
