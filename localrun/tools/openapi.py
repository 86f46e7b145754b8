"""The OpenAPI document of the API, generated from the handlers themselves (``python -m localrun openapi``).

Every function of the template with HttpApi events is imported the way the local runtime imports it
(``LocalLambda``) and its resolver describes its own routes (Powertools ``get_openapi_schema``: path and
query parameters, request bodies and responses from the type hints and pydantic models). The schemas
are merged with Powertools' ``OpenAPIMerge``. What Powertools cannot know is added per operation:

- ``security``: ``bearerAuth`` unless the template routes it with ``Auth: {Authorizer: NONE}``;
- ``tags``: the function's area (``functions/<area>/<op>``); ``operationId``: the handler function's
  name; ``summary``: the module docstring after ``METHOD /path:``;
- the success status: the decorator's ``status_code``, or what the handler returns through
  ``created()`` (201), ``accepted()`` (202) or ``no_content()`` (204);
- the problem+json errors (``Problem``): what its access dependency can answer
  (``primecloud.api.ACCESS_PROBLEMS``), 401 on an authorized route, what the handler itself raises
  (``raise NotFound(...)``), 400/422 when it takes a body/parameters, 500. These replace Powertools'
  default 422 ``HTTPValidationError`` and 500 ``ResponseValidationError``, which are not what the
  API answers. A handler's own ``responses=`` entries win; one for an error without ``content``
  (``{409: {"description": "..."}}``) is documented as ``Problem``.

``openapi.json`` is committed; ``--check`` (CI) fails when it is stale or its routes are not the template's.
The local gateway serves it at ``/openapi.json`` and Swagger UI at ``/docs`` (assets shipped with Powertools).
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import inspect
import json
import textwrap
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any, get_args, get_origin, get_type_hints

from localrun.invoke import LocalLambda
from localrun.template import DEFAULT_TEMPLATE, ROOT, FunctionSpec, Route, Template, load_template

TITLE = "PrimeCloud API"
OPENAPI_FILE = "openapi.json"  # next to the template
BEARER_AUTH = "bearerAuth"
PROBLEM_JSON = "application/problem+json"  # primecloud.api.PROBLEM_JSON (not imported: the layer may be off sys.path)
REGENERATE = "run `python -m localrun openapi` and commit openapi.json"
_REF = "#/components/schemas/"
_RESPONSE_REF = "#/components/responses/"
_SUCCESS = 200

DESCRIPTION = """\
The PrimeCloud backend: the API of a multi-tenant storage cloud.

**Authentication**: `Authorization: Bearer <token>`, a session access token (`pca_...`) or an API key
(`pck_...`). Operations without a security requirement are public.

