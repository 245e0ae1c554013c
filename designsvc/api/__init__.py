"""The REST API (FastAPI): ``create_app()`` builds it; see DESIGN.md section 5."""

from __future__ import annotations

from designsvc.api.app import create_app

__all__ = ["create_app"]
