"""Read a SAM template into what the local runtime needs: functions, HTTP routes, authorizers, schedules."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TEMPLATE = ROOT / "template.yaml"

# What Lambda uses when neither the function nor Globals say otherwise.
DEFAULT_TIMEOUT_SECONDS = 3
DEFAULT_MEMORY_MB = 128
DEFAULT_REAUTHORIZE_SECONDS = 300
LOCAL_ACCOUNT_ID = "123456789012"
LOCAL_REGION = "us-east-1"
LOCAL_STACK_NAME = "primecloud-local"

_SAM_FUNCTION = "AWS::Serverless::Function"
_SAM_HTTP_API = "AWS::Serverless::HttpApi"
_SAM_LAYER = "AWS::Serverless::LayerVersion"
_IMPLICIT_HTTP_API = "ServerlessHttpApi"


class TemplateError(ValueError):
    """The template says something the local runtime cannot serve."""


# --- YAML with CloudFormation short tags --------------------------------------------------------


class CloudFormationLoader(yaml.SafeLoader):  # type: ignore[misc]  # untyped PyYAML
    """A SafeLoader that reads ``!Ref X`` as ``{"Ref": "X"}`` and ``!Sub ...`` as ``{"Fn::Sub": ...}``."""


def _construct_short_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


CloudFormationLoader.add_multi_constructor("!", _construct_short_tag)


def read_yaml(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as stream:
        document = yaml.load(stream, Loader=CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(document, dict):
        raise TemplateError(f"{path} is not a template (top level is not a mapping)")
    return document


# --- what the runtime consumes ------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionSpec:
    """One ``AWS::Serverless::Function`` with its Globals applied."""

    logical_id: str
    code_uri: Path
    handler: str
    events: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    function_name: str = ""
    timeout: int = DEFAULT_TIMEOUT_SECONDS
    memory_size: int = DEFAULT_MEMORY_MB
    environment: Mapping[str, str] = field(default_factory=dict)
    layers: tuple[Path, ...] = ()

    @property
    def name(self) -> str:
        return self.function_name or self.logical_id

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:function:{self.name}"


@dataclass(frozen=True)
class Authorizer:
    """A Lambda authorizer of an HttpApi (payload 2.0 REQUEST authorizer)."""

    name: str
    function_id: str
    identity_headers: tuple[str, ...] = ("Authorization",)
    identity_query_strings: tuple[str, ...] = ()
    reauthorize_every: int = DEFAULT_REAUTHORIZE_SECONDS
    simple_responses: bool = True
    payload_version: str = "2.0"


@dataclass(frozen=True)
class Route:
    """One HttpApi event: ``method`` is upper case (or ``ANY``); ``path`` may be ``$default``."""

    method: str
    path: str
    function_id: str
    public: bool
    authorizer: Authorizer | None = None
    event_name: str = ""
    api_id: str = _IMPLICIT_HTTP_API

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"


@dataclass(frozen=True)
class Schedule:
    """A Schedule/ScheduleV2 event; ``input`` is the event's fixed Input (parsed JSON) when it sets one."""

    function_id: str
    expression: str
    event_name: str = ""
    enabled: bool = True
    input: Any = None
    kind: str = "Schedule"

    @property
    def rule_name(self) -> str:
        return f"{LOCAL_STACK_NAME}-{self.function_id}{self.event_name}"


@dataclass(frozen=True)
class Cors:
    """An HttpApi CorsConfiguration; API Gateway answers preflights and decorates responses with it."""

    allow_origins: tuple[str, ...] = ("*",)
    allow_methods: tuple[str, ...] = ("*",)
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    allow_credentials: bool = False
    max_age: int | None = None


@dataclass
class Template:
    path: Path
    functions: dict[str, FunctionSpec]
    routes: list[Route]
    schedules: list[Schedule]
    authorizers: dict[str, Authorizer]
    layer_paths: list[Path]
    default_authorizer: Authorizer | None = None  # the HttpApi's Auth.DefaultAuthorizer
    cors: Cors | None = None

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def authorizer_function_id(self) -> str | None:
        authorizer = self.default_authorizer
        return authorizer.function_id if authorizer else None

    @property
    def identity_source_header(self) -> str | None:
        authorizer = self.default_authorizer
        return authorizer.identity_headers[0] if authorizer and authorizer.identity_headers else None

    def function(self, logical_id: str) -> FunctionSpec:
        try:
            return self.functions[logical_id]
        except KeyError:
            raise KeyError(f"no function {logical_id!r} in {self.path.name}") from None

    def function_by_path(self, code_path: str | Path) -> FunctionSpec:
        """The function whose CodeUri is ``code_path`` (relative to the template or the cwd, or absolute)."""
        candidates = {Path(code_path).resolve(), (self.root / code_path).resolve()}
        for spec in self.functions.values():
            if spec.code_uri in candidates:
                return spec
        raise KeyError(f"no function with CodeUri {code_path} in {self.path.name}")

    def find(self, function_id_or_path: str) -> FunctionSpec:
        if function_id_or_path in self.functions:
            return self.functions[function_id_or_path]
        if "/" in function_id_or_path or Path(function_id_or_path).exists():
            return self.function_by_path(function_id_or_path)
        return self.function(function_id_or_path)

    def schedule(self, function_id: str) -> Schedule:
        for schedule in self.schedules:
            if schedule.function_id == function_id:
                return schedule
        raise KeyError(f"function {function_id!r} has no Schedule event in {self.path.name}")


