"""openapi.json: generated from the handlers, in step with template.yaml, and served with Swagger UI locally.

When a test here fails after adding or changing an operation: run `python -m localrun openapi` and commit
openapi.json.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import requests

from localrun.gateway import Gateway, GatewayServer, HttpRequest, serve_in_thread
from localrun.template import DEFAULT_TEMPLATE, Route, Template, load_template
from localrun.tools import openapi

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / openapi.OPENAPI_FILE
REGENERATE = f"run `python -m localrun openapi` and commit {openapi.OPENAPI_FILE}"
BEARER: list[dict[str, list[str]]] = [{openapi.BEARER_AUTH: []}]
PROBLEM = {"$ref": "#/components/schemas/Problem"}
GATEWAY_FIXTURE = ROOT / "tests" / "fixtures" / "local_gateway" / "template.yaml"

Operation = tuple[str, str, dict[str, Any]]  # (METHOD, path, operation)


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template(DEFAULT_TEMPLATE)


@pytest.fixture(scope="module")
def generated() -> dict[str, Any]:
    return openapi.generate(DEFAULT_TEMPLATE)


@pytest.fixture(scope="module")
def operations(generated: dict[str, Any]) -> list[Operation]:
    return [(method.upper(), path, op) for path, method, op in openapi.iter_operations(generated)]


@pytest.fixture(scope="module")
def public_routes(template: Template) -> set[tuple[str, str]]:
    return {(route.method, route.path) for route in template.routes if route.public}


def committed_text() -> str:
    assert COMMITTED.is_file(), f"{COMMITTED.name} is missing: {REGENERATE}"
    return COMMITTED.read_text(encoding="utf-8")


# --- openapi.json is what the code says ------------------------------------------------------------


def test_committed_document_is_the_generated_one(generated: dict[str, Any]) -> None:
    text = committed_text()
    if text != openapi.render(generated):
        changes = "\n".join(openapi.summarize_changes(json.loads(text), generated))
        pytest.fail(f"{COMMITTED.name} is stale: {REGENERATE}\n{changes}")


def test_committed_routes_are_the_template_routes(template: Template) -> None:
    in_file = openapi.document_routes(json.loads(committed_text()))
    routed = openapi.template_routes(template)
    assert in_file == routed, (
        f"only in template.yaml: {sorted(routed - in_file)}; only in {COMMITTED.name}: {sorted(in_file - routed)}. "
        f"{REGENERATE}"
    )


def test_every_template_route_is_declared_by_its_handler(template: Template, generated: dict[str, Any]) -> None:
    declared = openapi.document_routes(generated)
    routed = openapi.template_routes(template)
    assert declared == routed, (
        f"routed but no handler declares them: {sorted(routed - declared)}; "
        f"declared by a handler but not routed in template.yaml: {sorted(declared - routed)}"
    )


def test_the_check_passes_and_reports_drift(template: Template, generated: dict[str, Any], tmp_path: Path) -> None:
    assert openapi.check(DEFAULT_TEMPLATE, generated=generated) == [], REGENERATE

    stale = json.loads(committed_text())
    removed_path = "/v1/me"
    del stale["paths"][removed_path]
    stale["info"]["version"] = "0.0.0"
    stale_file = tmp_path / "openapi.json"
    stale_file.write_text(openapi.render(stale), encoding="utf-8")

    problems = openapi.check(DEFAULT_TEMPLATE, stale_file, generated=generated)
    report = "\n".join(problems)
    assert f"GET {removed_path}: in template.yaml, not in openapi.json" in report
    assert f"added: operation GET {removed_path}" in report
    assert "changed: document metadata" in report
    assert "python -m localrun openapi" in report

    stale_file.unlink()
    assert any("is missing" in line for line in openapi.check(DEFAULT_TEMPLATE, stale_file, generated=generated))


# --- what every operation must say -----------------------------------------------------------------


def test_document_header(generated: dict[str, Any]) -> None:
    assert generated["openapi"].startswith("3.1")
    assert generated["info"]["title"] == "PrimeCloud API"
    assert generated["info"]["version"] == openapi.project_version(ROOT)
    assert generated["components"]["securitySchemes"] == {
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "opaque",
            "description": "A session access token (pca_...) or an API key (pck_...)",
        }
    }
    assert "security" not in generated  # per operation: public routes have none


def test_public_routes_have_no_security_and_all_others_need_a_bearer_token(
    operations: list[Operation], public_routes: set[tuple[str, str]]
) -> None:
    assert public_routes, "the template has public routes (health, signup, login)"
    for method, path, operation in operations:
        if (method, path) in public_routes:
            assert not operation.get("security"), f"{method} {path} is public in template.yaml. {REGENERATE}"
        else:
            assert operation.get("security") == BEARER, f"{method} {path} needs bearerAuth. {REGENERATE}"


def test_every_success_response_has_a_schema(operations: list[Operation]) -> None:
    for method, path, operation in operations:
        successes = {code: r for code, r in operation["responses"].items() if code.startswith("2")}
        redirects = {code: r for code, r in operation["responses"].items() if code.startswith("3")}
        assert successes or redirects, f"{method} {path} documents no 2xx or 3xx response"
        for code, response in redirects.items():
            assert "Location" in response.get("headers", {}), f"{method} {path} {code}: a redirect names its Location"
        for code, response in successes.items():
            if code == "204":
                assert "content" not in response, f"{method} {path}: a 204 has no body"
                continue
            content = response.get("content", {})
            assert content, f"{method} {path} {code}: no content"
            assert all("schema" in media for media in content.values()), f"{method} {path} {code}: no schema"


def test_every_operation_has_a_unique_operation_id(operations: list[Operation]) -> None:
    ids = [str(operation.get("operationId") or "") for _, _, operation in operations]
    assert all(ids), [f"{m} {p}" for m, p, op in operations if not op.get("operationId")]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_every_path_parameter_is_declared(operations: list[Operation]) -> None:
    for method, path, operation in operations:
        templated = set(re.findall(r"\{([^}/]+)\}", path))
        declared = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "path"}
        assert set(declared) == templated, f"{method} {path}: path parameters {sorted(declared)}"
        assert all(p["required"] for p in declared.values()), f"{method} {path}: a path parameter is optional"


def resolved(document: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    """A response, or the components.responses entry it refers to."""
    if "$ref" not in response:
        return response
    kind, name = response["$ref"].removeprefix("#/components/").split("/")
    found: dict[str, Any] = document["components"][kind][name]
    return found


def test_errors_are_problem_json(operations: list[Operation], generated: dict[str, Any]) -> None:
    for method, path, operation in operations:
        responses = {code: resolved(generated, r) for code, r in operation["responses"].items()}
        errors = {code: r for code, r in responses.items() if code[0] in "45"}
        assert "500" in errors, f"{method} {path}"
        for code, response in errors.items():
            assert response["content"][openapi.PROBLEM_JSON]["schema"] == PROBLEM, f"{method} {path} {code}"
        if path.startswith("/v1/accounts/{account_id}"):
            assert {"401", "403", "404", "422", "503"} <= errors.keys(), f"{method} {path}: {sorted(errors)}"
        if "requestBody" in operation:
            assert {"400", "422"} <= errors.keys(), f"{method} {path}: {sorted(errors)}"
    # Powertools' own validation-error shapes are not what the API answers: none are left.
    schemas = generated["components"]["schemas"]
    assert not {"HTTPValidationError", "ValidationError", "ResponseValidationError"} & schemas.keys()
    assert schemas["Problem"]["required"] == ["type", "title", "status", "detail"]


def test_every_reference_resolves_and_every_component_is_used(generated: dict[str, Any]) -> None:
    text = json.dumps(generated)
    refs = set(re.findall(r'"\$ref": "#/components/(\w+)/([^"]+)"', text))
    components = generated["components"]
    missing = sorted(f"{kind}/{name}" for kind, name in refs if name not in components.get(kind, {}))
    assert not missing, f"dangling references: {missing}"
    unused = sorted(f"{k}/{n}" for k in ("schemas", "responses") for n in components.get(k, {}) if (k, n) not in refs)
    assert not unused, f"unused components: {unused}"


def test_operations_are_tagged_with_their_area(
    operations: list[Operation], template: Template, generated: dict[str, Any]
) -> None:
    areas = {}
    for route in template.routes:
        code = template.function(route.function_id).code_uri.relative_to(ROOT)
        areas[(route.method, route.path)] = code.parts[1]
    for method, path, operation in operations:
        assert operation["tags"] == [areas[(method, path)]], f"{method} {path}"
    assert [tag["name"] for tag in generated["tags"]] == sorted(set(areas.values()))


def test_statuses_the_handlers_return_and_raise(generated: dict[str, Any]) -> None:
    paths = generated["paths"]
    create_key = paths["/v1/accounts/{account_id}/api-keys"]["post"]["responses"]
    assert create_key["201"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ApiKeyCreated"}
    assert "200" not in create_key
    revoke_key = paths["/v1/accounts/{account_id}/api-keys/{key_id}"]["delete"]["responses"]
    assert "204" in revoke_key
    assert "200" not in revoke_key
    assert "503" in paths["/health/ready"]["get"]["responses"]  # raise Unavailable(...) in the handler
    assert set(paths["/health/live"]["get"]["responses"]) == {"200", "500"}  # no parameters, no database
    # API Gateway's own 401 is {"message": ...}, not problem+json
    unauthorized = resolved(generated, paths["/v1/me"]["get"]["responses"]["401"])
    assert unauthorized["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/GatewayMessage"}
    assert paths["/v1/me"]["get"]["responses"]["401"] == {"$ref": "#/components/responses/Unauthorized"}


# --- served by the local gateway -------------------------------------------------------------------


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value is not None]


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server: GatewayServer
    server, url = serve_in_thread(DEFAULT_TEMPLATE, port=0)
    yield url
    server.shutdown()
    server.server_close()


def test_docs_page_and_its_assets_are_served_locally(base_url: str) -> None:
    page = requests.get(f"{base_url}/docs", timeout=5)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    links = _Links()
    links.feed(page.text)
    assets = [url for url in links.urls if not url.startswith("data:")]
    assert sorted(assets) == ["/docs/swagger-ui-bundle.min.js", "/docs/swagger-ui.min.css"]
    assert "http://" not in page.text
    assert "https://" not in page.text
    assert '"/openapi.json"' in page.text

    script = requests.get(f"{base_url}/docs/swagger-ui-bundle.min.js", timeout=5)
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "SwaggerUIBundle" in script.text
    style = requests.get(f"{base_url}/docs/swagger-ui.min.css", timeout=5)
    assert style.status_code == 200
    assert style.headers["content-type"].startswith("text/css")
    assert requests.get(f"{base_url}/docs/", timeout=5).text == page.text


def test_openapi_json_is_the_committed_file(base_url: str) -> None:
    response = requests.get(f"{base_url}/openapi.json", timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == COMMITTED.read_bytes()


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/docs/index.html"), ("GET", "/docs/../pyproject.toml"), ("POST", "/docs"), ("DELETE", "/openapi.json")],
)
def test_nothing_else_is_served_under_docs(base_url: str, method: str, path: str) -> None:
    response = requests.request(method, f"{base_url}{path}", timeout=5)
    assert response.status_code == 404
    assert response.json() == {"message": "Not Found"}


def test_template_routes_shadow_the_docs() -> None:
    template = load_template(GATEWAY_FIXTURE)
    shadowing = Route("GET", "/docs", "SpecialFunction", public=True)
    gateway = Gateway(dataclasses.replace(template, routes=[*template.routes, shadowing]))
    response = gateway.handle(HttpRequest("GET", "/docs", []))
    assert json.loads(response.body) == {"route": "GET /docs", "helper": "special"}
    # a template without a generated openapi.json says how to make one
    missing = Gateway(template).handle(HttpRequest("GET", "/openapi.json", []))
    assert missing.status == 404
    assert b"python -m localrun openapi" in missing.body


# --- what generation makes of a handler --------------------------------------------------------------

_HANDLER = '''"""POST /v1/accounts/{account_id}/widgets: make a widget."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Depends, Response
from pydantic import BaseModel

