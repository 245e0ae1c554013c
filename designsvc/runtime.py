"""Settings and the composition root: which store and which executor a process uses.

Embedded (the default): a SQLite store under the data directory and a local process pool.
Distributed (``redis_url`` set): the Redis store and Celery workers on the same Redis as
broker. The API, the CLI and the workers build their store and executor here, so the two
modes differ in configuration only, never in code path.

Environment variables (each has a command-line flag where a command takes it):
``DESIGNSVC_DATA_DIR`` (data directory), ``DESIGNSVC_STORE_URL`` (overrides the store),
``DESIGNSVC_REDIS_URL`` (distributed mode), ``DESIGNSVC_WORKERS`` (local pool size),
``DESIGNSVC_MAX_BODY_BYTES`` (largest accepted request body).

Limits of the API (see :mod:`designsvc.services.policy` and :mod:`designsvc.services.limits`):
``DESIGNSVC_REQUIRE_KEYS`` (``1``/``0``; unset: keys are required in distributed mode, and in
embedded mode once any key exists), ``DESIGNSVC_RATE_LIMIT_PER_S`` and
``DESIGNSVC_RATE_LIMIT_BURST`` (requests per tenant; rate 0 turns the limit off),
``DESIGNSVC_MAX_UNFINISHED_JOBS`` (per tenant; 0: no cap), ``DESIGNSVC_MAX_TIME_LIMIT_S``,
``DESIGNSVC_MAX_INSTANCE_BYTES`` (a number, or a JSON object of problem kind -> bytes with
an optional ``"*"`` for the others), ``DESIGNSVC_RETENTION_S`` (finished jobs of the SQLite
store are deleted this long after they end; 0 keeps them; the Redis store has its URL's
``retention_s``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
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
    require_keys: bool | None = None
    rate_limit_per_s: float = 50.0
    rate_limit_burst: int = 100
    max_unfinished_jobs: int | None = 1000
    max_time_limit_s: float | None = 24 * 3600.0
    max_instance_bytes: int | None = 16 * 1024 * 1024
    max_instance_bytes_per_kind: Mapping[str, int] = field(default_factory=dict)
    retention_s: int | None = 30 * 24 * 3600

    @classmethod
    def from_env(cls) -> ServiceSettings:
        """Settings from the environment; ValueError naming the variable for a bad value."""
        env = os.environ

        def number(name: str, default: str, kind: type[int] | type[float] = int) -> float:
            text = env.get(name, default)
            try:
                return kind(text)
            except ValueError:
                raise ValueError(f"{name}={text!r} is not a{'n integer' if kind is int else ' number'}") from None

        workers = env.get("DESIGNSVC_WORKERS")
        require = env.get("DESIGNSVC_REQUIRE_KEYS", "").strip().lower()
        instance_text = env.get("DESIGNSVC_MAX_INSTANCE_BYTES", str(16 * 1024 * 1024)).strip()
        per_kind: dict[str, int] = {}
        if instance_text.startswith("{"):
            try:
                per_kind = {str(k): int(v) for k, v in json.loads(instance_text).items()}
            except (ValueError, TypeError, AttributeError):
                raise ValueError(
                    f"DESIGNSVC_MAX_INSTANCE_BYTES={instance_text!r} is not a JSON object of kind -> bytes"
                ) from None
            instance_max: int | None = per_kind.pop("*", None)
        else:
            instance_max = int(number("DESIGNSVC_MAX_INSTANCE_BYTES", instance_text)) or None
        unfinished = int(number("DESIGNSVC_MAX_UNFINISHED_JOBS", "1000"))
        time_max = number("DESIGNSVC_MAX_TIME_LIMIT_S", str(24 * 3600.0), float)
        retention = int(number("DESIGNSVC_RETENTION_S", str(30 * 24 * 3600)))
        return cls(
            data_dir=default_data_dir(),
            redis_url=env.get("DESIGNSVC_REDIS_URL") or None,
            store_url=env.get("DESIGNSVC_STORE_URL") or None,
            workers=int(workers) if workers else None,
            max_body_bytes=int(number("DESIGNSVC_MAX_BODY_BYTES", str(8 * 1024 * 1024))),
            require_keys=None if not require else require in {"1", "true", "yes", "on"},
            rate_limit_per_s=float(number("DESIGNSVC_RATE_LIMIT_PER_S", "50", float)),
            rate_limit_burst=int(number("DESIGNSVC_RATE_LIMIT_BURST", "100")),
            max_unfinished_jobs=unfinished or None,
            max_time_limit_s=time_max or None,
            max_instance_bytes=instance_max,
            max_instance_bytes_per_kind=per_kind,
            retention_s=retention or None,
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
