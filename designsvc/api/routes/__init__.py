"""The API's routers, one module per resource family."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.routing import APIRoute

from designsvc.api.routes import agent, batches, catalog, health, jobs, webhooks

__all__ = ["allowed_methods", "api_router"]

_ROUTERS = (jobs.router, batches.router, catalog.router, health.router, agent.router, webhooks.router)

api_router = APIRouter()
for _router in _ROUTERS:
    api_router.include_router(_router)


def allowed_methods(path: str) -> set[str]:
    """Every method the API's routes take at ``path`` (empty for an unknown path)."""
    methods: set[str] = set()
    for router in _ROUTERS:
        for route in router.routes:
            if isinstance(route, APIRoute) and route.path_regex.match(path):
                methods |= route.methods or set()
    return methods