from primecloud import errors
from primecloud.api import AccountContext, account_access, app_for, created

app = app_for(__name__)


class WidgetIn(BaseModel):
    name: str


class WidgetOut(BaseModel):
    id: UUID
    name: str


@app.post("/v1/accounts/<account_id>/widgets", responses={409: {"description": "A widget of that name exists"}})
def make_widget(
    account_id: UUID, body: WidgetIn, ctx: Annotated[AccountContext, Depends(account_access("admin"))]
) -> Response[WidgetOut]:
    if body.name == "gone":
        raise errors.Conflict("taken")
    return created(WidgetOut(id=account_id, name=body.name))


@app.get("/v1/widgets/count")
def count_widgets() -> dict[str, int]:
    return {"count": 0}


lambda_handler = app.handler
'''

_TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  CommonLayer:
    Type: AWS::Serverless::LayerVersion
    Properties: {{ContentUri: {layer}}}
  HttpApi:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: LambdaAuthorizer
        Authorizers:
          LambdaAuthorizer: {{FunctionArn: !GetAtt AuthorizerFunction.Arn, EnableSimpleResponses: true}}
  AuthorizerFunction:
    Type: AWS::Serverless::Function
    Properties: {{CodeUri: functions/widgets/make_widget/, Handler: app.lambda_handler, Layers: [!Ref CommonLayer]}}
  MakeWidgetFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/widgets/make_widget/
      Handler: app.lambda_handler
      Layers: [!Ref CommonLayer]
      Events:
        Api:
          Type: HttpApi
          Properties: {{ApiId: !Ref HttpApi, Method: POST, Path: "/v1/accounts/{{account_id}}/widgets"}}
        Public:
          Type: HttpApi
          Properties: {{ApiId: !Ref HttpApi, Method: GET, Path: /v1/widgets, Auth: {{Authorizer: NONE}}}}
"""


@pytest.fixture
def widget_project(tmp_path: Path) -> Path:
    handler = tmp_path / "functions" / "widgets" / "make_widget" / "app.py"
    handler.parent.mkdir(parents=True)
    handler.write_text(_HANDLER, encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "w"\nversion = "9.8.7"\n', encoding="utf-8")
    template = tmp_path / "template.yaml"
    template.write_text(_TEMPLATE.format(layer=ROOT / "layers" / "common"), encoding="utf-8")
    return template


def test_generation_completes_what_powertools_leaves_out(widget_project: Path) -> None:
    document = openapi.generate(widget_project)
    assert document["info"]["version"] == "9.8.7"
    operation = document["paths"]["/v1/accounts/{account_id}/widgets"]["post"]
    assert operation["operationId"] == "make_widget"
    assert operation["summary"] == "Make a widget"
    assert operation["tags"] == ["widgets"]
    assert operation["security"] == BEARER
    responses = operation["responses"]
    # created() -> 201 with the return annotation's model, although the handler declared responses=
    assert responses["201"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/WidgetOut"}
    # the declared 409 keeps its description and answers problem+json, not the success body
    assert responses["409"]["description"] == "A widget of that name exists"
    assert responses["409"]["content"] == {openapi.PROBLEM_JSON: {"schema": PROBLEM}}
    assert sorted(responses) == ["201", "400", "401", "403", "404", "409", "422", "500", "503"]

    # a route the handler declares and the template does not (and the reverse) fail the check
    problems = openapi.check(widget_project, generated=document)
    assert "GET /v1/widgets: in template.yaml, not in the handlers' decorators" in problems
    assert "GET /v1/widgets/count: in the handlers' decorators, not in template.yaml" in problems
    assert any("openapi.json is missing" in line for line in problems)

    openapi.write(widget_project)
    problems = openapi.check(widget_project, generated=document)
    assert "GET /v1/widgets/count: in openapi.json, not in template.yaml" in problems
    assert not any("not what the code generates" in line for line in problems)
