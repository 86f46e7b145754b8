"""The local gateway behaves like API Gateway's HTTP API: routing, payload 2.0, authorizer, responses."""

from __future__ import annotations

import base64
import dataclasses
import http.client
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from localrun.gateway import (
    Gateway,
    GatewayServer,
    HttpRequest,
    RouteTable,
    lambda_result_to_response,
    serve_in_thread,
)
from localrun.invoke import invoke
from localrun.template import Route, load_template

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "local_gateway"
TEMPLATE = FIXTURE / "template.yaml"
ALICE = {"Authorization": "Bearer alice"}
PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\xff"


@pytest.fixture(scope="module")
def gateway() -> Iterator[tuple[GatewayServer, str]]:
    server, base_url = serve_in_thread(TEMPLATE, port=0)
    yield server, base_url
    server.shutdown()
    server.server_close()


@pytest.fixture
def base_url(gateway: tuple[GatewayServer, str]) -> str:
    return gateway[1]


@pytest.fixture
def authorizer_calls(gateway: tuple[GatewayServer, str]) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = gateway[0].gateway.runtime.module("AuthorizerFunction").CALLS
    calls.clear()
    return calls


def seen_event(response: requests.Response) -> dict[str, Any]:
    event: dict[str, Any] = response.json()["event"]
    return event


# --- routing --------------------------------------------------------------------------------------


def test_path_parameters_are_extracted_and_decoded(base_url: str) -> None:
    r = requests.get(f"{base_url}/v1/accounts/acc%201/buckets", headers=ALICE, timeout=5)
    assert r.status_code == 200
    event = seen_event(r)
    assert event["routeKey"] == "GET /v1/accounts/{account_id}/buckets"
    assert event["pathParameters"] == {"account_id": "acc 1"}
    assert event["rawPath"] == "/v1/accounts/acc%201/buckets"


def test_exact_route_wins_over_parameterised_one(base_url: str) -> None:
    r = requests.get(f"{base_url}/v1/accounts/mine/buckets", headers=ALICE, timeout=5)
    assert r.status_code == 200
    assert r.json() == {"route": "GET /v1/accounts/mine/buckets", "helper": "special"}


def test_greedy_path_takes_the_rest_and_loses_to_an_exact_route(base_url: str) -> None:
    nested = requests.delete(f"{base_url}/v1/files/a/b/c.txt", headers=ALICE, timeout=5)
    assert nested.status_code == 200
    assert seen_event(nested)["pathParameters"] == {"proxy": "a/b/c.txt"}
    assert seen_event(nested)["routeKey"] == "ANY /v1/files/{proxy+}"
    exact = requests.get(f"{base_url}/v1/files/readme", headers=ALICE, timeout=5)
    assert exact.json()["route"] == "GET /v1/files/readme"
    assert requests.get(f"{base_url}/v1/files", headers=ALICE, timeout=5).status_code == 404


def test_unknown_path_and_wrong_method_are_404_without_authorizing(
    base_url: str, authorizer_calls: list[dict[str, Any]]
) -> None:
    unknown = requests.get(f"{base_url}/v1/nothing-here", headers=ALICE, timeout=5)
    wrong_method = requests.delete(f"{base_url}/v1/accounts/a/buckets", headers=ALICE, timeout=5)
    for response in (unknown, wrong_method):
        assert response.status_code == 404
        assert response.json() == {"message": "Not Found"}
    assert authorizer_calls == []


@pytest.mark.parametrize("method", ["TRACE", "QUERY", "PROPFIND"])
def test_a_method_the_gateway_does_not_know_is_404_like_any_undeclared_one(
    base_url: str, authorizer_calls: list[dict[str, Any]], method: str
) -> None:
    response = requests.request(method, f"{base_url}/v1/accounts/a/buckets", headers=ALICE, timeout=5)
    assert response.status_code == 404  # not http.server's 501 HTML page
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"message": "Not Found"}
    assert authorizer_calls == []


