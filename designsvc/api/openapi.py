"""The OpenAPI document: FastAPI's, plus the request bodies the routes read raw, and every
error response as ``application/problem+json``.

The spec and batch bodies are parsed by designsvc itself (so their errors carry designsvc's
pointers), so FastAPI does not see their models; this hook publishes them as the components
``JobCreate`` (:class:`~designsvc.core.spec.JobSpec`) and ``BatchCreate``
(:class:`~designsvc.services.batches.BatchRequest`), with their nested models beside them.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from designsvc.api.errors import PROBLEM_JSON, ProblemDetails
from designsvc.core.spec import JobSpec
from designsvc.services.batches import BatchRequest

__all__ = ["build_openapi", "install_openapi"]

_PROBLEM_REF = {"$ref": "#/components/schemas/ProblemDetails"}
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def _add_model(components: dict[str, Any], name: str, model: type[BaseModel]) -> None:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for def_name, definition in schema.pop("$defs", {}).items():
        existing = components.setdefault(def_name, definition)
        if existing != definition:
            raise RuntimeError(f"OpenAPI component {def_name!r} of {model.__name__} clashes with another schema")
    schema["title"] = name
    components[name] = schema


def _problem_content(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.setdefault("500", {"description": "Internal Server Error"})
    for code, response in responses.items():
        if not (code.isdigit() and int(code) >= 400):
            continue
        content = response.setdefault("content", {})
        content.pop("application/json", None)
        content[PROBLEM_JSON] = {"schema": dict(_PROBLEM_REF)}


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document (not cached)."""
    schema = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    components: dict[str, Any] = schema.setdefault("components", {}).setdefault("schemas", {})
    _add_model(components, "JobCreate", JobSpec)
    _add_model(components, "BatchCreate", BatchRequest)
    if "ProblemDetails" not in components:
        _add_model(components, "ProblemDetails", ProblemDetails)
    schema["components"]["securitySchemes"] = {
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "description": "an API key (`designsvc keys create`); needed in distributed mode and once a key "
            "exists, optional on an embedded server on loopback without keys",
        }
    }
    for path, path_item in schema.get("paths", {}).items():
        for operation in path_item.values():
            if isinstance(operation, dict) and "responses" in operation:
                _problem_content(operation)
                if path.startswith("/v1/"):
                    operation["security"] = [{"bearerAuth": []}, {}]
    if '"#/components/schemas/HTTPValidationError"' not in json.dumps(schema.get("paths", {})):
        # FastAPI's own 422 model was replaced above by ProblemDetails.
        for name in _FASTAPI_VALIDATION_SCHEMAS:
            components.pop(name, None)
    return schema


def install_openapi(app: FastAPI) -> None:
    """Serve :func:`build_openapi` at ``app.openapi_url`` (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
