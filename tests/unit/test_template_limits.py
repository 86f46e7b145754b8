"""Limits the template sets: API throttling (stage and per route), bounded job concurrency, timeouts."""

from __future__ import annotations

from typing import Any

from tests.template_loader import functions, load_template, resources

# Routes that guess at secrets or send mail get their own, lower throttle.
SENSITIVE_ROUTES = {
    ("POST", "/v1/auth/signup"),
    ("POST", "/v1/auth/login"),
    ("POST", "/v1/auth/refresh"),
    ("POST", "/v1/auth/password-reset"),
    ("POST", "/v1/auth/password-reset/confirm"),
    ("POST", "/v1/invitations/accept"),
    ("GET", "/v1/shares/{token}"),
}


def _http_events() -> dict[tuple[str, str], dict[str, Any]]:
    events = {}
    for properties in functions().values():
        for event in (properties.get("Events") or {}).values():
            if event["Type"] == "HttpApi":
                props = event["Properties"]
                events[(props["Method"].upper(), props["Path"])] = props
    return events


def test_the_stage_throttles_every_route_by_default() -> None:
    (api,) = resources("AWS::Serverless::HttpApi").values()
    settings = api["Properties"]["DefaultRouteSettings"]
    assert settings["ThrottlingBurstLimit"] == {"Ref": "ApiThrottlingBurstLimit"}
    assert settings["ThrottlingRateLimit"] == {"Ref": "ApiThrottlingRateLimit"}


def test_sensitive_routes_have_a_lower_throttle_of_their_own() -> None:
    events = _http_events()
    parameters = load_template()["Parameters"]
    for route in SENSITIVE_ROUTES:
        settings = events[route].get("RouteSettings")
        assert settings == {
            "ThrottlingBurstLimit": {"Ref": "SensitiveRouteBurstLimit"},
            "ThrottlingRateLimit": {"Ref": "SensitiveRouteRateLimit"},
        }, route
    assert parameters["SensitiveRouteBurstLimit"]["Default"] < parameters["ApiThrottlingBurstLimit"]["Default"]
    assert parameters["SensitiveRouteRateLimit"]["Default"] < parameters["ApiThrottlingRateLimit"]["Default"]


def test_every_job_and_queue_worker_has_reserved_concurrency() -> None:
    # Bounded concurrency keeps the database's connection count bounded whatever the backlog.
    for logical_id, properties in functions().items():
        events = (properties.get("Events") or {}).values()
        if any(event["Type"] in ("ScheduleV2", "Schedule", "SQS") for event in events):
            assert properties.get("ReservedConcurrentExecutions") is not None, logical_id


def test_every_function_has_a_timeout() -> None:
    for logical_id, properties in functions().items():
        assert isinstance(properties.get("Timeout"), int) and properties["Timeout"] <= 900, logical_id


def test_every_function_publishes_an_alias_snapstart_can_restore() -> None:
    template = load_template()
    globals_ = template["Globals"]["Function"]
    assert globals_["AutoPublishAlias"] == "live"
    assert globals_["SnapStart"] == {"ApplyOn": {"Fn::If": ["UseSnapStart", "PublishedVersions", "None"]}}
    assert template["Parameters"]["EnableSnapStart"]["Default"] == "false"  # opt in: snapshots are billed
    assert template["Conditions"]["UseSnapStart"] == {"Fn::Equals": [{"Ref": "EnableSnapStart"}, "true"]}


def test_the_authorizer_can_be_kept_warm_but_not_with_snapstart() -> None:
    template = load_template()
    assert template["Parameters"]["AuthorizerProvisionedConcurrency"]["Default"] == 0  # opt in: it is billed
    assert template["Conditions"]["WarmAuthorizer"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AuthorizerProvisionedConcurrency"}, "0"]}]
    }
    config = functions()["AuthorizerFunction"]["ProvisionedConcurrencyConfig"]
    assert config == {
        "Fn::If": [
            "WarmAuthorizer",
            {"ProvisionedConcurrentExecutions": {"Ref": "AuthorizerProvisionedConcurrency"}},
            {"Ref": "AWS::NoValue"},
        ]
    }
    # Lambda refuses both on one version: the stack says so before deploying anything.
    rule = template["Rules"]["SnapStartOrProvisionedConcurrency"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "EnableSnapStart"}, "true"]}
    assert rule["Assertions"][0]["Assert"] == {"Fn::Equals": [{"Ref": "AuthorizerProvisionedConcurrency"}, "0"]}