def test_route_table_prefers_literal_segments_then_specific_methods() -> None:
    table = RouteTable(
        [
            Route("ANY", "/{proxy+}", "Catchall", public=True),
            Route("ANY", "/pets/{id}", "AnyPet", public=True),
            Route("GET", "/pets/{id}", "GetPet", public=True),
            Route("GET", "/pets/dog", "Dog", public=True),
            Route("ANY", "$default", "Default", public=True),
        ]
    )

    def target(method: str, path: str) -> str | None:
        matched = table.match(method, path)
        return matched[0].function_id if matched else None

    assert target("GET", "/pets/dog") == "Dog"
    assert target("GET", "/pets/cat") == "GetPet"
    assert target("PUT", "/pets/cat") == "AnyPet"
    assert target("GET", "/pets/cat/toys") == "Catchall"
    assert target("GET", "/") == "Default"


# --- the payload 2.0 event ------------------------------------------------------------------------


def test_handler_sees_a_payload_2_event(base_url: str) -> None:
    host = urlsplit(base_url).netloc
    connection = http.client.HTTPConnection(host, timeout=5)
    connection.putrequest("GET", "/v1/accounts/acc-1/buckets?limit=10&tag=a&tag=b&empty=", skip_accept_encoding=True)
    for name, value in [
        ("Authorization", "Bearer alice"),
        ("X-Trace", "one"),
        ("X-Trace", "two"),
        ("User-Agent", "pytest-agent"),
        ("Cookie", "session=abc; theme=dark"),
    ]:
        connection.putheader(name, value)
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 200
    seen = json.loads(response.read())
    connection.close()
    event = seen["event"]

    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /v1/accounts/{account_id}/buckets"
    assert event["rawPath"] == "/v1/accounts/acc-1/buckets"
    assert event["rawQueryString"] == "limit=10&tag=a&tag=b&empty="
    assert event["queryStringParameters"] == {"limit": "10", "tag": "a,b", "empty": ""}
    assert event["cookies"] == ["session=abc", "theme=dark"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-trace"] == "one,two"
    assert event["headers"]["authorization"] == "Bearer alice"
    assert event["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert all(name == name.lower() for name in event["headers"])
    assert event["pathParameters"] == {"account_id": "acc-1"}
    assert event["isBase64Encoded"] is False
    assert "body" not in event

    context = event["requestContext"]
    assert context["http"] == {
        "method": "GET",
        "path": "/v1/accounts/acc-1/buckets",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "pytest-agent",
    }
    assert context["routeKey"] == event["routeKey"]
    assert context["stage"] == "$default"
    assert context["accountId"] == "123456789012"
    assert context["domainName"] == host
    assert re.fullmatch(r"\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000", context["time"])
    assert isinstance(context["timeEpoch"], int)
    assert context["authorizer"] == {"lambda": {"user_id": "alice", "scopes": ["buckets:read"]}}

    # the runtime side: a Lambda-like context, the layer and the function's own sibling module
    assert seen["helper"] == "echo"
    assert seen["layer"] == "fixture-layer"
    assert seen["context"]["function_name"] == "primecloud-local-echo"
    assert seen["context"]["memory_limit_in_mb"] == 256
    assert seen["context"]["invoked_function_arn"].endswith(":function:primecloud-local-echo")
    assert 0 < seen["context"]["remaining_ms"] <= 10_000


def test_each_request_gets_fresh_request_ids(base_url: str) -> None:
    first, second = (requests.get(f"{base_url}/health", timeout=5) for _ in range(2))
    assert seen_event(first)["requestContext"]["requestId"] != seen_event(second)["requestContext"]["requestId"]
    assert first.json()["context"]["aws_request_id"] != second.json()["context"]["aws_request_id"]
    assert first.headers["apigw-requestid"] == seen_event(first)["requestContext"]["requestId"]


def test_text_body_is_passed_as_is(base_url: str) -> None:
    r = requests.post(f"{base_url}/v1/accounts/a/buckets", headers=ALICE, json={"name": "photos"}, timeout=5)
    assert r.status_code == 201
    event = seen_event(r)
    assert json.loads(event["body"]) == {"name": "photos"}
    assert event["isBase64Encoded"] is False


def test_binary_body_is_base64_encoded(base_url: str) -> None:
    payload = b"\xff\x00\xfe binary"
    r = requests.put(f"{base_url}/v1/files/upload.bin", headers=ALICE, data=payload, timeout=5)
    event = seen_event(r)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload


def test_chunked_request_body_is_reassembled(base_url: str) -> None:
    r = requests.post(f"{base_url}/v1/accounts/a/buckets", headers=ALICE, data=iter([b'{"name":', b' "x"}']), timeout=5)
    assert seen_event(r)["body"] == '{"name": "x"}'


# --- responses ------------------------------------------------------------------------------------


def test_structured_result_becomes_status_headers_and_cookies(base_url: str) -> None:
    r = requests.get(f"{base_url}/health", timeout=5)
    assert r.status_code == 200
    assert r.headers["x-echo"] == "yes"
    assert r.raw.headers.getlist("x-multi") == ["one", "two"]
    assert r.raw.headers.getlist("set-cookie") == ["session=abc; HttpOnly", "theme=dark"]


def test_bare_results_become_200_json(base_url: str) -> None:
    as_dict = requests.get(f"{base_url}/v1/accounts/mine/buckets", headers=ALICE, timeout=5)
    assert as_dict.status_code == 200
    assert as_dict.headers["content-type"] == "application/json"
    as_text = requests.get(f"{base_url}/greeting", timeout=5)
    assert (as_text.status_code, as_text.text) == (200, "hello")


def test_base64_result_is_sent_as_bytes(base_url: str) -> None:
    r = requests.get(f"{base_url}/v1/logo.png", timeout=5)
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/png"
    assert r.content == PNG_HEADER


def test_handler_crash_is_a_bare_500_and_the_traceback_stays_in_the_log(
    base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="localrun"):
        r = requests.get(f"{base_url}/v1/crash", headers=ALICE, timeout=5)
    assert r.status_code == 500
    assert r.json() == {"message": "Internal Server Error"}
    assert "secret-detail" not in r.text
    assert "secret-detail-that-must-not-leak" in caplog.text
    assert "Traceback" in caplog.text
    assert re.search(r"GET /v1/crash -> CrashFunction 500 \d+\.\dms", caplog.text)


@pytest.mark.parametrize(
    ("result", "problem"),
    [
        ({"statusCode": "200"}, "statusCode"),
        ({"statusCode": 200, "body": {"not": "a string"}}, "body must be a string"),
        ({"statusCode": 200, "headers": {"x": ["a"]}}, "header value"),
        ({"statusCode": 200, "isBase64Encoded": True, "body": "not base64!"}, "base64"),
    ],
)
def test_malformed_results_are_refused(result: dict[str, Any], problem: str) -> None:
    with pytest.raises((TypeError, ValueError), match=problem):
        lambda_result_to_response(result)


# --- the authorizer -------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": ""}])
def test_missing_identity_is_401_without_calling_the_authorizer(
    base_url: str, authorizer_calls: list[dict[str, Any]], headers: dict[str, str]
) -> None:
    r = requests.get(f"{base_url}/v1/accounts/a/buckets", headers=headers, timeout=5)
    assert (r.status_code, r.json()) == (401, {"message": "Unauthorized"})
    assert authorizer_calls == []


@pytest.mark.parametrize(
    ("token", "status", "message"),
    [
        ("unauthorized", 401, "Unauthorized"),
        ("deny", 403, "Forbidden"),
        ("crash", 500, "Internal Server Error"),
        ("malformed", 500, "Internal Server Error"),
    ],
)
def test_authorizer_outcomes(base_url: str, token: str, status: int, message: str) -> None:
    r = requests.get(f"{base_url}/v1/accounts/a/buckets", headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert (r.status_code, r.json()) == (status, {"message": message})


def test_authorizer_gets_a_request_event(base_url: str, authorizer_calls: list[dict[str, Any]]) -> None:
    requests.get(f"{base_url}/v1/accounts/acc-1/buckets?limit=1", headers=ALICE, timeout=5)
    (event,) = authorizer_calls
    assert event["version"] == "2.0"
    assert event["type"] == "REQUEST"
    assert event["identitySource"] == ["Bearer alice"]
    assert event["routeKey"] == "GET /v1/accounts/{account_id}/buckets"
    assert event["routeArn"].endswith("/$default/GET/v1/accounts/acc-1/buckets")
    assert event["routeArn"].startswith("arn:aws:execute-api:us-east-1:123456789012:")
    assert event["rawQueryString"] == "limit=1"
    assert event["pathParameters"] == {"account_id": "acc-1"}
    assert event["headers"]["authorization"] == "Bearer alice"
    assert "authorizer" not in event["requestContext"]


def test_public_route_skips_the_authorizer(base_url: str, authorizer_calls: list[dict[str, Any]]) -> None:
    anonymous = requests.get(f"{base_url}/health", timeout=5)
    with_bad_token = requests.get(f"{base_url}/health", headers={"Authorization": "Bearer crash"}, timeout=5)
    assert anonymous.status_code == with_bad_token.status_code == 200
    assert "authorizer" not in seen_event(anonymous)["requestContext"]
    assert authorizer_calls == []


def test_authorizer_runs_on_every_request_unless_caching_is_asked_for(
    base_url: str, authorizer_calls: list[dict[str, Any]]
) -> None:
    for _ in range(2):
        requests.get(f"{base_url}/v1/accounts/a/buckets", headers=ALICE, timeout=5)
    assert len(authorizer_calls) == 2

    cached = Gateway(load_template(TEMPLATE), authorizer_cache=True)
    request = HttpRequest("GET", "/v1/accounts/a/buckets", [("Authorization", "Bearer bob")])
    statuses = [cached.handle(request).status for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert len(cached.runtime.module("AuthorizerFunction").CALLS) == 1


# --- CORS -----------------------------------------------------------------------------------------


def test_cors_preflight_is_answered_by_the_gateway(base_url: str, authorizer_calls: list[dict[str, Any]]) -> None:
    r = requests.options(
        f"{base_url}/v1/accounts/a/buckets",
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
        timeout=5,
    )
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert r.headers["access-control-allow-methods"] == "GET,POST"
    assert r.headers["access-control-max-age"] == "600"
    assert authorizer_calls == []


def test_cors_headers_come_from_the_configuration_not_the_function(base_url: str) -> None:
    allowed = requests.get(f"{base_url}/health", headers={"Origin": "http://localhost:5173"}, timeout=5)
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:5173"
    foreign = requests.get(f"{base_url}/health", headers={"Origin": "https://evil.example"}, timeout=5)
    assert "access-control-allow-origin" not in foreign.headers


# --- scheduled jobs -------------------------------------------------------------------------------


def test_local_jobs_are_listed(base_url: str) -> None:
    r = requests.get(f"{base_url}/__local/jobs", timeout=5)
    assert r.status_code == 200
    jobs = {(job["function"], job["type"], job["expression"], job["enabled"]) for job in r.json()["jobs"]}
    assert jobs == {
        ("JobFunction", "Schedule", "rate(1 hour)", True),
        ("MonthlyReportFunction", "ScheduleV2", "cron(0 2 1 * ? *)", True),
    }


def test_firing_a_job_sends_a_scheduled_event_with_the_given_detail(base_url: str) -> None:
    r = requests.post(f"{base_url}/__local/jobs/JobFunction", json={"detail": {"dry_run": True}}, timeout=5)
    assert r.status_code == 200
    result = r.json()["result"]
    assert result["job"] == "JobFunction"
    event = result["event"]
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["detail"] == {"dry_run": True}
    assert event["resources"][0].startswith("arn:aws:events:us-east-1:123456789012:rule/")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", event["time"])


def test_firing_a_scheduler_job_sends_its_input_with_context_attributes_filled_in(base_url: str) -> None:
    r = requests.post(f"{base_url}/__local/jobs/MonthlyReportFunction", json={"detail": {"dry_run": True}}, timeout=5)
    event = r.json()["result"]["event"]
    assert event["account"] == "123456789012"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", event["time"])
    assert event["resources"][0].startswith("arn:aws:scheduler:us-east-1:123456789012:schedule/default/")
    assert event["detail"] == {"month": "previous", "dry_run": True}


@pytest.mark.parametrize("function_id", ["EchoFunction", "NoSuchFunction"])
def test_only_scheduled_functions_can_be_fired(base_url: str, function_id: str) -> None:
    assert requests.post(f"{base_url}/__local/jobs/{function_id}", timeout=5).status_code == 404


def test_template_routes_shadow_the_local_helper_routes() -> None:
    template = load_template(TEMPLATE)
    shadowing = Route("GET", "/__local/jobs", "SpecialFunction", public=True)
    gateway = Gateway(dataclasses.replace(template, routes=[*template.routes, shadowing]))
    response = gateway.handle(HttpRequest("GET", "/__local/jobs", []))
    assert json.loads(response.body) == {"route": "GET /__local/jobs", "helper": "special"}


# --- template and direct invocation ---------------------------------------------------------------


def test_template_conditions_and_parameters_are_applied() -> None:
    test_stage = load_template(TEMPLATE)
    assert "ProdOnlyFunction" not in test_stage.functions
    assert test_stage.authorizer_function_id == "AuthorizerFunction"
    assert test_stage.identity_source_header == "Authorization"
    assert test_stage.function_by_path(FIXTURE / "functions" / "echo").logical_id == "EchoFunction"

    prod = load_template(TEMPLATE, parameters={"Stage": "prod", "JobRate": "rate(5 minutes)"})
    expressions = {(s.function_id, s.kind): s.expression for s in prod.schedules}
    assert expressions == {
        ("JobFunction", "Schedule"): "rate(5 minutes)",
        ("MonthlyReportFunction", "ScheduleV2"): "cron(0 2 1 * ? *)",
        ("ProdOnlyFunction", "ScheduleV2"): "cron(0 2 * * ? *)",
    }
    assert prod.functions["EchoFunction"].environment == {"STAGE": "prod"}


def test_invoke_by_code_path() -> None:
    result = invoke(str(FIXTURE / "functions" / "job"), {"hello": "world"}, template_path=TEMPLATE)
    assert result == {"job": "JobFunction", "event": {"hello": "world"}}


def test_cli_invoke_prints_the_result(tmp_path: Path) -> None:
    event_file = tmp_path / "event.json"
    event_file.write_text('{"from": "file"}')
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "localrun",
            "invoke",
            "JobFunction",
            "-e",
            str(event_file),
            "--template",
            str(TEMPLATE),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=FIXTURE.parents[2],
    )
    assert json.loads(completed.stdout) == {"job": "JobFunction", "event": {"from": "file"}}


def test_concurrent_invocations_get_containers_of_their_own() -> None:
    """Like Lambda: a busy container never takes a second request; a new one is started."""
    import threading

    from localrun.invoke import LocalLambda
    from localrun.template import load_template

    runtime = LocalLambda(load_template(FIXTURE / "template.yaml"))
    inside, release = threading.Barrier(2, timeout=10), threading.Event()
    modules_seen: set[str] = set()

    def hold(event: object, context: object) -> object:
        inside.wait()  # both invocations are running at once
        release.wait(10)
        return {"statusCode": 200, "body": "{}"}

    # every container imports its own module; patch the handler of each as it is created
    from localrun import invoke as invoke_module

    real_import = invoke_module._import_handler

    def import_and_hold(spec: object, suffix: str = "") -> object:
        container = real_import(spec, suffix)  # type: ignore[arg-type]
        modules_seen.add(container.module.__name__)
        return invoke_module._WarmFunction(module=container.module, handler=hold)

    invoke_module._import_handler = import_and_hold  # type: ignore[assignment]
    try:
        runtime._idle.clear()
        runtime._first.clear()
        runtime._containers.clear()
        threads = [threading.Thread(target=runtime.invoke, args=("EchoFunction", {})) for _ in range(2)]
        for thread in threads:
            thread.start()
        release.set()
        for thread in threads:
            thread.join(10)
    finally:
        invoke_module._import_handler = real_import
    assert runtime.containers("EchoFunction") == 2
    assert len(modules_seen) == 2  # two imports of the module: no state shared between them
