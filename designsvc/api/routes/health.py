"""``/healthz`` (the process answers) and ``/readyz`` (its store can be used); both also
answer ``HEAD`` (not listed in the OpenAPI document)."""

from __future__ import annotations

from fastapi import APIRouter

from designsvc.api.deps import StoreDep
from designsvc.api.errors import problem_responses
from designsvc.api.schemas import HealthPublic

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthPublic, summary="Liveness")
@router.head("/healthz", response_model=HealthPublic, include_in_schema=False)
def healthz() -> HealthPublic:
    """200 while the process serves requests; touches nothing else."""
    return HealthPublic(status="ok")


@router.get("/readyz", response_model=HealthPublic, responses=problem_responses(503), summary="Readiness")
@router.head("/readyz", response_model=HealthPublic, include_in_schema=False)
def readyz(store: StoreDep) -> HealthPublic:
    """200 when the job store answers; 503 problem+json when it does not."""
    store.ping()
    return HealthPublic(status="ready")
