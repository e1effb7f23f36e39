"""A small JSON Schema checker for the keywords docs/report.schema.json uses.

jsonschema is not a dependency of notify; this checks ``type``, ``const``, ``enum``,
``pattern``, ``minimum``, ``format: date-time``, ``properties``, ``required``,
``additionalProperties: false`` and ``items``, and refuses any other keyword, so
that the schema cannot silently use one that is not checked.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "integer": int,
    "boolean": bool,
    "null": type(None),
}
_KNOWN = {
    "$schema", "$id", "title", "description", "type", "const", "enum", "pattern", "minimum",
    "format", "properties", "required", "additionalProperties", "items",
}  # fmt: skip


def _type_ok(value: Any, name: str) -> bool:
    if name == "integer" and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[name])


def errors(value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    """Every way ``value`` does not fit ``schema``, as ``path: problem`` lines."""
    unknown = set(schema) - _KNOWN
    if unknown:
        return [f"{where}: schema keyword(s) not checked: {sorted(unknown)}"]
    found: list[str] = []
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else types
        if not any(_type_ok(value, n) for n in names):
            return [f"{where}: {value!r} is not of type {types}"]
    if "const" in schema and value != schema["const"]:
        found.append(f"{where}: {value!r} is not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            found.append(f"{where}: {value!r} does not match {schema['pattern']}")
        if schema.get("format") == "date-time":
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                found.append(f"{where}: {value!r} is not a date-time")
            else:
                if parsed.tzinfo is None:
                    found.append(f"{where}: {value!r} has no UTC offset")
    if isinstance(value, int) and "minimum" in schema and value < schema["minimum"]:
        found.append(f"{where}: {value} is below {schema['minimum']}")
    if isinstance(value, dict):
        found += _object_errors(value, schema, where)
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            found += errors(item, schema["items"], f"{where}[{i}]")
    return found


def _object_errors(value: dict[str, Any], schema: dict[str, Any], where: str) -> list[str]:
    found = [f"{where}: missing {k!r}" for k in schema.get("required", []) if k not in value]
    properties = schema.get("properties", {})
    if schema.get("additionalProperties") is False:
        found += [f"{where}: unexpected {k!r}" for k in value if k not in properties]
    for key, sub in properties.items():
        if key in value:
            found += errors(value[key], sub, f"{where}.{key}")
    return found
