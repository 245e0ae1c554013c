"""Settings and the composition root: which store and which executor a process uses.

Embedded (the default): a SQLite store under the data directory and a local process pool.
Distributed (``redis_url`` set): the Redis store and Celery workers on the same Redis as
broker. The API, the CLI and the workers build their store and executor here, so the two
modes differ in configuration only, never in code path.

Environment variables (each has a command-line flag where a command takes it):
``DESIGNSVC_DATA_DIR`` (data directory), ``DESIGNSVC_STORE_URL`` (overrides the store),
``DESIGNSVC_REDIS_URL`` (distributed mode), ``DESIGNSVC_WORKERS`` (local pool size),
``DESIGNSVC_MAX_BODY_BYTES`` (largest accepted request body).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from designsvc.core.jobs import Executor, JobStore
from designsvc.store import DEFAULT_SQLITE_NAME, default_data_dir

__all__ = ["ServiceSettings", "build_executor", "build_store"]


@dataclass(frozen=True)
class ServiceSettings:
    """``redis_url``: distributed mode when set; ``store_url``: overrides the store (e.g. a
    SQLite file elsewhere); ``workers``: local pool processes (None: one per CPU);
    ``max_body_bytes``: requests above it get 413."""

    data_dir: Path
    redis_url: str | None = None
    store_url: str | None = None
    workers: int | None = None
    max_body_bytes: int = 8 * 1024 * 1024

    @classmethod
    def from_env(cls) -> ServiceSettings:
        workers = os.environ.get("DESIGNSVC_WORKERS")
        return cls(
            data_dir=default_data_dir(),
            redis_url=os.environ.get("DESIGNSVC_REDIS_URL") or None,
            store_url=os.environ.get("DESIGNSVC_STORE_URL") or None,
            workers=int(workers) if workers else None,
            max_body_bytes=int(os.environ.get("DESIGNSVC_MAX_BODY_BYTES", str(8 * 1024 * 1024))),
        )

    def with_changes(self, **changes: object) -> ServiceSettings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def distributed(self) -> bool:
        return self.redis_url is not None

    @property
    def resolved_store_url(self) -> str:
        if self.store_url:
            return self.store_url
        if self.redis_url:
            return self.redis_url
        return f"sqlite://{(self.data_dir / DEFAULT_SQLITE_NAME).resolve()}"


def build_store(settings: ServiceSettings) -> JobStore:
    from designsvc.store import open_store  # the backends' clients load only when used

    if not settings.distributed and not settings.store_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return open_store(settings.resolved_store_url)


def build_executor(settings: ServiceSettings, store: JobStore) -> Executor:
    """The local process pool in embedded mode; the Celery client in distributed mode."""
    if settings.redis_url:
        from designsvc.executors.celery import CeleryExecutor

        return CeleryExecutor(settings.redis_url)
    from designsvc.executors.local import LocalExecutor

    return LocalExecutor(store, max_workers=settings.workers)