# --- intrinsic functions, as far as the local runtime needs them --------------------------------

_PSEUDO_PARAMETERS = {
    "AWS::Region": LOCAL_REGION,
    "AWS::AccountId": LOCAL_ACCOUNT_ID,
    "AWS::StackName": LOCAL_STACK_NAME,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NoValue": None,
}
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class _Resolver:
    """Evaluates Ref/Sub/If/Join/Equals/FindInMap...; what it cannot know stays as it was written."""

    def __init__(self, document: Mapping[str, Any], parameter_overrides: Mapping[str, str]) -> None:
        self.parameters: dict[str, Any] = dict(_PSEUDO_PARAMETERS)
        for name, definition in (document.get("Parameters") or {}).items():
            if isinstance(definition, Mapping) and "Default" in definition:
                self.parameters[name] = definition["Default"]
        self.parameters.update(parameter_overrides)
        self.mappings: Mapping[str, Any] = document.get("Mappings") or {}
        self.condition_definitions: Mapping[str, Any] = document.get("Conditions") or {}
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.resolve(self.condition_definitions.get(name, True)))
        return self._conditions[name]

    def resolve(self, value: Any) -> Any:  # noqa: C901, PLR0911, PLR0912 - one branch per intrinsic
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, Mapping):
            return value
        if len(value) != 1:
            return {key: self.resolve(item) for key, item in value.items()}
        ((key, argument),) = value.items()
        if key == "Ref":
            return self.parameters.get(argument, value)
        if key == "Condition":
            return self.condition(argument)
        if key == "Fn::Sub":
            return self._sub(argument)
        if key == "Fn::If":
            condition_name, when_true, when_false = argument
            return self.resolve(when_true if self.condition(condition_name) else when_false)
        if key == "Fn::Equals":
            left, right = self.resolve(argument)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not self.resolve(argument[0])
        if key == "Fn::And":
            return all(self.resolve(item) for item in argument)
        if key == "Fn::Or":
            return any(self.resolve(item) for item in argument)
        if key == "Fn::Join":
            separator, items = argument
            parts = self.resolve(items)
            return separator.join(str(part) for part in parts) if isinstance(parts, list) else value
        if key == "Fn::Select":
            index, items = self.resolve(argument)
            return items[int(index)] if isinstance(items, list) else value
        if key == "Fn::FindInMap":
            map_name, top_key, second_key = self.resolve(argument)
            return self.mappings.get(map_name, {}).get(top_key, {}).get(second_key, value)
        return {key: self.resolve(argument)}

    def _sub(self, argument: Any) -> Any:
        if isinstance(argument, list):
            text, variables = argument[0], self.resolve(argument[1])
        else:
            text, variables = argument, {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if name in self.parameters and self.parameters[name] is not None:
                return str(self.parameters[name])
            return match.group(0)

        return _SUB_VARIABLE.sub(replace, text) if isinstance(text, str) else argument


def _referenced_logical_id(value: Any) -> str | None:
    """``!GetAtt X.Arn``, ``!Ref X``, ``!Ref X.Alias`` or ``!Sub ${X.Arn}`` -> ``X``."""
    if isinstance(value, Mapping) and len(value) == 1:
        ((key, argument),) = value.items()
        if key == "Fn::GetAtt" and isinstance(argument, list) and argument:
            return str(argument[0])
        if key == "Ref" and isinstance(argument, str):
            return argument.removesuffix(".Alias").removesuffix(".Version")  # SAM's X.Alias: X's alias
        if key == "Fn::Sub" and isinstance(argument, str):
            match = _SUB_VARIABLE.search(argument)
            return match.group(1).split(".", 1)[0] if match else None
    return None


def _is_intrinsic(value: Any) -> bool:
    if not isinstance(value, Mapping) or len(value) != 1:
        return False
    key = next(iter(value))
    return key in ("Ref", "Condition") or str(key).startswith("Fn::")


def merge_globals(global_value: Any, own_value: Any) -> Any:
    """SAM Globals: maps merge (an intrinsic is a value, not a map), lists add up, the resource's own value wins."""
    if (
        isinstance(global_value, Mapping)
        and isinstance(own_value, Mapping)
        and not (_is_intrinsic(global_value) or _is_intrinsic(own_value))
    ):
        merged = dict(global_value)
        for key, item in own_value.items():
            merged[key] = merge_globals(global_value[key], item) if key in global_value else item
        return merged
    if isinstance(global_value, list) and isinstance(own_value, list):
        return [*global_value, *own_value]
    return own_value


# --- loading --------------------------------------------------------------------------------------


def load_template(path: Path | str = DEFAULT_TEMPLATE, parameters: Mapping[str, str] | None = None) -> Template:
    """Read ``path`` (a SAM template); ``parameters`` override Parameter defaults."""
    template_path = Path(path).resolve()
    document = read_yaml(template_path)
    resolver = _Resolver(document, parameters or {})
    resources: Mapping[str, Any] = document.get("Resources") or {}
    global_sections: Mapping[str, Any] = document.get("Globals") or {}
    root = template_path.parent

    def deployed(resource: Mapping[str, Any]) -> bool:
        condition = resource.get("Condition")
        return condition is None or resolver.condition(condition)

    layers = {
        logical_id: (root / str(resolver.resolve(resource.get("Properties", {}).get("ContentUri", ".")))).resolve()
        for logical_id, resource in resources.items()
        if resource.get("Type") == _SAM_LAYER and deployed(resource)
    }
    apis = {
        logical_id: merge_globals(global_sections.get("HttpApi") or {}, resource.get("Properties") or {})
        for logical_id, resource in resources.items()
        if resource.get("Type") == _SAM_HTTP_API and deployed(resource)
    }
    apis.setdefault(_IMPLICIT_HTTP_API, dict(global_sections.get("HttpApi") or {}))

    authorizers_by_api = {api_id: _authorizers(props, resolver) for api_id, props in apis.items()}
    functions: dict[str, FunctionSpec] = {}
    routes: list[Route] = []
    schedules: list[Schedule] = []
    for logical_id, resource in resources.items():
        if resource.get("Type") != _SAM_FUNCTION or not deployed(resource):
            continue
        properties = merge_globals(global_sections.get("Function") or {}, resource.get("Properties") or {})
        spec = _function_spec(logical_id, properties, resolver, root, layers)
        functions[logical_id] = spec
        for event_name, event in spec.events.items():
            event_type = event.get("Type")
            event_properties = resolver.resolve(event.get("Properties") or {})
            if event_type == "HttpApi":
                routes.append(_route(logical_id, event_name, event_properties, apis, authorizers_by_api))
            elif event_type in {"Schedule", "ScheduleV2"}:
                schedules.append(_schedule(logical_id, event_name, event_type, event_properties))

    used_layers = [path for spec in functions.values() for path in spec.layers]
    fallback_layer = root / "layers" / "common"
    if not used_layers and fallback_layer.is_dir():
        used_layers.append(fallback_layer.resolve())
    all_authorizers = {name: a for by_name in authorizers_by_api.values() for name, a in by_name.items()}
    default_names = [(props.get("Auth") or {}).get("DefaultAuthorizer") for props in apis.values()]
    unknown = {a.function_id for a in all_authorizers.values()} - functions.keys()
    if unknown:
        raise TemplateError(f"authorizer function(s) {sorted(unknown)} are not functions of the template")
    return Template(
        path=template_path,
        functions=functions,
        routes=routes,
        schedules=schedules,
        authorizers=all_authorizers,
        layer_paths=list(dict.fromkeys(used_layers)),
        default_authorizer=next((all_authorizers[n] for n in default_names if n in all_authorizers), None),
        cors=next((c for c in (_cors(p, resolver) for p in apis.values()) if c is not None), None),
    )


def _function_spec(
    logical_id: str,
    properties: Mapping[str, Any],
    resolver: _Resolver,
    root: Path,
    layers: Mapping[str, Path],
) -> FunctionSpec:
    code_uri = resolver.resolve(properties.get("CodeUri", "."))
    if not isinstance(code_uri, str):
        raise TemplateError(f"{logical_id}: CodeUri must be a local folder, not {code_uri!r}")
    handler = resolver.resolve(properties.get("Handler"))
    if not isinstance(handler, str) or "." not in handler:
        raise TemplateError(f"{logical_id}: Handler must look like module.function, not {handler!r}")
    variables = resolver.resolve((properties.get("Environment") or {}).get("Variables") or {})
    function_name = resolver.resolve(properties.get("FunctionName", ""))
    layer_ids = [str(_referenced_logical_id(layer)) for layer in properties.get("Layers") or []]
    return FunctionSpec(
        logical_id=logical_id,
        code_uri=(root / code_uri).resolve(),
        handler=handler,
        events=dict(properties.get("Events") or {}),
        function_name=function_name if isinstance(function_name, str) else "",
        timeout=int(resolver.resolve(properties.get("Timeout", DEFAULT_TIMEOUT_SECONDS))),
        memory_size=int(resolver.resolve(properties.get("MemorySize", DEFAULT_MEMORY_MB))),
        environment={k: str(v) for k, v in variables.items() if isinstance(v, str | int | float | bool)},
        layers=tuple(layers[layer_id] for layer_id in layer_ids if layer_id in layers),
    )


def _authorizers(api_properties: Mapping[str, Any], resolver: _Resolver) -> dict[str, Authorizer]:
    found: dict[str, Authorizer] = {}
    for name, definition in ((api_properties.get("Auth") or {}).get("Authorizers") or {}).items():
        function_id = _referenced_logical_id(definition.get("FunctionArn"))
        if function_id is None:
            continue  # a JWT authorizer: nothing to run locally
        identity = resolver.resolve(definition.get("Identity") or {})
        found[name] = Authorizer(
            name=name,
            function_id=function_id,
            identity_headers=tuple(identity.get("Headers") or (() if identity else ("Authorization",))),
            identity_query_strings=tuple(identity.get("QueryStrings") or ()),
            reauthorize_every=int(identity.get("ReauthorizeEvery", DEFAULT_REAUTHORIZE_SECONDS)),
            simple_responses=bool(resolver.resolve(definition.get("EnableSimpleResponses", False))),
            payload_version=str(resolver.resolve(definition.get("AuthorizerPayloadFormatVersion", "2.0"))),
        )
    return found


def _route(
    function_id: str,
    event_name: str,
    properties: Mapping[str, Any],
    apis: Mapping[str, Mapping[str, Any]],
    authorizers_by_api: Mapping[str, Mapping[str, Authorizer]],
) -> Route:
    api_id = _referenced_logical_id(properties.get("ApiId")) or _IMPLICIT_HTTP_API
    if api_id not in apis:
        raise TemplateError(f"{function_id}.{event_name}: ApiId {api_id} is not an HttpApi of the template")
    path = properties.get("Path")
    method = str(properties.get("Method", "ANY")).upper()
    if path is None:
        path, method = "$default", "ANY"  # SAM makes an event without Path/Method the $default route
    auth_name = (properties.get("Auth") or {}).get("Authorizer")
    if auth_name is None:
        auth_name = ((apis[api_id].get("Auth") or {}).get("DefaultAuthorizer")) or "NONE"
    authorizer = None
    if auth_name != "NONE":
        authorizer = authorizers_by_api[api_id].get(auth_name)
        if authorizer is None:
            raise TemplateError(f"{function_id}.{event_name}: no Lambda authorizer named {auth_name}")
    return Route(
        method=method,
        path=str(path),
        function_id=function_id,
        public=authorizer is None,
        authorizer=authorizer,
        event_name=event_name,
        api_id=api_id,
    )


def _schedule(function_id: str, event_name: str, event_type: str, properties: Mapping[str, Any]) -> Schedule:
    if event_type == "Schedule":
        expression = properties.get("Schedule", "")
        enabled = properties.get("Enabled", str(properties.get("State", "ENABLED")).upper() == "ENABLED")
    else:
        expression = properties.get("ScheduleExpression", "")
        enabled = str(properties.get("State", "ENABLED")).upper() == "ENABLED"
    raw_input = properties.get("Input")
    return Schedule(
        function_id=function_id,
        expression=str(expression),
        event_name=event_name,
        enabled=bool(enabled),
        input=json.loads(raw_input) if isinstance(raw_input, str) else raw_input,
        kind=event_type,
    )


def _cors(api_properties: Mapping[str, Any], resolver: _Resolver) -> Cors | None:
    config = resolver.resolve(api_properties.get("CorsConfiguration"))
    if not config:
        return None
    if config is True:
        return Cors(allow_headers=("*",))
    if isinstance(config, str):  # a single origin, e.g. "'https://example.com'"
        return Cors(allow_origins=(config.strip("'"),), allow_headers=("*",))
    return Cors(
        allow_origins=tuple(config.get("AllowOrigins") or ()),
        allow_methods=tuple(m.upper() for m in config.get("AllowMethods") or ()),
        allow_headers=tuple(h.lower() for h in config.get("AllowHeaders") or ()),
        expose_headers=tuple(config.get("ExposeHeaders") or ()),
        allow_credentials=bool(config.get("AllowCredentials", False)),
        max_age=int(config["MaxAge"]) if "MaxAge" in config else None,
    )
