"""Fixtures of the job store suite: every contract test runs against SQLite and Redis.

Redis is the server at 127.0.0.1:6379 (``DESIGNSVC_TEST_REDIS_HOST``/``_PORT`` move it),
database 13 only, flushed before and after each test; each store gets its own key prefix.
A Redis that does not answer makes the Redis tests fail, not skip: CI starts one. Redis
tests share one xdist group, so ``pytest -n N --dist loadgroup`` never runs two of them at
once against the same database.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from designsvc.core.jobs import JobStore
from designsvc.store.redis import RedisJobStore
from designsvc.store.sqlite import SqliteJobStore

REDIS_HOST = os.environ.get("DESIGNSVC_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("DESIGNSVC_TEST_REDIS_PORT", "6379"))
REDIS_DB = 13
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"

INLINE_MAX = 4096
"""Artifacts above this many bytes go to files in the test stores (kept small for speed)."""

REDIS_GROUP = pytest.mark.xdist_group("redis-db13")

StoreFactory = Callable[..., JobStore]


@pytest.fixture
def redis_db13() -> Iterator[redis.Redis]:
    """A client of database 13. Tests isolate themselves by a unique key prefix per store
    (tests run in parallel on xdist workers, so nobody flushes the database); the stores'
    fixtures delete their own keys afterwards."""
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB, socket_connect_timeout=5)
    assert client.connection_pool.connection_kwargs["db"] == REDIS_DB
    client.ping()  # raises when Redis is down: the test errors, it is not skipped
    yield client
    client.close()


def delete_prefix(client: redis.Redis, prefix: str) -> None:
    """Delete every key of one test store."""
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(params=[pytest.param("sqlite"), pytest.param("redis", marks=REDIS_GROUP)])
def store_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def make_store(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[StoreFactory]:
    """A factory of fresh, empty stores of ``store_kind`` (a new file or a new key prefix
    each call); keyword arguments go to the store's constructor."""
    opened: list[JobStore] = []
    counter = itertools.count()
    if store_kind == "redis":
        request.getfixturevalue("redis_db13")

    def make(**kwargs: Any) -> JobStore:
        n = next(counter)
        kwargs.setdefault("artifact_dir", tmp_path / f"artifacts-{n}")
        kwargs.setdefault("inline_artifact_max_bytes", INLINE_MAX)
        store: JobStore
        if store_kind == "sqlite":
            store = SqliteJobStore(tmp_path / f"jobs-{n}.sqlite3", **kwargs)
        else:
            kwargs.setdefault("prefix", f"test-{uuid.uuid4().hex[:12]}")
            store = RedisJobStore(REDIS_URL, **kwargs)
        opened.append(store)
        return store

    yield make
    for store in opened:
        if isinstance(store, RedisJobStore):
            delete_prefix(request.getfixturevalue("redis_db13"), store.prefix)
        store.close()


@pytest.fixture
def store(make_store: StoreFactory) -> JobStore:
    return make_store()