**Errors** are RFC 9457 problem details (`application/problem+json`, the `Problem` schema); a 422 lists
the rejected inputs in `errors[].field` (`body.email`, `query.limit`). Two answers come from API Gateway
itself, as `{"message": ...}`: 401 when the token is missing or refused, and 500 when a function fails.
"""

_PROBLEM_DESCRIPTIONS = {
    400: "Malformed request: the body is not valid JSON",
    401: 'Missing or invalid credentials (from API Gateway: `{"message": "Unauthorized"}`)',
    403: "Not allowed: the caller's role, the API key's scopes, or a suspended account",
    404: "Not found, or not visible to the caller",
    409: "Conflicts with the current state",
    422: "Invalid request: `errors[].field` names each rejected input",
    429: "Too many requests",
    500: 'Internal error (from API Gateway when the function fails: `{"message": "Internal Server Error"}`)',
    503: "The database or another dependency is unavailable",
}
# Statuses whose answer may come from API Gateway rather than from the function.
_GATEWAY_ANSWERS = {401, 500}
# The problem responses operations share, as components.responses (an operation's own, with its own
# description, stays inline).
_SHARED_RESPONSES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    422: "InvalidRequest",
    429: "TooManyRequests",
    500: "InternalError",
    503: "Unavailable",
}


_IDEMPOTENCY_KEY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "A unique string of the client's (1-255 printable ASCII characters). A retry with the same key within "
        "24 hours replays the first response (header `Idempotent-Replayed: true`) instead of acting again; the "
        "same key with another body is 422, a retry while the first request runs is 409."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$"},
}


class OpenAPIError(RuntimeError):
    """The handlers cannot be described as one consistent document."""


# --- generation -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Operation:
    """What the document says about one route beyond what Powertools generated."""

    tag: str
    public: bool
    summary: str | None
    description: str | None
    operation_id: str | None  # None: keep the one the decorator gave
    success: tuple[int, ...]
    problems: tuple[int, ...]
    declared: frozenset[int]  # the handler's own responses= codes, kept as Powertools rendered them
    success_status: int  # where Powertools put the success response
    idempotent: bool = False  # honours an Idempotency-Key header (primecloud.api.idempotency)


def generate(template_path: Path | str = DEFAULT_TEMPLATE) -> dict[str, Any]:
    """The OpenAPI document of every HttpApi function of the template."""
    from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    template = load_template(template_path)
    runtime = LocalLambda(template)  # its own warm modules: nothing shared with a running gateway
    schemes: dict[str, Any] = {
        BEARER_AUTH: HTTPBearer(
            description="A session access token (pca_...) or an API key (pck_...)", bearerFormat="opaque"
        )
    }
    function_ids = sorted({route.function_id for route in template.routes})
    tags: list[Any] = sorted({_area(template.function(fid), template.root) for fid in function_ids})
    merge = OpenAPIMerge(
        title=TITLE,
        version=project_version(template.root),
        description=DESCRIPTION,
        tags=tags,
        security_schemes=schemes,
        on_conflict="error",
    )
    components: dict[str, tuple[str, Any]] = {}
    for function_id in function_ids:
        spec = template.function(function_id)
        try:
            module = runtime.module(function_id)
        except Exception as error:
            raise OpenAPIError(f"{function_id}: its handler does not import: {error!r}") from error
        resolver = _resolver_of(module, function_id)
        operations: dict[tuple[str, str], _Operation] = {}
        for route in _routes_of(resolver):
            operations[(route.method, route.openapi_path)] = _describe(route, module, spec, template)
            _complete_declared_responses(route)
        schema = resolver.get_openapi_schema(title=TITLE, security_schemes=schemes).model_dump(
            mode="json", by_alias=True, exclude_none=True
        )
        _complete(schema, operations)
        _check_components(schema, function_id, components)
        merge.add_schema(schema)
    document: dict[str, Any] = json.loads(merge.get_openapi_json_schema())  # validated by Powertools' model
    _check_operation_ids(document)
    document["paths"] = dict(sorted(document.get("paths", {}).items()))
    document["components"] = _used_components(document)
    return document


def render(document: Mapping[str, Any]) -> str:
    """Pretty JSON as committed: paths and components sorted, everything else in generation order."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def project_version(root: Path = ROOT) -> str:
    with (root / "pyproject.toml").open("rb") as stream:
        return str(tomllib.load(stream)["project"]["version"])


def write(template_path: Path | str = DEFAULT_TEMPLATE, output: Path | None = None) -> Path:
    template_path = Path(template_path).resolve()
    target = output or template_path.parent / OPENAPI_FILE
    target.write_text(render(generate(template_path)), encoding="utf-8")
    return target


def _resolver_of(module: ModuleType, function_id: str) -> Any:
    from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver

    resolvers = [value for value in vars(module).values() if isinstance(value, ApiGatewayResolver)]
    if len(resolvers) != 1:
        raise OpenAPIError(f"{function_id}: expected one resolver (app = app_for(__name__)), found {len(resolvers)}")
    return resolvers[0]


def _routes_of(resolver: Any) -> list[Any]:
    # The Route objects get_openapi_schema() itself iterates; Powertools has no public accessor for them.
    routes: list[Any] = resolver._static_routes + resolver._dynamic_routes
    return [route for route in routes if route.include_in_schema]


def _area(spec: FunctionSpec, root: Path) -> str:
    try:
        parts = spec.code_uri.relative_to(root).parts
    except ValueError:
        parts = spec.code_uri.parts[-2:]
    return parts[1] if len(parts) > 1 and parts[0] == "functions" else parts[0]


