"""template.yaml as plain data, for tests and tools that check what SAM will deploy.

Parsing and Globals merging are localrun.template's (the local gateway reads the template
the same way): short tags become their long form and ``functions()`` applies Globals.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from localrun.template import merge_globals, read_yaml

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"


@cache
def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The parsed template (cached: treat it as read-only)."""
    return read_yaml(path)


def resources(resource_type: str) -> dict[str, dict[str, Any]]:
    """Logical id -> resource (Type, Properties, ...) for every resource of ``resource_type``."""
    return {
        logical_id: resource
        for logical_id, resource in load_template()["Resources"].items()
        if resource["Type"] == resource_type
    }


def functions() -> dict[str, dict[str, Any]]:
    """Logical id -> effective Properties of every AWS::Serverless::Function (Globals applied)."""
    global_props = load_template().get("Globals", {}).get("Function", {})
    return {
        logical_id: merge_globals(global_props, resource.get("Properties", {}))
        for logical_id, resource in resources("AWS::Serverless::Function").items()
    }


def http_routes() -> list[tuple[str, str, str, bool]]:
    """(METHOD, path, function logical id, is_public) for every HttpApi event.

    ``is_public`` is True when the route opts out of the default authorizer
    (``Auth: Authorizer: NONE``).
    """
    routes = []
    for logical_id, props in functions().items():
        for event in props.get("Events", {}).values():
            if event.get("Type") != "HttpApi":
                continue
            event_props = event.get("Properties", {})
            is_public = event_props.get("Auth", {}).get("Authorizer") == "NONE"
            routes.append((event_props["Method"].upper(), event_props["Path"], logical_id, is_public))
    return routes
