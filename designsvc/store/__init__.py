"""Job stores: SQLite (embedded default) and Redis (distributed), behind one interface.

``open_store(url)`` picks the implementation from the URL's scheme; each store's ``url``
opens the same store again (in another process, for example).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from designsvc.core.errors import StoreError
from designsvc.core.jobs import JobStore

__all__ = ["DEFAULT_SQLITE_NAME", "default_data_dir", "open_store"]

DEFAULT_SQLITE_NAME = "jobs.sqlite3"
"""The file name of the embedded store inside the data directory."""


def default_data_dir() -> Path:
    """``$DESIGNSVC_DATA_DIR``, else the user data directory of designsvc (platformdirs)."""
    configured = os.environ.get("DESIGNSVC_DATA_DIR")
    if configured:
        return Path(configured)
    import platformdirs

    return Path(platformdirs.user_data_dir("designsvc", appauthor=False))


def open_store(url: str) -> JobStore:
    """Open the job store at ``url``:

    - ``sqlite:///ABS/PATH``: a SQLite file (``?artifact_dir=DIR&inline_artifact_max_bytes=N``
      optional); ``sqlite://`` alone: ``jobs.sqlite3`` in :func:`default_data_dir`;
    - ``redis://[[user]:password@]host:port/db`` or ``rediss://...``: Redis (``?prefix=P&
      retention_s=S&artifact_dir=DIR&inline_artifact_max_bytes=N`` optional, ``retention_s=0``
      keeping finished jobs for ever; other parameters go to redis-py).

    StoreError for an unknown scheme, a malformed URL or a store that cannot be opened.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme == "sqlite":
        from designsvc.store.sqlite import SqliteJobStore

        return SqliteJobStore.from_url(url, default_path=default_data_dir() / DEFAULT_SQLITE_NAME)
    if scheme in {"redis", "rediss"}:
        from designsvc.store.redis import RedisJobStore

        return RedisJobStore.from_url(url)
    shown = url.split("://", 1)[0] + "://..." if "://" in url else url
    raise StoreError(f"unknown job store URL {shown!r}: use sqlite:///PATH, sqlite:// or redis://HOST:PORT/DB")