def _template_route(template: Template, function_id: str, method: str, path: str) -> Route | None:
    for route in template.routes:
        if route.function_id == function_id and route.method == method and route.path == path:
            return route
    return None


def _describe(route: Any, module: ModuleType, spec: FunctionSpec, template: Template) -> _Operation:
    from primecloud.api import ACCESS_PROBLEMS

    routed = _template_route(template, spec.logical_id, route.method, route.openapi_path)
    public = routed.public if routed is not None else template.default_authorizer is None
    returned, raised = _statuses_in_source(route.func)
    problems = set(raised)
    idempotent = route.method == "POST" and bool(getattr(getattr(module, "app", None), "idempotent", False))
    if idempotent:
        problems.update({400, 409, 422})  # malformed key, a duplicate in flight, a key reused with another body
    for context in _access_contexts(route.func):
        problems.update(next((ACCESS_PROBLEMS[k] for k in context.__mro__ if k in ACCESS_PROBLEMS), ()))
    if not public:
        problems.add(401)  # the authorizer refuses a missing or unknown token
    problems.add(500)
    success = {route.status_code} if route.status_code != _SUCCESS else returned or {_SUCCESS}
    summary, description = _texts(route, module)
    explicit_id = route.operation_id != route._generate_operation_id()
    return _Operation(
        tag=_area(spec, template.root),
        public=public,
        summary=summary,
        description=description,
        operation_id=None if explicit_id else route.func.__name__,
        success=tuple(sorted(success)),
        problems=tuple(sorted(problems)),
        declared=frozenset(int(code) for code in route.responses or {}),
        success_status=route.status_code,
        idempotent=idempotent,
    )


def _complete_declared_responses(route: Any) -> None:
    """Make a handler's own ``responses=`` usable as ``{409: {"description": "Already a member"}}``.

    Powertools gives an error declared without content the success body's schema, and leaves out the
    success response once any response is declared. Only this generator's own import of the handler is
    changed, before its schema is generated: nothing that serves requests.
    """
    if not route.responses:
        return
    declared = dict(route.responses)
    for status, response in declared.items():
        if int(status) >= 400 and "content" not in response:
            declared[status] = {**response, "content": _problem_content(int(status))}
    if not any(200 <= int(status) < 400 for status in declared):  # a declared redirect is the success
        declared[route.status_code] = {"description": HTTPStatus(route.status_code).phrase}
    route.responses = declared


def _texts(route: Any, module: ModuleType) -> tuple[str | None, str | None]:
    """Summary from the module docstring ("POST /v1/x: create an x."), description from the function's."""
    summary = route.summary
    if summary is None:
        first_line = (inspect.getdoc(module) or "").split("\n", 1)[0]
        prefix = f"{route.method} {route.openapi_path}:"
        if first_line.startswith(prefix):
            text = first_line[len(prefix) :].strip().rstrip(".")
            summary = text[:1].upper() + text[1:] or None
    return summary, route.description or inspect.getdoc(route.func)


def _hints(function: Callable[..., Any]) -> dict[str, Any]:
    try:
        return get_type_hints(function, include_extras=True)
    except Exception:  # an annotation only importable for type checkers: nothing to learn from it
        return {}


def _access_contexts(handler: Callable[..., Any]) -> list[type]:
    """What the handler's Depends(...) dependencies (and theirs) return: PublicContext, AccountContext, ..."""
    from aws_lambda_powertools.event_handler import Depends

    contexts: list[type] = []
    pending, seen = [handler], set()
    while pending:
        function = pending.pop()
        if id(function) in seen:
            continue
        seen.add(id(function))
        for name, hint in _hints(function).items():
            if name == "return" or get_origin(hint) is not Annotated:
                continue
            for marker in get_args(hint)[1:]:
                if isinstance(marker, Depends):
                    returns = _hints(marker.dependency).get("return")
                    if isinstance(returns, type):
                        contexts.append(returns)
                    pending.append(marker.dependency)
    return contexts


