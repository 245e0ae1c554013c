"""Checking a model's JSON reply against the JSON Schema it was asked to fill.

:func:`schema_errors` lists where a value breaks a schema, as ``"/pointer: message"`` strings
(empty when it fits). The schema is either a JSON Schema document or a pydantic model class:

- a pydantic model is checked by pydantic itself (``model_validate``: its validators and
  constraints, which its generated JSON Schema only approximates);
- a JSON Schema document is checked by the ``jsonschema`` package (Draft 2020-12) when it is
  installed, else by :func:`builtin_schema_errors`, a checker of the subset of JSON Schema
  that pydantic and the agent's forms write: ``type``, ``enum``, ``const``, ``anyOf``,
  ``oneOf``, ``allOf``, ``not``, local ``$ref`` (``#/...``), ``properties``, ``required``,
  ``additionalProperties``, ``min/maxProperties``, ``items``, ``prefixItems``,
  ``min/maxItems``, ``uniqueItems``, ``minimum``, ``maximum``, the exclusive bounds,
  ``multipleOf``, ``min/maxLength`` and ``pattern``. Other keywords are not checked.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = ["builtin_schema_errors", "json_schema_of", "schema_errors"]

MAX_ERRORS = 20


def json_schema_of(schema: Any) -> dict[str, Any]:
    """The JSON Schema document of ``schema`` (a document, or a pydantic model class)."""
    if isinstance(schema, dict):
        return schema
    dump = getattr(schema, "model_json_schema", None)
    if callable(dump):
        return dict(dump())
    raise TypeError(f"expected a JSON Schema (dict) or a pydantic model class, got {type(schema).__name__}")


def schema_errors(value: Any, schema: Any) -> list[str]:
    """Where ``value`` breaks ``schema`` (at most :data:`MAX_ERRORS`); empty when it fits."""
    if not isinstance(schema, dict) and callable(getattr(schema, "model_validate", None)):
        from pydantic import ValidationError

        try:
            schema.model_validate(value)
        except ValidationError as exc:
            return [f"{_pointer(e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in exc.errors()[:MAX_ERRORS]]
        return []
    document = json_schema_of(schema)
    try:
        from jsonschema import Draft202012Validator  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        return builtin_schema_errors(value, document)[:MAX_ERRORS]
    found = sorted(Draft202012Validator(document).iter_errors(value), key=lambda e: list(map(str, e.path)))
    return [f"{_pointer(e.path)}: {e.message}" for e in found[:MAX_ERRORS]]


def _pointer(parts: Any) -> str:
    text = "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)
    return text or "/"


def _deref(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    for _ in range(64):
        if "$ref" not in schema:
            return schema
        ref = str(schema["$ref"])
        if not ref.startswith("#"):
            raise ValueError(f"unsupported $ref {ref!r} (only local references)")
        node: Any = root
        for part in ref[2:].split("/") if len(ref) > 1 else []:
            node = node[part.replace("~1", "/").replace("~0", "~")]
        schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
    raise ValueError("$ref nesting too deep")


def _type_ok(value: Any, kind: str) -> bool:
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    if kind == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return True


def _same(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but true != 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def builtin_schema_errors(value: Any, schema: Any, root: Any = None, path: str = "") -> list[str]:
    """Where ``value`` breaks ``schema`` (see the module docstring for the keywords checked)."""
    if schema is True or schema == {}:
        return []
    where = path or "/"
    if schema is False:
        return [f"{where}: no value is allowed here"]
    root = schema if root is None else root
    schema = _deref(schema, root)
    errors: list[str] = []
    for sub in schema.get("allOf", []):
        errors += builtin_schema_errors(value, sub, root, path)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            fits = sum(not builtin_schema_errors(value, sub, root, path) for sub in schema[key])
            if fits == 0 or (key == "oneOf" and fits > 1):
                errors.append(f"{where}: {fits} of the {key} branches fit")
    if "not" in schema and not builtin_schema_errors(value, schema["not"], root, path):
        errors.append(f"{where}: matches a schema it must not")
    if "const" in schema and not _same(value, schema["const"]):
        errors.append(f"{where}: expected {json.dumps(schema['const'])}")
    if "enum" in schema and not any(_same(value, e) for e in schema["enum"]):
        errors.append(f"{where}: {json.dumps(value)[:80]} is not one of {json.dumps(schema['enum'])[:200]}")
    kinds = schema.get("type")
    if kinds is not None:
        kinds_list = kinds if isinstance(kinds, list) else [kinds]
        if not any(_type_ok(value, k) for k in kinds_list):
            return [*errors, f"{where}: expected {' or '.join(kinds_list)}, got {_json_type(value)}"]
    if isinstance(value, int | float) and not isinstance(value, bool):
        errors += _number_errors(value, schema, where)
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{where}: shorter than {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{where}: longer than {schema['maxLength']} characters")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{where}: does not match {schema['pattern']!r}")
    if isinstance(value, list):
        errors += _array_errors(value, schema, root, path)
    if isinstance(value, dict):
        errors += _object_errors(value, schema, root, path)
    return errors


def _json_type(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _number_errors(value: float, schema: dict[str, Any], where: str) -> list[str]:
    errors: list[str] = []
    if "minimum" in schema and value < schema["minimum"]:
        errors.append(f"{where}: {value} is less than the minimum {schema['minimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        errors.append(f"{where}: {value} is more than the maximum {schema['maximum']}")
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        errors.append(f"{where}: {value} is not more than {schema['exclusiveMinimum']}")
    if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
        errors.append(f"{where}: {value} is not less than {schema['exclusiveMaximum']}")
    step = schema.get("multipleOf")
    if step and not math.isclose(value / step, round(value / step), abs_tol=1e-9):
        errors.append(f"{where}: {value} is not a multiple of {step}")
    return errors


def _array_errors(value: list[Any], schema: dict[str, Any], root: Any, path: str) -> list[str]:
    where = path or "/"
    errors: list[str] = []
    if len(value) < schema.get("minItems", 0):
        errors.append(f"{where}: fewer than {schema['minItems']} items")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errors.append(f"{where}: more than {schema['maxItems']} items")
    if schema.get("uniqueItems"):
        seen = [json.dumps(v, sort_keys=True) for v in value]
        if len(set(seen)) < len(seen):
            errors.append(f"{where}: items are not unique")
    prefix = schema.get("prefixItems", [])
    for k, item in enumerate(value):
        sub = prefix[k] if k < len(prefix) else schema.get("items", True)
        errors += builtin_schema_errors(item, sub, root, f"{path}/{k}")
    return errors


def _object_errors(value: dict[str, Any], schema: dict[str, Any], root: Any, path: str) -> list[str]:
    where = path or "/"
    properties = schema.get("properties", {})
    errors = [f"{where}: missing {name!r}" for name in schema.get("required", []) if name not in value]
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        child = f"{path}/{key.replace('~', '~0').replace('/', '~1')}"
        if key in properties:
            errors += builtin_schema_errors(item, properties[key], root, child)
        elif extra is False:
            errors.append(f"{where}: unexpected member {key!r}")
        elif isinstance(extra, dict):
            errors += builtin_schema_errors(item, extra, root, child)
    if len(value) < schema.get("minProperties", 0):
        errors.append(f"{where}: fewer than {schema['minProperties']} members")
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        errors.append(f"{where}: more than {schema['maxProperties']} members")
    return errors
