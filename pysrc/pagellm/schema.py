"""A small JSON Schema checker for tool arguments and structured answers (the keywords models are given).

    >>> schema = {"type": "object", "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
    ...           "required": ["city"], "additionalProperties": False}
    >>> validate({"city": "Paris", "population": 2100000}, schema) is None
    True
    >>> validate({"population": "many"}, schema)
    "missing required field 'city'"
    >>> validate({"city": "Paris", "mayor": "?"}, schema)
    "unexpected field 'mayor'"

Keywords: type (one or a list), enum, const, properties, required, additionalProperties, items, minItems,
maxItems, minLength, maxLength, minimum, maximum, anyOf, oneOf, allOf. Others are ignored. Returns the
first problem found, with its path, or None.
"""

from __future__ import annotations

import json
from typing import Any

_TYPES = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool) or isinstance(v, float) and v.is_integer(),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


def validate(value: Any, schema: dict, path: str = "") -> str | None:
    if not isinstance(schema, dict):
        return None
    where = f" at {path}" if path else ""
    kinds = schema.get("type")
    if kinds is not None:
        kinds = kinds if isinstance(kinds, list) else [kinds]
        if not any(_TYPES.get(kind, lambda v: True)(value) for kind in kinds):
            return f"expected {' or '.join(kinds)}{where}, got {json.dumps(value)[:60]}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{json.dumps(value)[:60]}{where} is not one of {json.dumps(schema['enum'])[:120]}"
    if "const" in schema and value != schema["const"]:
        return f"expected {json.dumps(schema['const'])}{where}"
    for key in ("anyOf", "oneOf"):
        if key in schema and all(validate(value, option, path) for option in schema[key]):
            return f"{json.dumps(value)[:60]}{where} matches none of the allowed forms"
    for option in schema.get("allOf", []):
        problem = validate(value, option, path)
        if problem:
            return problem
    if isinstance(value, dict):
        return _object(value, schema, path)
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            return f"expected at least {schema['minItems']} items{where}"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return f"expected at most {schema['maxItems']} items{where}"
        for index, item in enumerate(value):
            problem = validate(item, schema.get("items", {}), f"{path}[{index}]")
            if problem:
                return problem
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            return f"expected at least {schema['minLength']} characters{where}"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return f"expected at most {schema['maxLength']} characters{where}"
    if _TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            return f"{value}{where} is below the minimum {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"{value}{where} is above the maximum {schema['maximum']}"
    return None


def _object(value: dict, schema: dict, path: str) -> str | None:
    properties = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in value:
            return f"missing required field {name!r}" + (f" at {path}" if path else "")
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        child = f"{path}.{name}" if path else name
        if name in properties:
            problem = validate(item, properties[name], child)
        elif extra is False:
            return f"unexpected field {name!r}" + (f" at {path}" if path else "")
        else:
            problem = validate(item, extra, child) if isinstance(extra, dict) else None
        if problem:
            return problem
    return None