def _statuses_in_source(handler: Callable[..., Any]) -> tuple[set[int], set[int]]:
    """Success statuses the handler returns through created()/accepted()/no_content(), and the statuses of
    the PrimeCloudErrors it raises itself (its services' errors are not seen: declare them with responses=)."""
    from primecloud.api import accepted, created, no_content
    from primecloud.errors import PrimeCloudError

    helpers: dict[Any, int] = {created: 201, accepted: 202, no_content: 204}
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(handler)))
    except (OSError, TypeError, SyntaxError):
        return set(), set()
    namespace = getattr(handler, "__globals__", {})
    returned: set[int] = set()
    raised: set[int] = set()
    plain_return = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Return):
            call = node.value.func if isinstance(node.value, ast.Call) else None
            target = _lookup(call, namespace) if call is not None else None
            if any(target is helper for helper in helpers):
                returned.add(helpers[target])
            else:
                plain_return = True
        elif isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            target = _lookup(exc, namespace)
            if isinstance(target, type) and issubclass(target, PrimeCloudError):
                raised.add(target.status)
    if returned and plain_return:
        returned.add(_SUCCESS)
    return returned, raised


def _lookup(node: ast.expr, namespace: Mapping[str, Any]) -> Any:
    """The object a name (``created``) or dotted name (``errors.NotFound``) refers to in the module."""
    if isinstance(node, ast.Name):
        return namespace.get(node.id)
    if isinstance(node, ast.Attribute):
        owner = _lookup(node.value, namespace)
        return getattr(owner, node.attr, None) if owner is not None else None
    return None


def _complete(schema: dict[str, Any], operations: Mapping[tuple[str, str], _Operation]) -> None:
    """Add to one resolver's schema what Powertools cannot know (see the module docstring)."""
    from pydantic import BaseModel, Field

    from primecloud.schemas.common import Problem

    class GatewayMessage(BaseModel):
        """API Gateway's own answer, when it refuses a request or the function fails."""

        message: str = Field(examples=["Unauthorized"])

    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for model in (Problem, GatewayMessage):
        schemas[model.__name__] = model.model_json_schema(ref_template=_REF + "{model}")
    shared = components.setdefault("responses", {})
    for status, name in _SHARED_RESPONSES.items():
        shared[name] = {"description": _PROBLEM_DESCRIPTIONS[status], "content": _problem_content(status)}
    for path, path_item in schema.get("paths", {}).items():
        for method, operation in path_item.items():
            described = operations.get((method.upper(), path))
            if described is None:
                continue
            operation["tags"] = operation.get("tags") or [described.tag]
            if described.summary:
                operation["summary"] = described.summary
            if described.description:
                operation["description"] = described.description
            if described.operation_id:
                operation["operationId"] = described.operation_id
            if described.public:
                operation.pop("security", None)
            else:
                operation["security"] = [{BEARER_AUTH: []}]
            if described.idempotent:
                operation.setdefault("parameters", []).append(_IDEMPOTENCY_KEY_PARAMETER)
            operation["responses"] = _responses(operation, described)


def _responses(operation: Mapping[str, Any], described: _Operation) -> dict[str, Any]:
    generated: Mapping[str, Any] = operation.get("responses", {})
    responses = {code: generated[code] for code in generated if int(code) in described.declared}
    success = generated.get(str(described.success_status), {})
    for status in described.success:
        if status not in described.declared:
            entry = {"description": HTTPStatus(status).phrase}
            if status != HTTPStatus.NO_CONTENT and "content" in success:
                entry["content"] = success["content"]
            responses[str(status)] = entry
    problems = set(described.problems)
    if operation.get("parameters") or operation.get("requestBody"):
        problems.add(422)
    if operation.get("requestBody"):
        problems.add(400)
    for status in sorted(problems - described.declared):
        if status in _SHARED_RESPONSES:
            responses[str(status)] = {"$ref": _RESPONSE_REF + _SHARED_RESPONSES[status]}
        else:
            responses[str(status)] = {"description": HTTPStatus(status).phrase, "content": _problem_content(status)}
    return dict(sorted(responses.items()))


def _problem_content(status: int) -> dict[str, Any]:
    content: dict[str, Any] = {PROBLEM_JSON: {"schema": {"$ref": _REF + "Problem"}}}
    if status in _GATEWAY_ANSWERS:
        content["application/json"] = {"schema": {"$ref": _REF + "GatewayMessage"}}
    return content


