"""``/v1/problems`` and ``/v1/solvers``: what this server can solve, and with what.

Listing problem kinds imports their modules (pyomo, pydantic); listing solvers loads the
solver classes and asks each backend for its version, which imports the backend: that is
the only route that does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from designsvc.api.errors import ApiError, problem_responses
from designsvc.api.schemas import (
    CapabilitiesPublic,
    ProblemKindPublic,
    ProblemKindsPublic,
    SolverPublic,
    SolversPublic,
)
from designsvc.api.security import ReadPrincipal
from designsvc.core.errors import DesignsvcError, RegistryError, UnknownNameError
from designsvc.core.plugins import PROBLEMS, SOLVERS, resolve_problem_id

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["catalog"])


def _schema_url(problem_id: str) -> str:
    return f"/v1/problems/{problem_id}/schema"


@router.get(
    "/problems",
    response_model=ProblemKindsPublic,
    responses=problem_responses(401, 403, 429),
    summary="List problem kinds",
)
def list_problems(principal: ReadPrincipal) -> ProblemKindsPublic:
    """Every registered problem kind with its title and builtin instances (usable as
    ``"instance_ref": "builtin:NAME"``); a kind that cannot be loaded says why."""
    items: list[ProblemKindPublic] = []
    for name in PROBLEMS.names():
        kind, _, version = name.partition("@")
        common: dict[str, Any] = {
            "id": name,
            "kind": kind,
            "version": int(version) if version.isdigit() else None,
            "schema_url": _schema_url(name),
        }
        try:
            cls = PROBLEMS.load(name)
            items.append(
                ProblemKindPublic(**common, title=cls.title, builtin_instances=sorted(cls.builtin_instances()))
            )
        except DesignsvcError as exc:
            items.append(ProblemKindPublic(**common, title="", builtin_instances=[], error=str(exc)))
    return ProblemKindsPublic(items=items)


@router.get(
    "/problems/{kind}/schema",
    response_class=JSONResponse,
    responses={
        200: {
            "description": "the JSON Schema of the kind's instance (the spec's `instance` member)",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        **problem_responses(401, 403, 404, 429, 500),
    },
    summary="Get a problem kind's instance schema",
)
def get_problem_schema(
    kind: Annotated[str, Path(description="kind@version, or a bare kind for its latest version")],
    principal: ReadPrincipal,
) -> JSONResponse:
    """The JSON Schema (draft 2020-12, from pydantic) of the instance of ``kind``
    (``assignment@1``, or ``assignment`` for its latest version)."""
    try:
        cls = PROBLEMS.load(resolve_problem_id(kind))
    except UnknownNameError as exc:
        raise ApiError(404, str(exc), slug="not-found", title="Not found") from exc
    except RegistryError as exc:
        raise ApiError(
            500, f"problem kind {kind!r} cannot be loaded", slug="plugin-error", title="Plug-in error"
        ) from exc
    return JSONResponse(cls.instance_schema.model_json_schema())


@router.get(
    "/solvers", response_model=SolversPublic, responses=problem_responses(401, 403, 429), summary="List solvers"
)
def list_solvers(principal: ReadPrincipal) -> SolversPublic:
    """Every registered solver: whether it can run here (and why not), its backend
    version, and its capabilities."""
    items: list[SolverPublic] = []
    for name in SOLVERS.names():
        try:
            cls = SOLVERS.load(name)
        except DesignsvcError as exc:
            items.append(SolverPublic(name=name, version=None, available=False, reason=str(exc), capabilities=None))
            continue
        availability = cls.availability()
        version: str | None = None
        reason = availability.reason or None
        if availability.available:
            try:
                version = cls.version()
            except Exception as exc:  # a broken backend install: report it, keep listing
                reason = f"cannot read the backend version: {exc}"
        items.append(
            SolverPublic(
                name=name,
                version=version,
                available=availability.available and version is not None,
                reason=reason,
                capabilities=CapabilitiesPublic(**cls.capabilities.to_json()),
            )
        )
    return SolversPublic(items=items)
