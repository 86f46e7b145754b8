"""Every input the API accepts is bounded: strings have a maxLength, arrays a maxItems, objects few keys.

Read from the committed openapi.json (which CI keeps equal to the code), so a new route or field
without a limit fails here. Strings with a format or pattern that bounds them (uuid, date-time,
enums) need no maxLength of their own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BOUNDED_FORMATS = {"uuid", "date-time", "date", "email", "time", "duration"}


def _document() -> dict[str, Any]:
    return json.loads((ROOT / "openapi.json").read_text())  # type: ignore[no-any-return]


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def _bounded_string(schema: dict[str, Any]) -> bool:
    if "maxLength" in schema or "enum" in schema or "const" in schema:
        return True
    if schema.get("format") in BOUNDED_FORMATS:
        return True
    pattern: str = schema.get("pattern") or ""
    # An anchored pattern without open repetition (^[A-Z]{3}$) bounds the length by itself.
    return bool(pattern) and pattern.startswith("^") and pattern.endswith("$") and not re.search(r"[*+]|,\}", pattern)


def _unbounded(document: dict[str, Any], schema: dict[str, Any], where: str, seen: set[str]) -> Iterator[str]:
    """Paths inside ``schema`` of strings/arrays/maps without a limit."""
    if "$ref" in schema:
        if schema["$ref"] in seen:
            return
        seen = seen | {schema["$ref"]}
    schema = _resolve(document, schema)
    if "max_digits" in schema:
        return  # a Decimal: pydantic refuses more digits than max_digits, as a number or as a string
    for combinator in ("anyOf", "oneOf", "allOf"):
        for index, option in enumerate(schema.get(combinator, [])):
            yield from _unbounded(document, option, f"{where}[{combinator}{index}]", seen)
    kind = schema.get("type")
    if kind == "string" and not _bounded_string(schema):
        yield f"{where}: string without maxLength"
    elif kind == "array":
        yield from _unbounded_array(document, schema, where, seen)
    elif kind == "object" or "properties" in schema:
        yield from _unbounded_object(document, schema, where, seen)


def _unbounded_array(document: dict[str, Any], schema: dict[str, Any], where: str, seen: set[str]) -> Iterator[str]:
    if "maxItems" not in schema:
        yield f"{where}: array without maxItems"
    if "items" in schema:
        yield from _unbounded(document, schema["items"], f"{where}[]", seen)


def _unbounded_object(document: dict[str, Any], schema: dict[str, Any], where: str, seen: set[str]) -> Iterator[str]:
    for name, prop in schema.get("properties", {}).items():
        yield from _unbounded(document, prop, f"{where}.{name}", seen)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        if "maxProperties" not in schema:
            yield f"{where}: map without maxProperties"
        yield from _unbounded(document, extra, f"{where}{{}}", seen)


def test_every_request_body_and_parameter_is_bounded() -> None:
    document = _document()
    problems: list[str] = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            name = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    continue  # bounded by API Gateway's URL limits and parsed into typed values
                problems += _unbounded(document, parameter.get("schema", {}), f"{name} {parameter['name']}", set())
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            if body:
                problems += _unbounded(document, body["schema"], f"{name} body", set())
    assert problems == [], "\n".join(problems)


def test_the_checker_catches_what_it_should() -> None:
    document = {"components": {"schemas": {"Thing": {"type": "object", "properties": {"x": {"type": "string"}}}}}}
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 5}},
            "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 5}},
            "thing": {"$ref": "#/components/schemas/Thing"},
            "id": {"type": "string", "format": "uuid"},
            "kind": {"type": "string", "enum": ["a"]},
            "ok": {"type": "string", "maxLength": 3},
            "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "loose": {"type": "string", "pattern": "^[A-Z]+$"},
            "rate": {"anyOf": [{"type": "number"}, {"type": "string"}], "max_digits": 5},
        },
    }
    assert sorted(_unbounded(document, schema, "b", set())) == [
        "b.labels: map without maxProperties",
        "b.loose: string without maxLength",
        "b.name: string without maxLength",
        "b.tags: array without maxItems",
        "b.thing.x: string without maxLength",
    ]
