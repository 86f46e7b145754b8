"""template.yaml agrees with the code tree: handlers exist, routes are unique and guarded,
every function has a sample event, and every queue and schedule has somewhere for failures to go."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

from tests.template_loader import ROOT, functions, http_routes, load_template, resources

FUNCTIONS_DIR = ROOT / "functions"

# Routes that answer without the Lambda authorizer (docs/domain.md section 3). Anything else
# must go through it; a route leaves this list only together with its Auth override.
PUBLIC_ROUTES = {
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("POST", "/v1/auth/signup"),
    ("POST", "/v1/auth/login"),
    ("POST", "/v1/auth/refresh"),
    ("POST", "/v1/auth/password-reset"),
    ("POST", "/v1/auth/password-reset/confirm"),
    # POST /v1/invitations/accept is signed in: a new user accepts through signup's invitation_token.
    ("GET", "/v1/shares/{token}"),
    ("GET", "/v1/pricing"),
    ("GET", "/v1/vps-plans"),
}

FUNCTION_IDS = sorted(functions())


def code_dir(props: dict[str, Any]) -> Path:
    return (ROOT / str(props["CodeUri"])).resolve()


def event_file(props: dict[str, Any]) -> Path:
    """functions/<area>/<op>/ -> events/<area>/<op>.json"""
    area_op = code_dir(props).relative_to(FUNCTIONS_DIR)
    return ROOT / "events" / area_op.with_suffix(".json")


def module_level_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8"), filename=str(path)).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def ref_target(value: Any) -> str | None:
    """The logical id behind !Ref X or !GetAtt X.Attr."""
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    return None


@pytest.mark.parametrize("logical_id", FUNCTION_IDS)
def test_function_handler_exists_in_its_code_uri(logical_id: str) -> None:
    props = functions()[logical_id]
    module, _, attribute = props["Handler"].rpartition(".")
    source = code_dir(props) / (module.replace(".", "/") + ".py")
    assert source.is_file(), f"{logical_id}: {source.relative_to(ROOT)} does not exist"
    assert attribute in module_level_names(source), f"{logical_id}: {source.name} defines no {attribute}"


def test_every_handler_folder_is_deployed_by_exactly_one_function() -> None:
    referenced: dict[Path, list[str]] = {}
    for logical_id, props in functions().items():
        referenced.setdefault(code_dir(props), []).append(logical_id)
    handler_dirs = {path.parent.resolve() for path in FUNCTIONS_DIR.rglob("app.py")}

    assert {d: ids for d, ids in referenced.items() if len(ids) > 1} == {}
    assert sorted(str(d.relative_to(ROOT)) for d in handler_dirs - referenced.keys()) == []


def test_no_http_route_is_declared_twice() -> None:
    seen: dict[tuple[str, str], str] = {}
    duplicates = []
    for method, path, logical_id, _ in http_routes():
        if (method, path) in seen:
            duplicates.append(f"{method} {path}: {seen[method, path]} and {logical_id}")
        seen[method, path] = logical_id
    assert duplicates == []


@pytest.mark.parametrize("logical_id", FUNCTION_IDS)
def test_function_has_a_sample_event(logical_id: str) -> None:
    props = functions()[logical_id]
    path = event_file(props)
    assert path.is_file(), f"{logical_id}: add {path.relative_to(ROOT)}"
    event = json.loads(path.read_text(encoding="utf-8"))

    route_keys = {f"{method} {route}" for method, route, owner, _ in http_routes() if owner == logical_id}
    if route_keys:  # an API function's sample is a payload-2.0 request for one of its routes
        assert event["version"] == "2.0"
        assert event["routeKey"] in route_keys
        assert event["requestContext"]["routeKey"] == event["routeKey"]


def test_http_api_uses_the_lambda_authorizer_by_default() -> None:
    (api,) = resources("AWS::Serverless::HttpApi").values()
    auth = api["Properties"]["Auth"]
    assert auth["DefaultAuthorizer"] == "LambdaAuthorizer"
    assert list(auth["Authorizers"]) == ["LambdaAuthorizer"]  # a route can only use it or opt out
    authorizer = auth["Authorizers"]["LambdaAuthorizer"]
    # its alias: the published version, which SnapStart (EnableSnapStart) restores from a snapshot
    assert ref_target(authorizer["FunctionArn"]) == "AuthorizerFunction.Alias"
    assert authorizer["AuthorizerPayloadFormatVersion"] == "2.0"
    assert authorizer["EnableSimpleResponses"] is True


def test_only_allow_listed_routes_skip_the_authorizer() -> None:
    routes = http_routes()
    opened = [f"{m} {p} ({fid})" for m, p, fid, public in routes if public and (m, p) not in PUBLIC_ROUTES]
    guarded = [f"{m} {p} ({fid})" for m, p, fid, public in routes if not public and (m, p) in PUBLIC_ROUTES]
    assert opened == [], "public route missing from PUBLIC_ROUTES"
    assert guarded == [], "route in PUBLIC_ROUTES must declare Auth: Authorizer: NONE"


def test_sqs_consumers_report_batch_item_failures_within_the_visibility_timeout() -> None:
    queues = resources("AWS::SQS::Queue")
    consumers = 0
    for logical_id, props in functions().items():
        for event in props.get("Events", {}).values():
            if event["Type"] != "SQS":
                continue
            consumers += 1
            assert "ReportBatchItemFailures" in event["Properties"].get("FunctionResponseTypes", []), logical_id
            queue = queues[str(ref_target(event["Properties"]["Queue"]))]
            # AWS's guidance: at least 6x the consumer's timeout, so retries never overlap a live attempt.
            assert queue["Properties"]["VisibilityTimeout"] >= 6 * props["Timeout"], logical_id
    assert consumers > 0


def dead_letter_queues() -> set[str]:
    """Queues that receive failures: redrive targets and schedules' DeadLetterConfig."""
    targets = {
        ref_target(queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
        for queue in resources("AWS::SQS::Queue").values()
        if "RedrivePolicy" in queue.get("Properties", {})
    }
    for props in functions().values():
        for event in props.get("Events", {}).values():
            if "DeadLetterConfig" in event.get("Properties", {}):
                targets.add(ref_target(event["Properties"]["DeadLetterConfig"]["Arn"]))
    return {target for target in targets if target is not None}


def test_every_work_queue_redrives_to_a_dead_letter_queue() -> None:
    dlqs = dead_letter_queues()
    queues = resources("AWS::SQS::Queue")
    assert dlqs <= queues.keys()
    for logical_id, queue in queues.items():
        if logical_id in dlqs:
            continue
        redrive = queue["Properties"].get("RedrivePolicy")
        assert redrive is not None, f"{logical_id} has no RedrivePolicy"
        assert ref_target(redrive["deadLetterTargetArn"]) in dlqs
        assert 1 <= redrive["maxReceiveCount"] <= 10


def test_every_dead_letter_queue_has_an_alarm() -> None:
    alarmed = {
        ref_target(dimension["Value"])
        for alarm in resources("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"]["Namespace"] == "AWS/SQS"
        and alarm["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
        for dimension in alarm["Properties"]["Dimensions"]
        if dimension["Name"] == "QueueName"
    }
    assert dead_letter_queues() - alarmed == set()


def test_every_schedule_has_a_dead_letter_queue_retries_and_an_error_alarm() -> None:
    alarmed_functions = {
        ref_target(dimension["Value"])
        for alarm in resources("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"]["Namespace"] == "AWS/Lambda" and alarm["Properties"]["MetricName"] == "Errors"
        for dimension in alarm["Properties"]["Dimensions"]
        if dimension["Name"] == "FunctionName"
    }
    scheduled = 0
    for logical_id, props in functions().items():
        for event in props.get("Events", {}).values():
            if event["Type"] not in ("Schedule", "ScheduleV2"):
                continue
            scheduled += 1
            assert "DeadLetterConfig" in event["Properties"], logical_id
            assert "RetryPolicy" in event["Properties"], logical_id
            assert logical_id in alarmed_functions, f"{logical_id} has no Errors alarm"
    assert scheduled > 0


def test_migrations_run_on_deploy_and_ship_with_the_migrate_function() -> None:
    migration = load_template()["Resources"]["DatabaseMigration"]
    assert migration["Type"] == "Custom::Migration"
    # A new function version (new code, migrations included) changes this property -> Update -> upgrade head.
    assert migration["Properties"]["MigrateFunctionVersion"] == {"Ref": "MigrateFunction.Version"}
    shipped = code_dir(functions()["MigrateFunction"]) / "migrations"
    assert shipped.resolve() == (ROOT / "migrations").resolve()


def test_job_timeouts_are_their_functions_timeouts() -> None:
    # primecloud.jobs closes a run as abandoned once it is older than its function's Timeout
    from primecloud.jobs import JOB_TIMEOUTS, JOBS

    started_by = functions()["StartJobRunFunction"]["Environment"]["Variables"]["JOB_FUNCTIONS"]["Fn::Sub"]
    function_of = dict(pair.split("=${") for pair in started_by.rstrip("}").split("},"))
    assert set(function_of) == set(JOBS) == set(JOB_TIMEOUTS)
    for job, logical_id in function_of.items():
        assert JOB_TIMEOUTS[job].total_seconds() == functions()[logical_id]["Timeout"], job


def test_the_access_log_names_the_route_never_the_path() -> None:
    # a path may hold a share token (/v1/shares/{token}); the route key holds the template's path
    (api,) = resources("AWS::Serverless::HttpApi").values()
    log_format = api["Properties"]["AccessLogSettings"]["Format"]
    assert '"routeKey":"$context.routeKey"' in log_format
    assert "$context.path" not in log_format and "$context.resourcePath" not in log_format