def _check_components(schema: Mapping[str, Any], function_id: str, seen: dict[str, tuple[str, Any]]) -> None:
    """OpenAPIMerge keeps the last schema of a name: two different models of one name would be lost silently."""
    for name, definition in schema.get("components", {}).get("schemas", {}).items():
        first = seen.setdefault(name, (function_id, definition))
        if first[1] != definition:
            raise OpenAPIError(
                f"two different schemas are both named {name!r} ({first[0]} and {function_id}): rename one model"
            )


def _check_operation_ids(document: Mapping[str, Any]) -> None:
    owners: dict[str, str] = {}
    for path, method, operation in iter_operations(document):
        owner = owners.setdefault(operation["operationId"], f"{method.upper()} {path}")
        if owner != f"{method.upper()} {path}":
            raise OpenAPIError(
                f"operationId {operation['operationId']!r} is used by {owner} and {method.upper()} {path}: "
                "rename a handler function or give it operation_id=... in its route decorator"
            )


def _used_components(document: Mapping[str, Any]) -> dict[str, Any]:
    """components with only the schemas and responses the operations use, directly or through others.

    Drops what Powertools adds to every resolver's schema and the document no longer uses once the
    problem+json responses replace its defaults (HTTPValidationError, ValidationError, ResponseValidationError),
    and the shared responses no operation needs.
    """
    components: dict[str, Any] = dict(document.get("components", {}))
    used: dict[str, dict[str, Any]] = {"schemas": {}, "responses": {}}
    pending = list(_refs(document.get("paths", {})))
    while pending:
        kind, name = pending.pop()
        available = components.get(kind, {})
        if kind in used and name not in used[kind] and name in available:
            used[kind][name] = available[name]
            pending.extend(_refs(available[name]))
    for kind, found in used.items():
        if found:
            components[kind] = {name: found[name] for name in sorted(found)}
        else:
            components.pop(kind, None)
    return components


def _refs(value: Any) -> Iterable[tuple[str, str]]:
    """("schemas", "Problem") for every "$ref": "#/components/schemas/Problem" in ``value``."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str) and item.startswith("#/components/"):
                kind, _, name = item.removeprefix("#/components/").partition("/")
                yield kind, name
            else:
                yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


# --- reading a document ---------------------------------------------------------------------------

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def iter_operations(document: Mapping[str, Any]) -> Iterable[tuple[str, str, dict[str, Any]]]:
    """(path, method, operation) for every operation of an OpenAPI document."""
    for path, path_item in document.get("paths", {}).items():
        for method, operation in path_item.items():
            if method in _METHODS:
                yield path, method, operation


def document_routes(document: Mapping[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, method, _ in iter_operations(document)}


def template_routes(template: Template) -> set[tuple[str, str]]:
    return {(route.method, route.path) for route in template.routes}


# --- the drift check ------------------------------------------------------------------------------


def check(
    template_path: Path | str = DEFAULT_TEMPLATE,
    committed_path: Path | None = None,
    generated: Mapping[str, Any] | None = None,
) -> list[str]:
    """What is wrong with the committed openapi.json (nothing: an empty list).

    ``generated`` is what ``generate(template_path)`` gives, when the caller has it already.
    """
    template_path = Path(template_path).resolve()
    committed_path = committed_path or template_path.parent / OPENAPI_FILE
    template = load_template(template_path)
    if generated is None:
        generated = generate(template_path)
    problems: list[str] = []
    routes = template_routes(template)
    problems += _route_differences(routes, document_routes(generated), "template.yaml", "the handlers' decorators")
    if not committed_path.is_file():
        return [*problems, f"{committed_path.name} is missing: {REGENERATE}"]
    committed_text = committed_path.read_text(encoding="utf-8")
    try:
        committed = json.loads(committed_text)
    except ValueError as error:
        return [*problems, f"{committed_path.name} is not JSON ({error}): {REGENERATE}"]
    problems += _route_differences(routes, document_routes(committed), "template.yaml", committed_path.name)
    if committed_text != render(generated):
        problems.append(f"{committed_path.name} is not what the code generates: {REGENERATE}")
        problems += ["  " + line for line in summarize_changes(committed, generated)]
        problems += ["  " + line for line in _short_diff(committed_text, render(generated), committed_path.name)]
    return problems


def _route_differences(
    expected: set[tuple[str, str]], actual: set[tuple[str, str]], left: str, right: str
) -> list[str]:
    lines = [f"{method} {path}: in {left}, not in {right}" for method, path in sorted(expected - actual)]
    lines += [f"{method} {path}: in {right}, not in {left}" for method, path in sorted(actual - expected)]
    return lines


def summarize_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Which operations and schemas were added, removed or changed between two documents."""
    lines: list[str] = []
    old_ops = {(m.upper(), p): op for p, m, op in iter_operations(old)}
    new_ops = {(m.upper(), p): op for p, m, op in iter_operations(new)}
    for key in sorted(old_ops.keys() | new_ops.keys()):
        change = _change(old_ops.get(key), new_ops.get(key))
        if change:
            lines.append(f"{change} operation {key[0]} {key[1]}")
    old_schemas = old.get("components", {}).get("schemas", {})
    new_schemas = new.get("components", {}).get("schemas", {})
    for name in sorted(old_schemas.keys() | new_schemas.keys()):
        change = _change(old_schemas.get(name), new_schemas.get(name))
        if change:
            lines.append(f"{change} schema {name}")
    rest_old = {k: v for k, v in old.items() if k not in ("paths", "components")}
    rest_new = {k: v for k, v in new.items() if k not in ("paths", "components")}
    if rest_old != rest_new or _without_schemas(old) != _without_schemas(new):
        lines.append("changed: document metadata (info, tags, servers or security schemes)")
    if not lines and old != new:
        lines.append("changed: formatting or key order only")
    return lines


def _without_schemas(document: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.get("components", {}).items() if k != "schemas"}


def _change(old: Any, new: Any) -> str | None:
    if old == new:
        return None
    if old is None:
        return "added:"
    return "removed:" if new is None else "changed:"


def _short_diff(old: str, new: str, name: str, limit: int = 40) -> list[str]:
    diff = list(
        difflib.unified_diff(
            old.splitlines(), new.splitlines(), f"{name} (committed)", f"{name} (generated)", lineterm=""
        )
    )
    if len(diff) > limit:
        diff = [*diff[:limit], f"... {len(diff) - limit} more diff lines"]
    return diff


# --- Swagger UI (served by the local gateway) -----------------------------------------------------

# Swagger UI 5 (OpenAPI 3.1) as Powertools ships it for its own enable_swagger(): nothing from a CDN.
_DOCS_ASSETS = {
    "swagger-ui-bundle.min.js": "text/javascript; charset=utf-8",
    "swagger-ui.min.css": "text/css; charset=utf-8",
}

DOCS_PAGE = """\
<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>PrimeCloud API (local)</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="/docs/swagger-ui.min.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.min.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      persistAuthorization: true,
      validatorUrl: null,
      presets: [SwaggerUIBundle.presets.apis],
      layout: "BaseLayout",
    });
  </script>
</body>
</html>
"""


def _swagger_ui_dir() -> Path:
    found = importlib.util.find_spec("aws_lambda_powertools")  # located, not imported
    if found is None or found.origin is None:
        raise FileNotFoundError("aws_lambda_powertools is not installed")
    return Path(found.origin).parent / "event_handler" / "openapi" / "swagger_ui"


def docs_file(raw_path: str, root: Path) -> tuple[int, str, bytes] | None:
    """(status, content type, body) for /openapi.json, /docs and /docs/<asset>; None for any other path."""
    if raw_path == "/" + OPENAPI_FILE:
        document = root / OPENAPI_FILE
        if not document.is_file():
            return 404, "text/plain; charset=utf-8", f"{OPENAPI_FILE} is not generated: {REGENERATE}\n".encode()
        return 200, "application/json", document.read_bytes()
    if raw_path in ("/docs", "/docs/"):
        return 200, "text/html; charset=utf-8", DOCS_PAGE.encode()
    name = raw_path.removeprefix("/docs/")
    if name in _DOCS_ASSETS:
        return 200, _DOCS_ASSETS[name], (_swagger_ui_dir() / name).read_bytes()
    return None
